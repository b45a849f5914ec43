//! The Unix implementation of [`super`], through `rustix`: POSIX shared-memory objects
//! (`shm_open`, `ftruncate`, `fstat`, `mmap`, `shm_unlink`), the effective uid, the pid,
//! whether a pid still exists (`kill(pid, 0)`), `CLOCK_MONOTONIC`, and (Linux only) the listing
//! of `/dev/shm`.
//!
//! NOTE: macOS differs from Linux in three ways handled here or above. Names are at most
//! [`MAX_NAME_BYTES`] = 31 bytes (`PSHMNAMLEN`; `segment.rs` spells names shorter there).
//! `fchmod` on a shared-memory descriptor fails (EINVAL), so the mode is only what `shm_open`
//! sets (0600 less the umask, never more). There is no `/dev/shm`, so [`list_segments`] is
//! `Unsupported` and the registry finds leftover rings through its freed slots instead
//! (`Registry::reap_left_slots`).

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

use super::{Access, SegmentStat, UserId};

/// An open shared-memory object: its file descriptor, closed once mapped.
pub type Object = OwnedFd;

/// Permission bits every segment is created with: read and write for the owner only (0600).
const SEGMENT_MODE: Mode = Mode::RUSR.union(Mode::WUSR);

/// Permission bits that must be clear on a segment we open: any access for group or others.
const FORBIDDEN_MODE_BITS: u32 = 0o077;

/// Longest segment name, in bytes with the leading `/`: Linux's `NAME_MAX`.
#[cfg(not(target_vendor = "apple"))]
pub const MAX_NAME_BYTES: usize = 255;

/// Longest segment name, in bytes with the leading `/`: macOS's `PSHMNAMLEN`.
#[cfg(target_vendor = "apple")]
pub const MAX_NAME_BYTES: usize = 31;

/// Whether a segment's name outlives every process that had it open (until unlinked, or until
/// reboot): yes for POSIX shared memory, so leftovers of crashed processes must be unlinked.
pub const NAMES_OUTLIVE_PROCESSES: bool = true;

/// What [`stat`] is called in error messages.
pub const STAT_OP: &str = "fstat";

/// How [`UserId`] is labelled in messages.
pub const USER_LABEL: &str = "uid";

/// Where Linux keeps POSIX shared-memory objects, for listing leftovers of crashed processes.
#[cfg(target_os = "linux")]
const SHM_DIR: &str = "/dev/shm";

/// Nanoseconds per second.
const NS_PER_S: u64 = 1_000_000_000;

fn to_io(errno: Errno) -> io::Error {
    io::Error::from_raw_os_error(errno.raw_os_error())
}

/// A shared mapping of a segment; unmapped on drop. The descriptor it was made from is closed
/// already: on Unix the mapping alone keeps the memory, and the name stays until unlinked.
#[derive(Debug)]
pub struct Mapping {
    /// Start of the mapping (page-aligned).
    ptr: NonNull<u8>,
    /// Length of the mapping in bytes: the object's size when it was mapped.
    len_bytes: usize,
}

impl Mapping {
    /// Start of the mapping.
    pub fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Length of the mapping in bytes.
    pub fn len_bytes(&self) -> usize {
        self.len_bytes
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len_bytes` are exactly the range `mmap` returned in `map`, unmapped
        // only here; whoever borrowed memory in it (the `Segment` owning this mapping) has let
        // go before the mapping is dropped.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast::<c_void>(), self.len_bytes) };
    }
}

/// Creates a new shared-memory object `name` (`O_CREAT | O_EXCL`, mode 0600) and sizes it.
/// Fails with `AlreadyExists` if the name is taken.
pub fn create(name: &str, size_bytes: u64) -> io::Result<Object> {
    let fd = shm::open(
        name,
        shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
        SEGMENT_MODE,
    )
    .map_err(to_io)?;
    if let Err(e) = set_mode(&fd).and_then(|()| rustix::fs::ftruncate(&fd, size_bytes)) {
        // Leave nothing half-made behind under this name.
        let _ = shm::unlink(name);
        return Err(to_io(e));
    }
    Ok(fd)
}

/// The umask may have taken bits off the mode: set exactly 0600 (never more).
#[cfg(not(target_vendor = "apple"))]
fn set_mode(fd: &OwnedFd) -> Result<(), Errno> {
    rustix::fs::fchmod(fd, SEGMENT_MODE)
}

/// macOS refuses `fchmod` on shared-memory descriptors (EINVAL): the mode stays what
/// `shm_open` set, 0600 less the umask, which can only take bits off (and an owner who took
/// away their own read or write bit cannot open the segment again: `EACCES`, not a leak).
#[cfg(target_vendor = "apple")]
fn set_mode(_fd: &OwnedFd) -> Result<(), Errno> {
    Ok(())
}

/// Opens an existing shared-memory object `name` for reading and writing.
pub fn open(name: &str) -> io::Result<Object> {
    shm::open(name, shm::OFlags::RDWR, Mode::empty()).map_err(to_io)
}

/// Removes the name `name`; processes that have it mapped keep their mapping.
pub fn unlink(name: &str) -> io::Result<()> {
    shm::unlink(name).map_err(to_io)
}

/// Owner, mode and size of an open segment (`fstat`).
pub fn stat(fd: &Object) -> io::Result<SegmentStat> {
    let st = rustix::fs::fstat(fd).map_err(to_io)?;
    // `st_mode` is u16 on macOS, u32 on Linux.
    #[allow(clippy::unnecessary_cast)]
    let mode = (st.st_mode as u32) & 0o7777;
    Ok(SegmentStat {
        owner: user(st.st_uid),
        access: if mode & FORBIDDEN_MODE_BITS == 0 {
            Access::Private
        } else {
            Access::GroupOrOther { mode }
        },
        size_bytes: Some(u64::try_from(st.st_size).unwrap_or(0)),
    })
}

/// Maps `len_bytes` of `fd` shared, readable and writable (`None`: its whole size, by
/// `fstat`). The descriptor is closed after; the mapping keeps the memory.
pub fn map(fd: Object, len_bytes: Option<usize>) -> io::Result<Mapping> {
    let len_bytes = match len_bytes {
        Some(len) => len,
        None => {
            let size = stat(&fd)?.size_bytes.unwrap_or(0);
            usize::try_from(size).map_err(|_| io::Error::other("segment larger than memory"))?
        }
    };
    // SAFETY: a null address lets the kernel choose a fresh range, so no existing mapping or
    // Rust object is replaced; the returned range is only ever used through the `Mapping`
    // that owns it, which unmaps it exactly once on drop.
    let ptr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len_bytes,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            &fd,
            0,
        )
    }
    .map_err(to_io)?;
    let ptr =
        NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
    Ok(Mapping { ptr, len_bytes })
}

fn user(uid: u32) -> UserId {
    UserId {
        text: uid.to_string(),
        number: uid,
    }
}

/// The effective user of this process: segments are per user.
pub fn current_user() -> UserId {
    user(rustix::process::geteuid().as_raw())
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

/// The system-wide monotonic clock (`CLOCK_MONOTONIC`) in nanoseconds. On Linux and macOS
/// every process reads the same clock, so heartbeats written by one process are comparable in
/// another. No syscall on Linux (vDSO) nor macOS (commpage), no allocation.
pub fn monotonic_ns() -> u64 {
    let ts = rustix::time::clock_gettime(ClockId::Monotonic);
    (ts.tv_sec as u64)
        .saturating_mul(NS_PER_S)
        .saturating_add(ts.tv_nsec as u64)
}

/// Names (with the leading `/`) of the shared-memory objects that start with `prefix` (which
/// also starts with `/`). Used to find ring segments left by crashed processes.
#[cfg(target_os = "linux")]
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

/// Other Unixes (macOS) have no file system of shared-memory objects to list: `Unsupported`.
/// The registry unlinks the rings of the entries it knows of instead (see
/// `Registry::reap_left_slots`).
#[cfg(not(target_os = "linux"))]
pub fn list_segments(_prefix: &str) -> io::Result<Vec<String>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "shared-memory objects cannot be listed on this system",
    ))
}
