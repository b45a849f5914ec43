//! What an instance in another process or binary tells the core about itself, as the bytes of
//! its ring's metadata area: role, group, name, bus channels, sample rate and plugin format.
//! The instance's agent writes it whenever a setting changes; the core's intake reads it into
//! the instance's stand-in. Bytes from another process are checked field by field: a value
//! that cannot be right makes the whole record unreadable, never a panic.
//!
//! | byte | field |
//! |-----:|-------|
//! | 0 | [`META_VERSION`] |
//! | 1 | role (`Role as u8`) |
//! | 2 | group index (below [`crate::NUM_GROUPS`]) |
//! | 3 | plugin format (`PluginFormat as u8`) |
//! | 4..8 | bus channels, u32 LE |
//! | 8..12 | sample rate in Hz, f32 bits LE |
//! | 12 | name length in bytes (at most [`MAX_NAME_BYTES`]) |
//! | 13.. | the name, UTF-8: the user's or the host's; empty for a generated one |

use crate::NUM_GROUPS;
use crate::instance::{InstanceShared, PluginFormat};
use crate::snapshot::Role;

/// Version of this record; a record of another version is not read.
pub const META_VERSION: u8 = 1;

/// Longest name sent, in bytes (cut at a character boundary). Fits the ring's metadata area
/// (`stemcheck_shm::ring::RING_META_MAX_BYTES`, 240) with the 13 bytes before it.
pub const MAX_NAME_BYTES: usize = 200;

/// Bytes before the name.
const FIXED_BYTES: usize = 13;

/// An instance's description, as sent and as read.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceMeta {
    /// Stem or master.
    pub role: Role,
    /// Group index (0 = "A").
    pub group: usize,
    /// The plugin format it runs in.
    pub format: PluginFormat,
    /// Channels of its bus as the host set it up (0: not told).
    pub bus_channels: u32,
    /// Its sample rate in Hz.
    pub sample_rate_hz: f32,
    /// The user's name or the host's track name; empty if neither (the core then numbers it).
    pub name: String,
}

impl InstanceMeta {
    /// The description of `shared` now, at `sample_rate_hz`. Locks (the names): not for the
    /// audio thread.
    pub fn of(shared: &InstanceShared, sample_rate_hz: f32) -> Self {
        Self {
            role: shared.role(),
            group: shared.group(),
            format: shared.format(),
            bus_channels: shared.bus_channels(),
            sample_rate_hz,
            name: if shared.has_generated_name() {
                String::new()
            } else {
                shared.name()
            },
        }
    }

    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut name_bytes = self.name.len().min(MAX_NAME_BYTES);
        while !self.name.is_char_boundary(name_bytes) {
            name_bytes -= 1;
        }
        let mut out = Vec::with_capacity(FIXED_BYTES + name_bytes);
        out.push(META_VERSION);
        out.push(self.role as u8);
        out.push(self.group.min(NUM_GROUPS - 1) as u8);
        out.push(self.format as u8);
        out.extend_from_slice(&self.bus_channels.to_le_bytes());
        out.extend_from_slice(&self.sample_rate_hz.to_bits().to_le_bytes());
        out.push(name_bytes as u8);
        out.extend_from_slice(&self.name.as_bytes()[..name_bytes]);
        out
    }

    /// Reads a record; `None` if any field cannot be right.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < FIXED_BYTES || bytes[0] != META_VERSION {
            return None;
        }
        let role = match bytes[1] {
            0 => Role::Stem,
            1 => Role::Master,
            _ => return None,
        };
        let group = usize::from(bytes[2]);
        if group >= NUM_GROUPS || bytes[3] > PluginFormat::Vst3 as u8 {
            return None;
        }
        let bus_channels = u32::from_le_bytes(bytes[4..8].try_into().ok()?);
        let sample_rate_hz = f32::from_bits(u32::from_le_bytes(bytes[8..12].try_into().ok()?));
        let name_len = usize::from(bytes[12]);
        if name_len > MAX_NAME_BYTES
            || bytes.len() != FIXED_BYTES + name_len
            || !sample_rate_hz.is_finite()
            || sample_rate_hz < 0.0
        {
            return None;
        }
        let name = std::str::from_utf8(&bytes[FIXED_BYTES..]).ok()?.to_owned();
        Some(Self {
            role,
            group,
            format: PluginFormat::from_u8(bytes[3]),
            bus_channels,
            sample_rate_hz,
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_a_bad_one_is_refused() {
        let meta = InstanceMeta {
            role: Role::Master,
            group: 3,
            format: PluginFormat::Vst3,
            bus_channels: 6,
            sample_rate_hz: 44_100.0,
            name: "Mix bus é".to_owned(),
        };
        let bytes = meta.encode();
        // 13 fixed bytes and 10 of name ("é" is two).
        assert_eq!(bytes.len(), 23);
        assert_eq!(InstanceMeta::decode(&bytes), Some(meta));
        for (at, value) in [(0, 9u8), (1, 2), (2, 8), (3, 3), (12, 11)] {
            let mut bad = bytes.clone();
            bad[at] = value;
            assert_eq!(InstanceMeta::decode(&bad), None, "byte {at} = {value}");
        }
        assert_eq!(InstanceMeta::decode(&bytes[..12]), None);
        let mut bad = bytes.clone();
        bad[8..12].copy_from_slice(&f32::NAN.to_bits().to_le_bytes());
        assert_eq!(InstanceMeta::decode(&bad), None);
    }

    #[test]
    fn a_long_name_is_cut_at_a_character_boundary() {
        let meta = InstanceMeta {
            role: Role::Stem,
            group: 0,
            format: PluginFormat::Clap,
            bus_channels: 2,
            sample_rate_hz: 48_000.0,
            // 199 ASCII bytes, then a two-byte character across the 200-byte limit.
            name: format!("{}é", "a".repeat(199)),
        };
        let read = InstanceMeta::decode(&meta.encode()).unwrap();
        assert_eq!(read.name, "a".repeat(199));
    }
}
