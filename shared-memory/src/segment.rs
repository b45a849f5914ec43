//! A named shared-memory segment: created (exclusive, private to this user) or opened, mapped
//! shared, validated, unmapped on drop; and the per-user names segments live under.
//!
//! Opening is where trust is decided. A segment is refused, with a typed error and before any
//! byte of it is read, when it belongs to another user, when anyone else has access to it
//! (group/other mode bits on Unix, the DACL on Windows), when it is smaller than a header, and
//! (by [`SegmentHeader::validate`]) when its header is wrong in any way or declares more than
//! is mapped.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::error::ShmError;
use crate::header::{HEADER_BYTES, NUM_PARAMS, SegmentHeader, SegmentKind, ValidHeader};
use crate::os;

/// Longest segment name accepted, in bytes with the leading `/`: 255 on Linux (`NAME_MAX`) and
/// Windows, 31 on macOS (`PSHMNAMLEN`).
pub const MAX_NAME_BYTES: usize = os::MAX_NAME_BYTES;

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

/// Prefix of every segment name where names may be long (Linux, Windows); the user and then
/// the namespace's tag follow.
pub const NAME_PREFIX: &str = "/stemcheck";

/// Prefix of every segment name where names are short (macOS); a hash of the user and the tag
/// follows.
pub const SHORT_NAME_PREFIX: &str = "/sc";

/// How segment names are spelled: the platform's limit on their length decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRules {
    /// Linux and Windows (255 bytes): `/stemcheck-<user>[-<tag>]` then `-registry`, `-board`,
    /// `-ring-<id as 16 hex digits>-<index in decimal>`. The user is the uid on Linux, the SID
    /// string on Windows. Readable, and what the Linux tests and tools expect.
    Long,
    /// macOS (31 bytes, `PSHMNAMLEN`): `/sc<8 hex digits>` then `-registry`, `-board`,
    /// `r<id as 16 hex digits><index as at least 2 hex digits>`. The 8 hex digits are a 32-bit
    /// FNV-1a hash of `<uid>[-<tag>]`. A ring's name, the longest, is 30 bytes for the indices
    /// an entry may have (the registry allows 64), one under the limit should it count the
    /// terminating NUL. Indices from 0x100 take more digits; past 0xfff the name is too long
    /// and refused as [`ShmError::InvalidName`].
    Short,
}

impl NameRules {
    /// The rules of the platform this crate is built for.
    pub const fn native() -> Self {
        if cfg!(target_vendor = "apple") {
            Self::Short
        } else {
            Self::Long
        }
    }
}

/// 32-bit FNV-1a of `bytes`: a short, stable name part for a user and tag under
/// [`NameRules::Short`]. Not a secret: a collision with another user's namespace is refused at
/// open ([`ShmError::ForeignOwner`]); with another tag of the same user (about one in four
/// billion per pair) the two namespaces share segments.
fn fnv1a_32(bytes: &[u8]) -> u32 {
    /// FNV-1a's 32-bit offset basis.
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    /// FNV-1a's 32-bit prime.
    const PRIME: u32 = 0x0100_0193;
    bytes.iter().fold(OFFSET_BASIS, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(PRIME)
    })
}

/// The names one group of processes uses: the real thing (per user), or an isolated group
/// (tests, several products side by side) named by a tag. See [`NameRules`] for the spelling.
///
/// - registry: `<prefix>-registry`
/// - snapshot board: `<prefix>-board`
/// - rings: `<prefix>-ring-<id as 16 hex digits>-<index>` (long names) or
///   `<prefix>r<id as 16 hex digits><index as 2 or more hex digits>` (short names)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// `/stemcheck-<user>[-<tag>]` (long names) or `/sc<hash>` (short names).
    prefix: String,
    /// How the names are spelled.
    rules: NameRules,
}

impl Namespace {
    /// The namespace of the current (effective) user.
    pub fn for_current_user() -> Self {
        Self::with_rules(NameRules::native(), &os::current_user().text, None)
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
        Ok(Self::with_rules(
            NameRules::native(),
            &os::current_user().text,
            Some(tag),
        ))
    }

    /// The namespace of `user` (as [`os::UserId::text`]) and `tag` under `rules`.
    fn with_rules(rules: NameRules, user: &str, tag: Option<&str>) -> Self {
        let who = match tag {
            Some(tag) => format!("{user}-{tag}"),
            None => user.to_owned(),
        };
        let prefix = match rules {
            NameRules::Long => format!("{NAME_PREFIX}-{who}"),
            NameRules::Short => format!("{SHORT_NAME_PREFIX}{:08x}", fnv1a_32(who.as_bytes())),
        };
        Self { prefix, rules }
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
        match self.rules {
            NameRules::Long => format!("{}-{id:016x}-{index}", self.ring_prefix()),
            NameRules::Short => format!("{}{id:016x}{index:02x}", self.ring_prefix()),
        }
    }

    /// What every ring name of this namespace starts with.
    pub fn ring_prefix(&self) -> String {
        match self.rules {
            NameRules::Long => format!("{}-ring", self.prefix),
            NameRules::Short => format!("{}r", self.prefix),
        }
    }

    /// Parses a ring name of this namespace back into `(id, index)`.
    pub fn parse_ring_name(&self, name: &str) -> Option<(u64, u32)> {
        let rest = name.strip_prefix(&self.ring_prefix())?;
        let (id, index) = match self.rules {
            NameRules::Long => {
                let (id, index) = rest.strip_prefix('-')?.split_once('-')?;
                (id, index.parse().ok()?)
            }
            NameRules::Short => {
                if rest.len() < 18 || !rest.is_char_boundary(16) {
                    return None;
                }
                let (id, index) = rest.split_at(16);
                (id, u32::from_str_radix(index, 16).ok()?)
            }
        };
        if id.len() != 16 {
            return None;
        }
        Some((u64::from_str_radix(id, 16).ok()?, index))
    }
}

fn check_name(name: &str) -> Result<(), ShmError> {
    let why = if !name.starts_with('/') {
        Some("must start with '/'")
    } else if name.len() < 2 || name.len() > MAX_NAME_BYTES {
        Some(if MAX_NAME_BYTES == 255 {
            "must be 2 to 255 bytes long"
        } else {
            "must be 2 to 31 bytes long (macOS)"
        })
    } else if name[1..].contains('/') || name.contains('\0') {
        Some("must not contain '/' after the first byte, nor NUL")
    } else if cfg!(windows) && name.contains('\\') {
        Some("must not contain '\\' (Windows object names)")
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

/// A mapped, validated segment. Unmapped on drop. On Unix the name stays until
/// [`Segment::unlink`]; on Windows it goes with the last handle, and every `Segment` holds one.
#[derive(Debug)]
pub struct Segment {
    /// The segment's name, with the leading `/`.
    name: String,
    /// The mapping (page-aligned), and on Windows the handle that keeps the name alive.
    mapping: os::Mapping,
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

/// Refuses a segment of `size_bytes` before its header is read: smaller than a header, or
/// larger than any layout needs.
fn check_size(name: &str, size_bytes: u64) -> Result<(), ShmError> {
    if size_bytes < HEADER_BYTES as u64 {
        return Err(ShmError::TooSmall {
            name: name.to_owned(),
            actual_bytes: size_bytes,
            needed_bytes: HEADER_BYTES as u64,
        });
    }
    if size_bytes > MAX_SEGMENT_BYTES {
        return Err(ShmError::BadParameter {
            name: name.to_owned(),
            what: "file size (more than any layout needs)",
            value: size_bytes,
        });
    }
    Ok(())
}

impl Segment {
    /// Creates a new segment `name` of `kind` with `params` (see [`SegmentHeader`]): exclusive
    /// (fails if the name exists), private to this user (mode 0600; on Windows a DACL for this
    /// user alone), zero-filled, header written last.
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
        let object = os::create(name, total).map_err(|e| ShmError::os("create", name, e))?;
        let mapping = match os::map(object, Some(len_bytes)) {
            Ok(mapping) => mapping,
            Err(e) => {
                let _ = os::unlink(name);
                return Err(ShmError::os("map", name, e));
            }
        };
        let mut segment = Self {
            name: name.to_owned(),
            mapping,
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
            .validate(name, kind, segment.len_bytes() as u64)
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
        let object = os::open(name).map_err(|e| ShmError::os("open", name, e))?;
        let stat = os::stat(&object).map_err(|e| ShmError::os(os::STAT_OP, name, e))?;
        let ours = os::current_user();
        if stat.owner != ours {
            return Err(ShmError::ForeignOwner {
                name: name.to_owned(),
                owner_uid: stat.owner.number,
                our_uid: ours.number,
                owner: stat.owner.to_string(),
                ours: ours.to_string(),
            });
        }
        match stat.access {
            os::Access::Private => {}
            os::Access::GroupOrOther { mode } => {
                return Err(ShmError::InsecureMode {
                    name: name.to_owned(),
                    mode,
                });
            }
            os::Access::OthersAllowed { who } => {
                return Err(ShmError::InsecureAcl {
                    name: name.to_owned(),
                    who,
                });
            }
        }
        // Where the size is known before mapping (Unix), a wrong one is refused unmapped.
        let len_bytes = match stat.size_bytes {
            Some(size_bytes) => {
                check_size(name, size_bytes)?;
                Some(
                    usize::try_from(size_bytes).map_err(|_| ShmError::BadParameter {
                        name: name.to_owned(),
                        what: "file size (does not fit in memory)",
                        value: size_bytes,
                    })?,
                )
            }
            None => None,
        };
        let mapping = os::map(object, len_bytes).map_err(|e| ShmError::os("map", name, e))?;
        // Windows: what the view covers (whole pages) is the size; on error the mapping is
        // dropped, which unmaps.
        check_size(name, mapping.len_bytes() as u64)?;
        let mut segment = Self {
            name: name.to_owned(),
            mapping,
            header: ValidHeader {
                kind,
                total_size_bytes: 0,
                params: [0; NUM_PARAMS],
            },
        };
        // On error `segment` is dropped here, which unmaps.
        segment.header = segment
            .header_ref()
            .validate(name, kind, segment.len_bytes() as u64)?;
        Ok(segment)
    }

    /// Removes the name `name`. Processes that have it mapped keep their mapping.
    ///
    /// On Windows there is nothing to remove: a file mapping's name goes when its last handle
    /// closes, which for a crashed process is when it dies. There this only says whether the
    /// name exists now (`Ok`) or not (`is_not_found()`), so that reports list what they would
    /// on Unix; the name stays while anyone has the segment open.
    pub fn unlink(name: &str) -> Result<(), ShmError> {
        check_name(name)?;
        os::unlink(name).map_err(|e| ShmError::os("unlink", name, e))
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The mapped length in bytes (on Windows, whole pages).
    pub fn len_bytes(&self) -> usize {
        self.mapping.len_bytes()
    }

    /// The validated header's values.
    pub fn header(&self) -> &ValidHeader {
        &self.header
    }

    fn header_ref(&self) -> &SegmentHeader {
        // SAFETY: the mapping is at least `HEADER_BYTES` long (checked by `create`'s size and
        // `open`'s `check_size`), page-aligned (more than `SegmentHeader`'s 8), lives as long as
        // `self`, and `SegmentHeader` is made of atomics only, valid for any bytes and for
        // concurrent access from other processes.
        unsafe { &*self.mapping.ptr().as_ptr().cast::<SegmentHeader>() }
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
        unsafe {
            &*self
                .mapping
                .ptr()
                .as_ptr()
                .add(offset_bytes)
                .cast::<AtomicU64>()
        }
    }

    /// The `AtomicU32` at byte `offset_bytes`; like [`Self::atomic_u64`].
    pub(crate) fn atomic_u32(&self, offset_bytes: usize) -> &AtomicU32 {
        assert!(
            offset_bytes.is_multiple_of(4)
                && offset_bytes + 4 <= self.header.total_size_bytes as usize,
            "atomic_u32 at {offset_bytes} outside the segment"
        );
        // SAFETY: as in `atomic_u64`, for 4 bytes.
        unsafe {
            &*self
                .mapping
                .ptr()
                .as_ptr()
                .add(offset_bytes)
                .cast::<AtomicU32>()
        }
    }

    /// Start of the mapping, for the ring's data area.
    pub(crate) fn base_ptr(&self) -> NonNull<u8> {
        self.mapping.ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::MAX_RINGS_PER_ENTRY;

    #[test]
    fn ring_names_round_trip_and_stay_in_their_namespace() {
        let ns = Namespace::with_tag("unit").unwrap();
        let name = ns.ring_name(0xdead_beef_0000_0001, 3);
        if NameRules::native() == NameRules::Long {
            assert!(name.ends_with("-unit-ring-deadbeef00000001-3"), "{name}");
        }
        assert!(name.starts_with(&ns.ring_prefix()), "{name}");
        assert_eq!(ns.parse_ring_name(&name), Some((0xdead_beef_0000_0001, 3)));
        assert!(check_name(&name).is_ok());
        let other = Namespace::for_current_user();
        assert_eq!(other.parse_ring_name(&name), None);
        assert!(Namespace::with_tag("a/b").is_err());
        assert!(Namespace::with_tag("").is_err());
    }

    #[test]
    fn long_names_spell_the_user_and_the_tag() {
        let ns = Namespace::with_rules(NameRules::Long, "1000", Some("unit"));
        assert_eq!(ns.registry_name(), "/stemcheck-1000-unit-registry");
        assert_eq!(ns.board_name(), "/stemcheck-1000-unit-board");
        assert_eq!(
            ns.ring_name(0xdead_beef_0000_0001, 3),
            "/stemcheck-1000-unit-ring-deadbeef00000001-3"
        );
        assert_eq!(
            Namespace::with_rules(NameRules::Long, "1000", None).registry_name(),
            "/stemcheck-1000-registry"
        );
        // Windows: a domain user's SID (the longest usual form) and the longest tag fit 255.
        let sid = "S-1-5-21-4294967295-4294967295-4294967295-4294967295";
        let ns = Namespace::with_rules(NameRules::Long, sid, Some(&"t".repeat(64)));
        let longest = ns.ring_name(u64::MAX, MAX_RINGS_PER_ENTRY - 1);
        assert!(longest.len() <= 255, "{} bytes: {longest}", longest.len());
        assert_eq!(
            ns.parse_ring_name(&longest),
            Some((u64::MAX, MAX_RINGS_PER_ENTRY - 1))
        );
    }

    /// macOS's `PSHMNAMLEN`: the longest name, with the leading `/`.
    const MACOS_MAX_NAME_BYTES: usize = 31;

    #[test]
    fn short_names_fit_macos_31_bytes_and_round_trip() {
        // The longest inputs: the largest uid, the longest tag, the largest id, and the
        // largest ring index that fits (255; the registry allows 64).
        let ns = Namespace::with_rules(NameRules::Short, "4294967295", Some(&"t".repeat(64)));
        let longest = ns.ring_name(u64::MAX, 255);
        assert_eq!(longest.len(), 30, "{longest}");
        for name in [&longest, &ns.registry_name(), &ns.board_name()] {
            assert!(name.len() <= MACOS_MAX_NAME_BYTES, "{name}");
            assert!(name.starts_with(SHORT_NAME_PREFIX) && !name[1..].contains('/'));
        }
        assert_eq!(ns.parse_ring_name(&longest), Some((u64::MAX, 255)));
        let name = ns.ring_name(0xdead_beef_0000_0001, 3);
        assert_eq!(ns.parse_ring_name(&name), Some((0xdead_beef_0000_0001, 3)));
        // Larger indices take more digits: 31 bytes up to 0xfff, then too long for macOS
        // (refused there by `check_name`).
        assert_eq!(
            ns.parse_ring_name(&ns.ring_name(7, 0xfff)),
            Some((7, 0xfff))
        );
        assert!(ns.ring_name(1, 0x1000).len() > MACOS_MAX_NAME_BYTES);
        // Every user and tag has its own prefix; names of one are not parsed by another.
        let ours = Namespace::with_rules(NameRules::Short, "501", Some("a"));
        let theirs = Namespace::with_rules(NameRules::Short, "502", Some("a"));
        let untagged = Namespace::with_rules(NameRules::Short, "501", None);
        assert_ne!(ours.registry_name(), theirs.registry_name());
        assert_ne!(ours.registry_name(), untagged.registry_name());
        assert_eq!(theirs.parse_ring_name(&ours.ring_name(1, 0)), None);
        assert_eq!(ours.parse_ring_name(&ours.registry_name()), None);
    }

    #[test]
    fn fnv1a_matches_its_reference_values() {
        // The published FNV-1a 32-bit test vectors.
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn bad_names_are_refused() {
        for name in ["noslash", "/", "/a/b", &format!("/{}", "x".repeat(300))] {
            assert!(
                matches!(check_name(name), Err(ShmError::InvalidName { .. })),
                "{name}"
            );
        }
        assert!(check_name("/sc00000000-registry").is_ok());
    }
}
