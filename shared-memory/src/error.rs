//! The crate's one error type: every way a segment can be refused, every way a ring or the
//! registry can be found corrupt, and the operating system's own failures.

use std::io;

use crate::header::SegmentKind;

/// What went wrong with a shared-memory segment, a ring or the registry.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    /// A system call failed.
    #[error("{op} of shared-memory segment {name} failed: {source}")]
    Os {
        /// What was being done (`create`, `open`, `map`, ...).
        op: &'static str,
        /// The segment's name.
        name: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A segment name that cannot be a POSIX shared-memory name.
    #[error("invalid segment name {name:?}: {why}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// The segment belongs to another user.
    #[error("segment {name} belongs to {owner}, not to this user ({ours}): refused")]
    ForeignOwner {
        /// The segment's name.
        name: String,
        /// Its owner: the uid on Unix; on Windows the last sub-authority of the owner's SID
        /// (its relative id), for messages only (the whole SIDs are compared, see `owner`).
        owner_uid: u32,
        /// Ours, as `owner_uid`.
        our_uid: u32,
        /// Its owner as the system spells it: `uid 65534`, or `SID S-1-5-21-...-1001`.
        owner: String,
        /// Ours, as `owner`.
        ours: String,
    },
    /// Unix: the segment can be read or written by group or others.
    #[error("segment {name} has mode {mode:04o}: group/other access is refused (must be 0600)")]
    InsecureMode {
        /// The segment's name.
        name: String,
        /// Its permission bits.
        mode: u32,
    },
    /// Windows: the segment's DACL lets someone other than its owner in (or it has no DACL,
    /// which lets everyone in). Segments this crate creates grant access to their creator only.
    #[error("segment {name} can be opened by {who}, not only by this user: refused")]
    InsecureAcl {
        /// The segment's name.
        name: String,
        /// Who else is let in: a SID string, or why the DACL is not understood.
        who: String,
    },
    /// The segment is smaller than the fixed layout or its header says.
    #[error("segment {name} is {actual_bytes} bytes, but needs at least {needed_bytes}")]
    TooSmall {
        /// The segment's name.
        name: String,
        /// Its size (mapped or on file).
        actual_bytes: u64,
        /// What the layout or the header needs.
        needed_bytes: u64,
    },
    /// The header does not start with our magic bytes: not a Stemcheck segment, or one whose
    /// creator has not finished writing it.
    #[error("segment {name} has no Stemcheck header (magic {found:#018x})")]
    BadMagic {
        /// The segment's name.
        name: String,
        /// The first eight bytes, as a little-endian u64.
        found: u64,
    },
    /// The segment was written by a build with another layout.
    #[error(
        "cannot join: other version: segment {name} has layout version {found}, this build reads version {expected}"
    )]
    OtherVersion {
        /// The segment's name.
        name: String,
        /// The version in the segment.
        found: u32,
        /// Ours.
        expected: u32,
    },
    /// The segment is of another kind than expected (a registry opened as a ring, or garbage).
    #[error("segment {name} is of kind {found}, expected {expected:?}")]
    WrongKind {
        /// The segment's name.
        name: String,
        /// The raw kind in the header.
        found: u32,
        /// What we wanted.
        expected: SegmentKind,
    },
    /// A layout parameter in the header is impossible.
    #[error("segment {name} has a bad layout parameter: {what} = {value}")]
    BadParameter {
        /// The segment's name.
        name: String,
        /// Which parameter, and what it must be.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// The ring's shared indices or a block header are impossible; the ring is marked broken
    /// and every later read fails.
    #[error(
        "ring {name} is corrupt: {what} (head {head}, tail {tail}, capacity {capacity_bytes} bytes)"
    )]
    CorruptRing {
        /// The segment's name.
        name: String,
        /// What was found wrong.
        what: String,
        /// The producer's index read, in bytes.
        head: u64,
        /// The consumer's index, in bytes.
        tail: u64,
        /// The ring's data capacity in bytes.
        capacity_bytes: u64,
    },
    /// The ring was marked broken by an earlier corrupt read.
    #[error("ring {name} was marked broken by an earlier corrupt read")]
    Broken {
        /// The segment's name.
        name: String,
    },
    /// A consumer of a newer term owns the ring (see `ring.rs`, "Fencing"): this consumer
    /// reads nothing more from it and never moves its tail.
    #[error(
        "ring {name} is read by a newer consumer (term {owner_term}); this one (term {term}) was fenced off"
    )]
    Fenced {
        /// The segment's name.
        name: String,
        /// The term that owns the ring now.
        owner_term: u32,
        /// Ours.
        term: u32,
    },
    /// The consumer's buffers have fewer channels than the block.
    #[error("block has {needed} channels, but only {given} output buffers were given")]
    DestinationTooSmall {
        /// Channels in the block.
        needed: usize,
        /// Buffers given.
        given: usize,
    },
    /// Every registry slot is taken by a live process.
    #[error("all {num_slots} registry slots are taken by live processes")]
    RegistryFull {
        /// Slots in the registry.
        num_slots: usize,
    },
}

impl ShmError {
    pub(crate) fn os(op: &'static str, name: &str, source: io::Error) -> Self {
        Self::Os {
            op,
            name: name.to_owned(),
            source,
        }
    }

    /// Whether this is the operating system saying the segment does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Os { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    /// Whether a consumer of a newer term owns the ring ([`Self::Fenced`]).
    pub fn is_fenced(&self) -> bool {
        matches!(self, Self::Fenced { .. })
    }

    /// Whether this is the operating system saying the name is already taken.
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Self::Os { source, .. } if source.kind() == io::ErrorKind::AlreadyExists)
    }
}
