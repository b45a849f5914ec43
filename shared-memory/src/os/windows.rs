//! The Windows implementation of [`super`], through `windows-sys`: named file mappings backed by
//! the paging file (`CreateFileMappingW(INVALID_HANDLE_VALUE, ...)`, `OpenFileMappingW`,
//! `MapViewOfFile`, `VirtualQuery`), the process token's user SID, the owner and DACL of a
//! mapping (`GetSecurityInfo`), whether a process is still running (`OpenProcess` +
//! `GetExitCodeProcess`), and `QueryPerformanceCounter`.
//!
//! How it differs from POSIX shared memory, and what stands in for what:
//!
//! - **Names.** A segment `/x` is the object `Local\x`: the session's namespace, and the name
//!   contains the user's SID (`segment.rs`), so every user has their own names. Processes of
//!   one user in other logon sessions (another desktop session, a service) do not share.
//! - **Permissions.** Created with a security descriptor whose owner is the user's SID and
//!   whose protected DACL has one entry, "allow everything to the user's SID": no inherited or
//!   default entries (no Administrators, no SYSTEM). On open, the owner must be the user's SID
//!   (else `ForeignOwner`), and the DACL must exist and hold no entry but access-denied ones and
//!   access-allowed ones for the user's SID (else `InsecureAcl`, naming who else is let in).
//!   Mandatory integrity labels (in the SACL) are not looked at.
//! - **Size.** A mapping's size is fixed at creation and cannot be learned before mapping, so
//!   the whole mapping is mapped first and the view's size (`VirtualQuery`, whole pages) is what
//!   the header must fit in (else `TooSmall`). No byte is read before that.
//! - **Lifetime.** There is no unlink: a mapping and its name go when the last handle to it is
//!   closed, so every [`Mapping`] keeps its handle open. A crashed process's handles close with
//!   it, so it leaves nothing behind to clean up, and [`list_segments`] is `Unsupported`.
//!   [`unlink`] only says whether the name exists.

use std::ffi::c_void;
use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::ptr::NonNull;
use std::sync::OnceLock;

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_INSUFFICIENT_BUFFER, GetLastError, HANDLE,
    INVALID_HANDLE_VALUE, LocalFree, STILL_ACTIVE, SetLastError,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo,
    SDDL_REVISION_1, SE_KERNEL_OBJECT,
};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, DACL_SECURITY_INFORMATION, EqualSid, GetAce, GetLengthSid,
    GetSidSubAuthority, GetSidSubAuthorityCount, GetTokenInformation, OWNER_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR, PSID, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, FILE_MAP_READ, FILE_MAP_WRITE, MEMORY_BASIC_INFORMATION,
    MEMORY_MAPPED_VIEW_ADDRESS, MapViewOfFile, OpenFileMappingW, PAGE_READWRITE, UnmapViewOfFile,
    VirtualQuery,
};
use windows_sys::Win32::System::Performance::{QueryPerformanceCounter, QueryPerformanceFrequency};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetCurrentProcessId, GetExitCodeProcess, OpenProcess, OpenProcessToken,
    PROCESS_QUERY_LIMITED_INFORMATION,
};

use super::{Access, SegmentStat, UserId};

/// An open file mapping: its handle, kept by the [`Mapping`] made from it.
pub type Object = OwnedHandle;

/// Longest segment name, in bytes with the leading `/` (Windows allows far longer object
/// names; this keeps names as on Linux).
pub const MAX_NAME_BYTES: usize = 255;

/// Whether a segment's name outlives every process that had it open: no, a file mapping goes
/// with its last handle, so there are no leftovers of crashed processes to find.
pub const NAMES_OUTLIVE_PROCESSES: bool = false;

/// What [`stat`] is called in error messages.
pub const STAT_OP: &str = "GetSecurityInfo";

/// How [`UserId`] is labelled in messages.
pub const USER_LABEL: &str = "SID";

/// The object namespace segment names are made in: this logon session's.
const OBJECT_NAMESPACE: &str = "Local\\";

/// `READ_CONTROL` (winnt.h): read an object's security descriptor. Its owner always has it.
const READ_CONTROL: u32 = 0x0002_0000;

/// `ACCESS_ALLOWED_ACE_TYPE` (winnt.h).
const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;

/// `ACCESS_DENIED_ACE_TYPE` (winnt.h).
const ACCESS_DENIED_ACE_TYPE: u8 = 1;

/// Nanoseconds per second.
const NS_PER_S: u128 = 1_000_000_000;

/// The last Win32 error, as an `io::Error` (so that `ERROR_FILE_NOT_FOUND` is `NotFound` and
/// `ERROR_ALREADY_EXISTS` is `AlreadyExists`).
fn last_error() -> io::Error {
    // SAFETY: reads this thread's last-error value; no memory is involved.
    io::Error::from_raw_os_error(unsafe { GetLastError() } as i32)
}

/// `/x` as the wide, NUL-terminated object name `Local\x`.
fn object_name(name: &str) -> Vec<u16> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    OBJECT_NAMESPACE
        .encode_utf16()
        .chain(bare.encode_utf16())
        .chain(std::iter::once(0))
        .collect()
}

/// Frees memory the system allocated for us with `LocalAlloc` on drop.
struct LocalMemory(*mut c_void);

impl Drop for LocalMemory {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from a call documented to allocate it with `LocalAlloc`
            // for the caller to free with `LocalFree`, and is freed only here.
            unsafe { LocalFree(self.0) };
        }
    }
}

/// The current user, looked up once: the SID's bytes (for `EqualSid` and the security
/// descriptor) and its [`UserId`].
struct CurrentUser {
    /// The SID, copied out of the token information (a `u64` buffer, for its alignment).
    sid: Vec<u64>,
    /// The SID as text and its relative id.
    id: UserId,
}

impl CurrentUser {
    fn sid(&self) -> PSID {
        self.sid.as_ptr().cast_mut().cast::<c_void>()
    }
}

/// The user of this process's token, looked up on first use.
fn current() -> io::Result<&'static CurrentUser> {
    static CURRENT: OnceLock<Result<CurrentUser, i32>> = OnceLock::new();
    CURRENT
        .get_or_init(|| look_up_current().map_err(|e| e.raw_os_error().unwrap_or(-1)))
        .as_ref()
        .map_err(|&code| io::Error::from_raw_os_error(code))
}

fn look_up_current() -> io::Result<CurrentUser> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: `GetCurrentProcess` is a pseudo-handle needing no closing; `token` is a valid
    // place for the handle, which we own from here on.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(last_error());
    }
    // SAFETY: `OpenProcessToken` succeeded, so `token` is an open handle nobody else owns.
    let token = unsafe { OwnedHandle::from_raw_handle(token) };
    let mut needed_bytes = 0u32;
    // SAFETY: a size query: a null buffer of length 0, and a valid place for the size.
    let ok = unsafe {
        GetTokenInformation(
            token.as_raw_handle(),
            TokenUser,
            std::ptr::null_mut(),
            0,
            &mut needed_bytes,
        )
    };
    // SAFETY: reads this thread's last-error value.
    if ok == 0 && unsafe { GetLastError() } != ERROR_INSUFFICIENT_BUFFER {
        return Err(last_error());
    }
    // u64s: TOKEN_USER holds a pointer and is 8-aligned.
    let mut buffer = vec![0u64; (needed_bytes as usize).div_ceil(8)];
    // SAFETY: `buffer` is writable for `needed_bytes` bytes (rounded up) and 8-aligned.
    if unsafe {
        GetTokenInformation(
            token.as_raw_handle(),
            TokenUser,
            buffer.as_mut_ptr().cast::<c_void>(),
            (buffer.len() * 8) as u32,
            &mut needed_bytes,
        )
    } == 0
    {
        return Err(last_error());
    }
    // SAFETY: the call filled `buffer` with a TOKEN_USER (at its start, aligned), whose SID
    // pointer points into `buffer` itself, alive until the end of this function.
    let sid_in_token = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    // SAFETY: a valid SID (from the token information above).
    let sid_bytes = unsafe { GetLengthSid(sid_in_token) } as usize;
    let mut sid = vec![0u64; sid_bytes.div_ceil(8)];
    // SAFETY: `sid` has room for `sid_bytes` bytes; the two buffers are distinct.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sid_in_token.cast::<u8>(),
            sid.as_mut_ptr().cast::<u8>(),
            sid_bytes,
        );
    }
    let id = user_of_sid(sid.as_ptr().cast_mut().cast::<c_void>())?;
    Ok(CurrentUser { sid, id })
}

/// The [`UserId`] of a valid SID: its string form and its last sub-authority.
fn user_of_sid(sid: PSID) -> io::Result<UserId> {
    let mut wide: *mut u16 = std::ptr::null_mut();
    // SAFETY: `sid` is a valid SID (every caller has it from the system); `wide` is a valid
    // place for the string's address, allocated by the call for us to `LocalFree`.
    if unsafe { ConvertSidToStringSidW(sid, &mut wide) } == 0 {
        return Err(last_error());
    }
    let _free = LocalMemory(wide.cast::<c_void>());
    // SAFETY: the call returned a NUL-terminated string, alive until `_free` drops.
    let text = unsafe {
        let len = (0..).take_while(|&i| *wide.add(i) != 0).count();
        String::from_utf16_lossy(std::slice::from_raw_parts(wide, len))
    };
    // SAFETY: `sid` is valid; the count and the sub-authority are read where the SID says
    // they are (the index is below the count).
    let number = unsafe {
        let count = *GetSidSubAuthorityCount(sid);
        if count == 0 {
            0
        } else {
            *GetSidSubAuthority(sid, u32::from(count) - 1)
        }
    };
    Ok(UserId { text, number })
}

/// A view of a file mapping, and the handle that keeps the mapping (and its name) alive; the
/// view is unmapped and the handle closed on drop.
#[derive(Debug)]
pub struct Mapping {
    /// Start of the view (aligned to the allocation granularity, 64 KiB).
    ptr: NonNull<u8>,
    /// Length of the view in bytes: what was asked for, or the whole view (whole pages).
    len_bytes: usize,
    /// The mapping's handle: while any process holds one, the mapping and its name exist.
    /// Dropped after the view is unmapped (fields drop after `Drop::drop`).
    _handle: OwnedHandle,
}

impl Mapping {
    /// Start of the view.
    pub fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Length of the view in bytes.
    pub fn len_bytes(&self) -> usize {
        self.len_bytes
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` is the base address `MapViewOfFile` returned in `map`, unmapped only
        // here; whoever borrowed memory in it (the `Segment` owning this mapping) has let go.
        unsafe {
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS {
                Value: self.ptr.as_ptr().cast::<c_void>(),
            })
        };
    }
}

/// Creates a new file mapping `name` of `size_bytes` (zero-filled), owned by and open to this
/// user only. Fails with `AlreadyExists` if the name is taken (whoever made it).
pub fn create(name: &str, size_bytes: u64) -> io::Result<Object> {
    let user = current()?;
    // Owner: the user (not the token's default owner, which is the Administrators group in an
    // elevated process). Protected DACL: one entry, everything for the user.
    let sddl: Vec<u16> = format!("O:{0}D:P(A;;GA;;;{0})", user.id.text)
        .encode_utf16()
        .chain(std::iter::once(0))
        .collect();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `sddl` is NUL-terminated; `descriptor` is a valid place for the address of the
    // descriptor, allocated by the call for us to `LocalFree`; the size is not wanted.
    if unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            std::ptr::null_mut(),
        )
    } == 0
    {
        return Err(last_error());
    }
    let _free = LocalMemory(descriptor);
    let attributes = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor,
        bInheritHandle: 0,
    };
    let wide = object_name(name);
    // SAFETY: a mapping backed by the paging file (INVALID_HANDLE_VALUE), with valid
    // attributes and a NUL-terminated name that outlive the call. The last error is cleared
    // first, so that "already exists" is read from this call alone.
    let (handle, error) = unsafe {
        SetLastError(0);
        let handle = CreateFileMappingW(
            INVALID_HANDLE_VALUE,
            &attributes,
            PAGE_READWRITE,
            (size_bytes >> 32) as u32,
            size_bytes as u32,
            wide.as_ptr(),
        );
        (handle, GetLastError())
    };
    if handle.is_null() {
        return Err(io::Error::from_raw_os_error(error as i32));
    }
    // SAFETY: a handle the call just opened for us.
    let handle = unsafe { OwnedHandle::from_raw_handle(handle) };
    if error == ERROR_ALREADY_EXISTS {
        // The name was taken: we got a handle to the existing mapping, not a new one. Close
        // it, so that creation is exclusive as with `O_EXCL`.
        return Err(io::Error::from_raw_os_error(ERROR_ALREADY_EXISTS as i32));
    }
    Ok(handle)
}

/// Opens the existing file mapping `name` for reading and writing (and reading its security
/// descriptor).
pub fn open(name: &str) -> io::Result<Object> {
    open_with(name, FILE_MAP_READ | FILE_MAP_WRITE | READ_CONTROL)
}

fn open_with(name: &str, access: u32) -> io::Result<Object> {
    let wide = object_name(name);
    // SAFETY: a NUL-terminated name that outlives the call; no handle inheritance.
    let handle = unsafe { OpenFileMappingW(access, 0, wide.as_ptr()) };
    if handle.is_null() {
        return Err(last_error());
    }
    // SAFETY: a handle the call just opened for us.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle) })
}

/// There is no unlink on Windows: the name goes with the mapping's last handle (a process's
/// handles close when it exits or crashes). `Ok` if the name exists now, the open's error
/// (`NotFound`) otherwise; nothing is changed either way.
pub fn unlink(name: &str) -> io::Result<()> {
    // READ_CONTROL: what its owner may always do, whatever the DACL says.
    open_with(name, READ_CONTROL).map(drop)
}

/// Owner and access of an open mapping, from its security descriptor. The size is not known
/// before mapping (`size_bytes: None`).
pub fn stat(handle: &Object) -> io::Result<SegmentStat> {
    let user = current()?;
    let mut owner: PSID = std::ptr::null_mut();
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: an open handle with READ_CONTROL; valid places for the owner, the DACL and the
    // descriptor they point into, which the call allocates for us to `LocalFree`.
    let error = unsafe {
        GetSecurityInfo(
            handle.as_raw_handle(),
            SE_KERNEL_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            &mut dacl,
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if error != 0 {
        return Err(io::Error::from_raw_os_error(error as i32));
    }
    let _free = LocalMemory(descriptor);
    if owner.is_null() {
        return Err(io::Error::other(
            "the mapping's security descriptor has no owner",
        ));
    }
    Ok(SegmentStat {
        owner: user_of_sid(owner)?,
        // SAFETY: `dacl` is null or points into `descriptor`, alive until `_free` drops.
        access: unsafe { dacl_access(dacl, user.sid()) }?,
        size_bytes: None,
    })
}

/// Whether the DACL `dacl` lets anyone but `user` in: it must exist, and hold only
/// access-denied entries and access-allowed entries for `user`.
///
/// # Safety
/// `dacl` is null or a valid ACL; `user` is a valid SID.
unsafe fn dacl_access(dacl: *const ACL, user: PSID) -> io::Result<Access> {
    if dacl.is_null() {
        return Ok(Access::OthersAllowed {
            who: "everyone (the mapping has no DACL)".to_owned(),
        });
    }
    // SAFETY: the caller passes a valid ACL.
    let num_aces = unsafe { (*dacl).AceCount };
    for index in 0..u32::from(num_aces) {
        let mut ace: *mut c_void = std::ptr::null_mut();
        // SAFETY: a valid ACL and an index below its count; `ace` is a valid place for the
        // entry's address (inside the ACL).
        if unsafe { GetAce(dacl, index, &mut ace) } == 0 {
            return Err(last_error());
        }
        // SAFETY: every entry starts with an ACE_HEADER.
        let ace_type = unsafe { (*ace.cast::<ACE_HEADER>()).AceType };
        match ace_type {
            ACCESS_DENIED_ACE_TYPE => {}
            ACCESS_ALLOWED_ACE_TYPE => {
                // SAFETY: an access-allowed entry is an ACCESS_ALLOWED_ACE whose SID starts at
                // `SidStart` (within the entry, as the system checked when it stored it).
                let sid =
                    unsafe { std::ptr::addr_of_mut!((*ace.cast::<ACCESS_ALLOWED_ACE>()).SidStart) }
                        .cast::<c_void>();
                // SAFETY: two valid SIDs.
                if unsafe { EqualSid(sid, user) } == 0 {
                    return Ok(Access::OthersAllowed {
                        who: user_of_sid(sid).map_or_else(
                            |_| "a SID that cannot be spelled".to_owned(),
                            |u| format!("{USER_LABEL} {}", u.text),
                        ),
                    });
                }
            }
            other => {
                return Ok(Access::OthersAllowed {
                    who: format!("an entry of type {other}, which is not checked here"),
                });
            }
        }
    }
    Ok(Access::Private)
}

/// Maps a view of `len_bytes` of the mapping (`None`: all of it), readable and writable. The
/// view's length is then what `VirtualQuery` says (whole pages) when none was given.
pub fn map(handle: Object, len_bytes: Option<usize>) -> io::Result<Mapping> {
    // SAFETY: an open mapping handle with map-read and map-write access; the system picks the
    // address, so no existing memory is replaced; the view is only used through the
    // `Mapping` that owns it, which unmaps it once on drop.
    let view = unsafe {
        MapViewOfFile(
            handle.as_raw_handle(),
            FILE_MAP_READ | FILE_MAP_WRITE,
            0,
            0,
            len_bytes.unwrap_or(0),
        )
    };
    let Some(ptr) = NonNull::new(view.Value.cast::<u8>()) else {
        return Err(last_error());
    };
    let mut mapping = Mapping {
        ptr,
        len_bytes: len_bytes.unwrap_or(0),
        _handle: handle,
    };
    if len_bytes.is_none() {
        // SAFETY: all-zero bytes are a valid MEMORY_BASIC_INFORMATION (integers and pointers).
        let mut info: MEMORY_BASIC_INFORMATION = unsafe { std::mem::zeroed() };
        // SAFETY: queries our own address space at the view's start; `info` is writable for
        // its size.
        let filled = unsafe {
            VirtualQuery(
                ptr.as_ptr().cast::<c_void>(),
                &mut info,
                std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
            )
        };
        if filled == 0 {
            // `mapping` unmaps on drop.
            return Err(last_error());
        }
        mapping.len_bytes = info.RegionSize;
    }
    Ok(mapping)
}

/// The user of this process's token. If it cannot be looked up (which does not happen short of
/// a broken system), a user no segment belongs to: every open is refused as `ForeignOwner`,
/// and every create fails with the lookup's error.
pub fn current_user() -> UserId {
    current().map_or_else(
        |_| UserId {
            text: "unknown".to_owned(),
            number: 0,
        },
        |user| user.id.clone(),
    )
}

/// This process's id.
pub fn current_pid() -> u32 {
    // SAFETY: no arguments, no memory.
    unsafe { GetCurrentProcessId() }
}

/// Whether a process with id `pid` is running: it can be opened (or exists but we may not
/// open it: access denied counts as alive, as `EPERM` does on Unix) and has not exited. An
/// exited process whose handles someone still holds (Windows' zombie) counts as dead. A
/// process that exited with code 259 (`STILL_ACTIVE`) reads as running: nothing tells them
/// apart; its heartbeat goes stale instead.
pub fn pid_alive(pid: u32) -> bool {
    // SAFETY: no memory; a null result is handled below.
    let raw = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if raw.is_null() {
        // ERROR_INVALID_PARAMETER: no such process.
        // SAFETY: reads this thread's last-error value.
        return unsafe { GetLastError() } == ERROR_ACCESS_DENIED;
    }
    // SAFETY: a handle the call just opened for us.
    let process = unsafe { OwnedHandle::from_raw_handle(raw) };
    let mut exit_code = 0u32;
    // SAFETY: an open process handle with query access; a valid place for the code.
    if unsafe { GetExitCodeProcess(process.as_raw_handle(), &mut exit_code) } == 0 {
        // It exists, but we cannot tell more: alive.
        return true;
    }
    exit_code == STILL_ACTIVE as u32
}

/// A system-wide monotonic clock in nanoseconds: `QueryPerformanceCounter`, the same counter
/// for every process since boot, so heartbeats written by one process are comparable in
/// another. Microsecond resolution or better (heartbeats need milliseconds; `GetTickCount64`'s
/// 10 to 16 ms would do for those, not for the ids the clock seeds). No allocation.
pub fn monotonic_ns() -> u64 {
    let mut ticks = 0i64;
    let mut ticks_per_s = 0i64;
    // SAFETY: valid places for the values; both calls cannot fail since Windows XP.
    unsafe {
        QueryPerformanceCounter(&mut ticks);
        QueryPerformanceFrequency(&mut ticks_per_s);
    }
    let ns = (ticks.max(0) as u128) * NS_PER_S / (ticks_per_s.max(1) as u128);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// File mappings cannot be listed (the object directory can be read only through native NT
/// calls), and there is nothing to look for: a crashed process's mappings went with its
/// handles. `Unsupported`, which the registry takes as "no leftovers".
pub fn list_segments(_prefix: &str) -> io::Result<Vec<String>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "file mappings are not listed on Windows (a crashed process leaves none)",
    ))
}
