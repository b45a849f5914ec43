//! Every operating-system call the crate makes, in one place, behind one interface that each
//! platform module implements with the same names:
//!
//! | item | Unix (Linux, macOS): `unix.rs`, rustix | Windows: `windows.rs`, windows-sys |
//! |---|---|---|
//! | [`Object`] | a POSIX shm file descriptor | a file-mapping handle |
//! | `create(name, size_bytes)` | `shm_open(O_CREAT \| O_EXCL)`, 0600, `ftruncate` | `CreateFileMappingW` under `Local\`, a DACL for this user only |
//! | `open(name)` | `shm_open(O_RDWR)` | `OpenFileMappingW` |
//! | `stat(&object)` | `fstat`: uid, mode, size | `GetSecurityInfo`: owner SID, DACL; no size before mapping |
//! | `map(object, len)` | `mmap` (the descriptor is closed after) | `MapViewOfFile` + `VirtualQuery` (the handle is kept) |
//! | `unlink(name)` | `shm_unlink` | nothing to remove: the name goes with the last handle |
//! | `current_user()` | effective uid | the process token's user SID |
//! | `current_pid()`, `pid_alive(pid)` | `getpid`, `kill(pid, 0)` | `GetCurrentProcessId`, `OpenProcess` + `GetExitCodeProcess` |
//! | `monotonic_ns()` | `CLOCK_MONOTONIC` | `QueryPerformanceCounter` |
//! | `list_segments(prefix)` | reads `/dev/shm` (Linux); `Unsupported` elsewhere | `Unsupported` |
//!
//! A [`Mapping`] owns what keeps the memory and (on Windows) the name alive; the segment keeps
//! it for as long as it is mapped and unmaps on drop.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

/// A user as the platform identifies it: what segment names contain and what the owner of a
/// segment we open must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserId {
    /// How the platform spells the user: the uid in decimal (Unix) or the SID as a string,
    /// `S-1-5-21-...` (Windows). Names contain it; two users are the same if it is.
    pub text: String,
    /// A number for the user: the uid (Unix) or the SID's last sub-authority, its relative id
    /// (Windows; only for messages, never compared).
    pub number: u32,
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", USER_LABEL, self.text)
    }
}

/// Who besides the owner may use a segment, as the platform says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Only the owner.
    Private,
    /// Unix: the permission bits (`st_mode & 0o7777`) give group or others some access.
    #[cfg_attr(windows, allow(dead_code))] // Made by the Unix module only.
    GroupOrOther {
        /// The permission bits.
        mode: u32,
    },
    /// Windows: the DACL lets someone other than the owner in (or there is no DACL at all).
    #[cfg_attr(unix, allow(dead_code))] // Made by the Windows module only.
    OthersAllowed {
        /// Who, or why (a SID string, "no DACL", "an ACE of type 5").
        who: String,
    },
}

/// What [`stat`] found about an open segment, before any byte of it is mapped.
#[derive(Debug, Clone)]
pub struct SegmentStat {
    /// The owning user.
    pub owner: UserId,
    /// Who else may use it.
    pub access: Access,
    /// The object's size in bytes, where the platform says it before mapping (Unix); `None`
    /// on Windows, where the mapped view's size is what is checked.
    pub size_bytes: Option<u64>,
}
