//! A named POSIX shared-memory segment: created (exclusive, mode 0600) or opened, mapped
//! shared, validated, unmapped on drop; and the per-user names segments live under.
//!
//! Opening is where trust is decided. A segment is refused, with a typed error and before any
//! byte of it is read, when it belongs to another user, when group or others have any access
//! to it, when it is smaller than a header, and (by [`SegmentHeader::validate`]) when its header
//! is wrong in any way or declares more than is mapped.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::error::ShmError;
use crate::header::{HEADER_BYTES, NUM_PARAMS, SegmentHeader, SegmentKind, ValidHeader};
use crate::os;

/// Longest segment name accepted, in bytes with the leading `/` (Linux's `NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;

/// Largest segment [`Segment::open`] maps: the largest ring (1 GiB of data and its fixed
/// part, [`crate::ring::RING_DATA_OFFSET`] bytes). A bigger file is refused before it is mapped.
pub const MAX_SEGMENT_BYTES: u64 =
    crate::ring::MAX_RING_CAPACITY_BYTES + crate::ring::RING_DATA_OFFSET as u64;

// The largest board fits too.
const _: () = assert!(
    crate::board::MAX_BOARD_SLOTS * crate::board::MAX_BOARD_SLOT_BYTES
        + crate::board::BOARD_SLOTS_OFFSET as u64
        <= MAX_SEGMENT_BYTES
);

// The largest registry fits too.
const _: () = assert!(
    crate::header::MAX_REGISTRY_SLOTS * crate::registry::SLOT_BYTES as u64
        + crate::registry::REGISTRY_SLOTS_OFFSET as u64
        <= MAX_SEGMENT_BYTES
);

/// Prefix of every segment name; the user id and then the namespace's tag follow.
pub const NAME_PREFIX: &str = "/stemcheck";

/// The names one group of processes uses: `/stemcheck-<uid>` for the real thing, or
/// `/stemcheck-<uid>-<tag>` for an isolated group (tests, several products side by side).
///
/// - registry: `<prefix>-registry`
/// - snapshot board: `<prefix>-board`
/// - rings: `<prefix>-ring-<id as 16 hex digits>-<index>`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// `/stemcheck-<uid>` or `/stemcheck-<uid>-<tag>`.
    prefix: String,
}

impl Namespace {
    /// The namespace of the current (effective) user.
    pub fn for_current_user() -> Self {
        Self {
            prefix: format!("{NAME_PREFIX}-{}", os::current_uid()),
        }
    }

    /// An isolated namespace of the current user. `tag` is 1 to 64 ASCII letters, digits or `_`.
    pub fn with_tag(tag: &str) -> Result<Self, ShmError> {
        if tag.is_empty()
            || tag.len() > 64
            || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(ShmError::InvalidName {
                name: tag.to_owned(),
                why: "a namespace tag is 1 to 64 ASCII letters, digits or underscores",
            });
        }
        Ok(Self {
            prefix: format!("{NAME_PREFIX}-{}-{tag}", os::current_uid()),
        })
    }

    /// The name of this namespace's registry segment.
    pub fn registry_name(&self) -> String {
        format!("{}-registry", self.prefix)
    }

    /// The name of this namespace's snapshot board ([`crate::board`]).
    pub fn board_name(&self) -> String {
        format!("{}-board", self.prefix)
    }

    /// The name of ring `index` of the process entry `id`.
    pub fn ring_name(&self, id: u64, index: u32) -> String {
        format!("{}-{id:016x}-{index}", self.ring_prefix())
    }

    /// What every ring name of this namespace starts with.
    pub fn ring_prefix(&self) -> String {
        format!("{}-ring", self.prefix)
    }

    /// Parses a ring name of this namespace back into `(id, index)`.
    pub fn parse_ring_name(&self, name: &str) -> Option<(u64, u32)> {
        let rest = name.strip_prefix(&self.ring_prefix())?.strip_prefix('-')?;
        let (id, index) = rest.split_once('-')?;
        if id.len() != 16 {
            return None;
        }
        Some((u64::from_str_radix(id, 16).ok()?, index.parse().ok()?))
    }
}

fn check_name(name: &str) -> Result<(), ShmError> {
    let why = if !name.starts_with('/') {
        Some("must start with '/'")
    } else if name.len() < 2 || name.len() > MAX_NAME_BYTES {
        Some("must be 2 to 255 bytes long")
    } else if name[1..].contains('/') || name.contains('\0') {
        Some("must not contain '/' after the first byte, nor NUL")
    } else {
        None
    };
    match why {
        Some(why) => Err(ShmError::InvalidName {
            name: name.to_owned(),
            why,
        }),
        None => Ok(()),
    }
}

/// A mapped, validated segment. Unmapped on drop (the name stays until [`Segment::unlink`]).
#[derive(Debug)]
pub struct Segment {
    /// The segment's name, with the leading `/`.
    name: String,
    /// Start of the mapping (page-aligned).
    ptr: NonNull<u8>,
    /// Length of the mapping in bytes; at least the header's total size.
    len_bytes: usize,
    /// The validated header.
    header: ValidHeader,
}

// SAFETY: a `Segment` is a mapping of shared memory, not tied to the thread that made it; all
// access to the memory goes through atomics or through the ring's single-producer /
// single-consumer protocol, whose halves are themselves `Send` but not `Sync`.
unsafe impl Send for Segment {}
// SAFETY: `&Segment` only hands out `&AtomicU64`/`&AtomicU32` references (safe to share) and a
// raw pointer whose every use is an `unsafe` block with its own justification.
unsafe impl Sync for Segment {}

impl Segment {
    /// Creates a new segment `name` of `kind` with `params` (see [`SegmentHeader`]): exclusive
    /// (fails if the name exists), mode 0600, zero-filled, header written last.
    pub fn create(
        name: &str,
        kind: SegmentKind,
        params: [u64; NUM_PARAMS],
    ) -> Result<Self, ShmError> {
        check_name(name)?;
        let total = SegmentHeader::total_size_for(kind, &params).ok_or(ShmError::BadParameter {
            name: name.to_owned(),
            what: "layout parameters (size overflows)",
            value: params[0],
        })?;
        let len_bytes = usize::try_from(total).map_err(|_| ShmError::BadParameter {
            name: name.to_owned(),
            what: "total size (does not fit in memory)",
            value: total,
        })?;
        let fd = os::create(name, total).map_err(|e| ShmError::os("create", name, e))?;
        let ptr = match os::map(&fd, len_bytes) {
            Ok(ptr) => ptr,
            Err(e) => {
                let _ = os::unlink(name);
                return Err(ShmError::os("map", name, e));
            }
        };
        let mut segment = Self {
            name: name.to_owned(),
            ptr,
            len_bytes,
            header: ValidHeader {
                kind,
                total_size_bytes: total,
                params,
            },
        };
        segment.header_ref().init(kind, total, params);
        // Validate what we wrote, so that a bad `params` fails here and not in the opener.
        match segment
            .header_ref()
            .validate(name, kind, segment.len_bytes as u64)
        {
            Ok(header) => segment.header = header,
            Err(e) => {
                let _ = os::unlink(name);
                return Err(e);
            }
        }
        Ok(segment)
    }

    /// Opens the existing segment `name`, which must be ours, private, and a valid `kind`.
    pub fn open(name: &str, kind: SegmentKind) -> Result<Self, ShmError> {
        check_name(name)?;
        let fd = os::open(name).map_err(|e| ShmError::os("open", name, e))?;
        let stat = os::stat(&fd).map_err(|e| ShmError::os("fstat", name, e))?;
        let our_uid = os::current_uid();
        if stat.uid != our_uid {
            return Err(ShmError::ForeignOwner {
                name: name.to_owned(),
                owner_uid: stat.uid,
                our_uid,
            });
        }
        if stat.mode & os::FORBIDDEN_MODE_BITS != 0 {
            return Err(ShmError::InsecureMode {
                name: name.to_owned(),
                mode: stat.mode,
            });
        }
        if stat.size_bytes < HEADER_BYTES as u64 {
            return Err(ShmError::TooSmall {
                name: name.to_owned(),
                actual_bytes: stat.size_bytes,
                needed_bytes: HEADER_BYTES as u64,
            });
        }
        if stat.size_bytes > MAX_SEGMENT_BYTES {
            return Err(ShmError::BadParameter {
                name: name.to_owned(),
                what: "file size (more than any layout needs)",
                value: stat.size_bytes,
            });
        }
        let len_bytes = usize::try_from(stat.size_bytes).map_err(|_| ShmError::BadParameter {
            name: name.to_owned(),
            what: "file size (does not fit in memory)",
            value: stat.size_bytes,
        })?;
        let ptr = os::map(&fd, len_bytes).map_err(|e| ShmError::os("map", name, e))?;
        let mut segment = Self {
            name: name.to_owned(),
            ptr,
            len_bytes,
            header: ValidHeader {
                kind,
                total_size_bytes: 0,
                params: [0; NUM_PARAMS],
            },
        };
        // On error `segment` is dropped here, which unmaps.
        segment.header = segment
            .header_ref()
            .validate(name, kind, len_bytes as u64)?;
        Ok(segment)
    }

    /// Removes the name `name`. Processes that have it mapped keep their mapping.
    pub fn unlink(name: &str) -> Result<(), ShmError> {
        check_name(name)?;
        os::unlink(name).map_err(|e| ShmError::os("unlink", name, e))
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The mapped length in bytes.
    pub fn len_bytes(&self) -> usize {
        self.len_bytes
    }

    /// The validated header's values.
    pub fn header(&self) -> &ValidHeader {
        &self.header
    }

    fn header_ref(&self) -> &SegmentHeader {
        // SAFETY: the mapping is at least `HEADER_BYTES` long (checked by `create`'s size and
        // `open`'s fstat), page-aligned (more than `SegmentHeader`'s 8), lives as long as
        // `self`, and `SegmentHeader` is made of atomics only, valid for any bytes and for
        // concurrent access from other processes.
        unsafe { &*self.ptr.as_ptr().cast::<SegmentHeader>() }
    }

    /// The `AtomicU64` at byte `offset_bytes`. Panics (a bug in this crate, not bad data) if
    /// it is misaligned or outside the validated size: offsets come from constants and from
    /// validated parameters.
    pub(crate) fn atomic_u64(&self, offset_bytes: usize) -> &AtomicU64 {
        assert!(
            offset_bytes.is_multiple_of(8)
                && offset_bytes + 8 <= self.header.total_size_bytes as usize,
            "atomic_u64 at {offset_bytes} outside the segment"
        );
        // SAFETY: in bounds and 8-aligned (checked above, the mapping is page-aligned); an
        // `AtomicU64` is valid for any bytes and may be shared with other processes; the
        // reference lives no longer than `self`, which keeps the mapping.
        unsafe { &*self.ptr.as_ptr().add(offset_bytes).cast::<AtomicU64>() }
    }

    /// The `AtomicU32` at byte `offset_bytes`; like [`Self::atomic_u64`].
    pub(crate) fn atomic_u32(&self, offset_bytes: usize) -> &AtomicU32 {
        assert!(
            offset_bytes.is_multiple_of(4)
                && offset_bytes + 4 <= self.header.total_size_bytes as usize,
            "atomic_u32 at {offset_bytes} outside the segment"
        );
        // SAFETY: as in `atomic_u64`, for 4 bytes.
        unsafe { &*self.ptr.as_ptr().add(offset_bytes).cast::<AtomicU32>() }
    }

    /// Start of the mapping, for the ring's data area.
    pub(crate) fn base_ptr(&self) -> NonNull<u8> {
        self.ptr
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len_bytes` are exactly the range `os::map` returned; every reference
        // into it borrows `self`, so none outlives this drop.
        unsafe { os::unmap(self.ptr, self.len_bytes) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_names_round_trip_and_stay_in_their_namespace() {
        let ns = Namespace::with_tag("unit").unwrap();
        let name = ns.ring_name(0xdead_beef_0000_0001, 3);
        assert!(name.ends_with("-unit-ring-deadbeef00000001-3"), "{name}");
        assert_eq!(ns.parse_ring_name(&name), Some((0xdead_beef_0000_0001, 3)));
        let other = Namespace::for_current_user();
        assert_eq!(other.parse_ring_name(&name), None);
        assert!(Namespace::with_tag("a/b").is_err());
        assert!(Namespace::with_tag("").is_err());
    }

    #[test]
    fn bad_names_are_refused() {
        for name in ["noslash", "/", "/a/b", &format!("/{}", "x".repeat(300))] {
            assert!(
                matches!(check_name(name), Err(ShmError::InvalidName { .. })),
                "{name}"
            );
        }
        assert!(check_name("/stemcheck-0-registry").is_ok());
    }
}
