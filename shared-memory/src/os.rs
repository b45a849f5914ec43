//! Every operating-system call the crate makes, in one place: POSIX shared-memory objects
//! (`shm_open`, `ftruncate`, `fstat`, `mmap`, `shm_unlink`), the caller's uid and pid, whether a
//! pid still exists (`kill(pid, 0)`), the system-wide monotonic clock, and the listing of
//! segment names. This is the Unix (Linux-first) implementation, through `rustix`; a macOS or
//! Windows port replaces this module and nothing else.
//!
//! NOTE: macOS has POSIX shared memory too, but no `/dev/shm` to list and a 31-byte name limit;
//! Windows would use named file mappings (`CreateFileMappingW`) with a security descriptor in
//! place of the mode check.

use std::ffi::c_void;
use std::io;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;

use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};
use rustix::process::Pid;
use rustix::shm;
use rustix::time::ClockId;

/// Permission bits every segment is created with: read and write for the owner only.
pub const SEGMENT_MODE: u32 = 0o600;

/// Permission bits that must be clear on a segment we open: any access for group or others.
pub const FORBIDDEN_MODE_BITS: u32 = 0o077;

/// Where Linux keeps POSIX shared-memory objects, for listing leftovers of crashed processes.
const SHM_DIR: &str = "/dev/shm";

/// Nanoseconds per second.
const NS_PER_S: u64 = 1_000_000_000;

/// Owner and size of an open segment, from `fstat`.
#[derive(Debug, Clone, Copy)]
pub struct SegmentStat {
    /// The owning user id.
    pub uid: u32,
    /// The permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// The object's size in bytes.
    pub size_bytes: u64,
}

fn to_io(errno: Errno) -> io::Error {
    io::Error::from_raw_os_error(errno.raw_os_error())
}

/// Creates a new shared-memory object `name` (`O_CREAT | O_EXCL`, mode 0600) and sizes it.
/// Fails with `AlreadyExists` if the name is taken.
pub fn create(name: &str, size_bytes: u64) -> io::Result<OwnedFd> {
    let fd = shm::open(
        name,
        shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
        Mode::from_raw_mode(SEGMENT_MODE),
    )
    .map_err(to_io)?;
    // The umask may have taken bits off the mode: set exactly 0600 (never more).
    let sized = rustix::fs::fchmod(&fd, Mode::from_raw_mode(SEGMENT_MODE))
        .and_then(|()| rustix::fs::ftruncate(&fd, size_bytes));
    if let Err(e) = sized {
        // Leave nothing half-made behind under this name.
        let _ = shm::unlink(name);
        return Err(to_io(e));
    }
    Ok(fd)
}

/// Opens an existing shared-memory object `name` for reading and writing.
pub fn open(name: &str) -> io::Result<OwnedFd> {
    shm::open(name, shm::OFlags::RDWR, Mode::empty()).map_err(to_io)
}

/// Removes the name `name`; processes that have it mapped keep their mapping.
pub fn unlink(name: &str) -> io::Result<()> {
    shm::unlink(name).map_err(to_io)
}

/// Owner, mode and size of an open segment.
pub fn stat(fd: &OwnedFd) -> io::Result<SegmentStat> {
    let st = rustix::fs::fstat(fd).map_err(to_io)?;
    Ok(SegmentStat {
        uid: st.st_uid,
        mode: st.st_mode & 0o7777,
        size_bytes: u64::try_from(st.st_size).unwrap_or(0),
    })
}

/// Maps `len_bytes` of `fd` shared, readable and writable.
pub fn map(fd: &OwnedFd, len_bytes: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: a null address lets the kernel choose a fresh range, so no existing mapping or
    // Rust object is replaced; the returned range is only ever used through the `Segment` that
    // owns it, which unmaps it exactly once on drop.
    let ptr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len_bytes,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            fd,
            0,
        )
    }
    .map_err(to_io)?;
    NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))
}

/// Unmaps a range returned by [`map`].
///
/// # Safety
/// `ptr` and `len_bytes` must be exactly a range returned by [`map`] that is not used again.
pub unsafe fn unmap(ptr: NonNull<u8>, len_bytes: usize) {
    // SAFETY: the caller passes a range from `map` that nothing uses any more.
    let _ = unsafe { rustix::mm::munmap(ptr.as_ptr().cast::<c_void>(), len_bytes) };
}

/// The effective user id of this process: segments are per user.
pub fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// This process's id.
pub fn current_pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// Whether a process with id `pid` exists (`kill(pid, 0)`): `EPERM` means it exists but
/// belongs to someone else, which still counts as alive. A zombie (exited, not yet waited for)
/// counts as alive too; its heartbeat goes stale instead.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    let Some(pid) = Pid::from_raw(raw) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e != Errno::SRCH,
    }
}

/// The system-wide monotonic clock (`CLOCK_MONOTONIC`) in nanoseconds. On Linux every process
/// reads the same clock, so heartbeats written by one process are comparable in another.
/// No syscall on Linux (vDSO), no allocation.
pub fn monotonic_ns() -> u64 {
    let ts = rustix::time::clock_gettime(ClockId::Monotonic);
    (ts.tv_sec as u64)
        .saturating_mul(NS_PER_S)
        .saturating_add(ts.tv_nsec as u64)
}

/// Names (with the leading `/`) of the shared-memory objects that start with `prefix` (which
/// also starts with `/`). Used to find ring segments left by crashed processes.
pub fn list_segments(prefix: &str) -> io::Result<Vec<String>> {
    let bare = prefix.trim_start_matches('/');
    let mut names = Vec::new();
    for entry in std::fs::read_dir(SHM_DIR)? {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str()
            && name.starts_with(bare)
        {
            names.push(format!("/{name}"));
        }
    }
    Ok(names)
}
