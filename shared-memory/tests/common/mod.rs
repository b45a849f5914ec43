//! Helpers shared by the integration tests: unique namespaces that clean up after themselves,
//! seeded signals, raw access to a segment's bytes (to corrupt it: through `/dev/shm` on Linux,
//! through a mapping of its own on Windows), and block infos.

#![allow(dead_code)]

#[cfg(unix)]
use std::fs::OpenOptions;
#[cfg(unix)]
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU32, Ordering};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stemcheck_bus::{BlockInfo, PositionSource};
use stemcheck_shm::Namespace;

/// Where Linux keeps POSIX shared-memory objects.
#[cfg(unix)]
pub const SHM_DIR: &str = "/dev/shm";

/// A namespace unique to this process and call, whose segments are all unlinked on drop.
pub struct TestNamespace {
    /// The namespace.
    pub ns: Namespace,
    /// Its tag.
    pub tag: String,
}

impl TestNamespace {
    /// A fresh namespace named after `what`, this process and a counter.
    pub fn new(what: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag = format!("t{}_{n}_{what}", std::process::id());
        Self::from_tag(&tag)
    }

    /// The namespace of `tag` (a helper process joins its parent's).
    pub fn from_tag(tag: &str) -> Self {
        Self {
            ns: Namespace::with_tag(tag).unwrap(),
            tag: tag.to_owned(),
        }
    }

    /// Names (with `/`) of the segments of this namespace that exist now.
    #[cfg(unix)]
    pub fn existing(&self) -> Vec<String> {
        let prefix = self.ns.registry_name();
        let prefix = prefix.trim_end_matches("-registry").trim_start_matches('/');
        let mut names: Vec<String> = std::fs::read_dir(SHM_DIR)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(prefix) && n[prefix.len()..].starts_with('-'))
            .map(|n| format!("/{n}"))
            .collect();
        names.sort();
        names
    }

    /// A segment name of this namespace for a test's own use.
    pub fn name(&self, what: &str) -> String {
        format!(
            "{}-{what}",
            self.ns.registry_name().trim_end_matches("-registry")
        )
    }
}

/// On Windows a test's segments go with its handles: nothing to clean up.
#[cfg(unix)]
impl Drop for TestNamespace {
    fn drop(&mut self) {
        for name in self.existing() {
            let _ = std::fs::remove_file(format!("{SHM_DIR}{name}"));
        }
    }
}

/// Overwrites bytes of segment `name` at `offset` through the file system.
#[cfg(unix)]
pub fn poke(name: &str, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new()
        .write(true)
        .open(format!("{SHM_DIR}{name}"))
        .unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

/// Reads `len` bytes of segment `name` at `offset`.
#[cfg(unix)]
pub fn peek(name: &str, offset: u64, len: usize) -> Vec<u8> {
    let file = OpenOptions::new()
        .read(true)
        .open(format!("{SHM_DIR}{name}"))
        .unwrap();
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset).unwrap();
    buf
}

/// Sets segment `name`'s size in bytes (Unix: a Windows mapping's size is fixed).
#[cfg(unix)]
pub fn truncate(name: &str, len_bytes: u64) {
    let file = OpenOptions::new()
        .write(true)
        .open(format!("{SHM_DIR}{name}"))
        .unwrap();
    file.set_len(len_bytes).unwrap();
}

#[cfg(windows)]
#[allow(unused_imports)] // Not every test file uses every helper.
pub use windows_raw::*;

/// Raw access to segments on Windows, through mappings of the tests' own.
#[cfg(windows)]
mod windows_raw {
    use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

    use windows_sys::Win32::Foundation::{
        ERROR_ALREADY_EXISTS, GetLastError, INVALID_HANDLE_VALUE, LocalFree,
    };
    use windows_sys::Win32::Security::Authorization::{
        ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
    };
    use windows_sys::Win32::Security::{PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES};
    use windows_sys::Win32::System::Memory::{
        CreateFileMappingW, FILE_MAP_READ, FILE_MAP_WRITE, MapViewOfFile, OpenFileMappingW,
        PAGE_READWRITE, UnmapViewOfFile,
    };

    /// `/x` as the wide object name `Local\x`, as the crate spells it.
    fn object_name(name: &str) -> Vec<u16> {
        format!("Local\\{}", name.trim_start_matches('/'))
            .encode_utf16()
            .chain(std::iter::once(0))
            .collect()
    }

    /// Runs `f` on a view of `len` bytes at `offset` of the existing mapping `name`.
    fn with_view<T>(name: &str, offset: u64, len: usize, f: impl FnOnce(*mut u8) -> T) -> T {
        let wide = object_name(name);
        // SAFETY: a NUL-terminated name; the handle is owned below.
        let raw = unsafe { OpenFileMappingW(FILE_MAP_READ | FILE_MAP_WRITE, 0, wide.as_ptr()) };
        assert!(
            !raw.is_null(),
            "open {name}: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: just opened for us.
        let handle = unsafe { OwnedHandle::from_raw_handle(raw) };
        let end = offset as usize + len;
        // SAFETY: maps the first `end` bytes (the tests stay inside the segment).
        let view = unsafe {
            MapViewOfFile(
                handle.as_raw_handle(),
                FILE_MAP_READ | FILE_MAP_WRITE,
                0,
                0,
                end,
            )
        };
        assert!(
            !view.Value.is_null(),
            "map {name}: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: the view is `end` bytes long.
        let result = f(unsafe { view.Value.cast::<u8>().add(offset as usize) });
        // SAFETY: the view mapped above, not used after.
        unsafe { UnmapViewOfFile(view) };
        result
    }

    /// Overwrites bytes of segment `name` at `offset` through a mapping of its own.
    pub fn poke(name: &str, offset: u64, bytes: &[u8]) {
        // SAFETY: `at` has room for `bytes` (see `with_view`).
        with_view(name, offset, bytes.len(), |at| unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), at, bytes.len())
        });
    }

    /// Reads `len` bytes of segment `name` at `offset`.
    pub fn peek(name: &str, offset: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        // SAFETY: `at` has `len` bytes (see `with_view`).
        with_view(name, offset, len, |at| unsafe {
            std::ptr::copy_nonoverlapping(at, buf.as_mut_ptr(), len)
        });
        buf
    }

    /// Creates mapping `name` of `size_bytes` with the security descriptor `sddl` (SDDL, as
    /// `ConvertStringSecurityDescriptorToSecurityDescriptorW` reads it): for segments made
    /// otherwise than the crate makes them. The mapping lives as long as the handle.
    pub fn create_raw(name: &str, size_bytes: u32, sddl: &str) -> std::io::Result<OwnedHandle> {
        let sddl: Vec<u16> = sddl.encode_utf16().chain(std::iter::once(0)).collect();
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: a NUL-terminated string and a place for the descriptor, freed below.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(std::io::Error::last_os_error());
        }
        let attributes = SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: descriptor,
            bInheritHandle: 0,
        };
        let wide = object_name(name);
        // SAFETY: valid attributes and name for the call; the descriptor is freed after.
        let (raw, error) = unsafe {
            let raw = CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                &attributes,
                PAGE_READWRITE,
                0,
                size_bytes,
                wide.as_ptr(),
            );
            let error = GetLastError();
            LocalFree(descriptor);
            (raw, error)
        };
        if raw.is_null() {
            return Err(std::io::Error::from_raw_os_error(error as i32));
        }
        // SAFETY: just opened for us.
        let handle = unsafe { OwnedHandle::from_raw_handle(raw) };
        if error == ERROR_ALREADY_EXISTS {
            return Err(std::io::Error::from_raw_os_error(error as i32));
        }
        Ok(handle)
    }

    /// The SDDL the crate creates segments with: owner and only user this user.
    pub fn private_sddl() -> String {
        let sid = stemcheck_shm::current_user();
        format!("O:{sid}D:P(A;;GA;;;{sid})")
    }
}

/// Block info at `pos_samples`, 48 kHz, playing.
pub fn info(pos_samples: i64) -> BlockInfo {
    BlockInfo {
        pos_samples,
        source: PositionSource::HostTransport,
        playing: true,
        sample_rate_hz: 48_000.0,
    }
}

/// `frames` samples of channel `channel` of seeded signal `seed`, starting at frame `start`:
/// arbitrary bit patterns (NaNs, subnormals and infinities included), a function of the
/// position only, so that any block split reproduces the same stream.
pub fn signal(seed: u64, channel: usize, start: u64, frames: usize) -> Vec<f32> {
    (0..frames as u64)
        .map(|i| {
            let x = (start + i)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(seed.wrapping_mul(0xD1B5_4A32_D192_ED03))
                .wrapping_add((channel as u64).wrapping_mul(0x94D0_49BB_1331_11EB));
            let x = (x ^ (x >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            f32::from_bits((x ^ (x >> 29)) as u32)
        })
        .collect()
}

/// Bit patterns of samples, to compare NaNs exactly.
pub fn bits(samples: &[f32]) -> Vec<u32> {
    samples.iter().map(|x| x.to_bits()).collect()
}

/// A seeded block-size generator: 1 to `max` frames.
pub struct BlockSizes(SmallRng, usize);

impl BlockSizes {
    /// Sizes from seed `seed`, 1 to `max` frames.
    pub fn new(seed: u64, max: usize) -> Self {
        Self(SmallRng::seed_from_u64(seed), max)
    }

    /// The next size.
    pub fn next_size(&mut self) -> usize {
        self.0.gen_range(1..=self.1)
    }
}
