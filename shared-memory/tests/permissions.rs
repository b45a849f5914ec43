//! Segments that others could read or write, or that belong to another user, are refused on
//! open (we run as root in CI, so the owner check is the only thing between us and a segment
//! planted by someone else).

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{SHM_DIR, TestNamespace};
use stemcheck_shm::{Registry, RingConsumer, RingProducer, ShmError};

/// The user id `nobody` has on Debian.
const OTHER_UID: u32 = 65534;

fn mode_of(name: &str) -> u32 {
    std::fs::metadata(format!("{SHM_DIR}{name}"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn segments_are_created_0600_and_group_or_other_access_is_refused() {
    let t = TestNamespace::new("mode");
    let name = t.name("ring");
    let _tx = RingProducer::create(&name, 4096).unwrap();
    assert_eq!(mode_of(&name), 0o600);
    assert!(RingConsumer::open(&name).is_ok());
    for mode in [0o644, 0o640, 0o606, 0o601, 0o660] {
        std::fs::set_permissions(
            format!("{SHM_DIR}{name}"),
            std::fs::Permissions::from_mode(mode),
        )
        .unwrap();
        let err = RingConsumer::open(&name).unwrap_err();
        assert!(
            matches!(err, ShmError::InsecureMode { mode: m, .. } if m == mode),
            "mode {mode:o}: {err}"
        );
    }
    // The registry is checked the same way.
    let registry_name = Registry::open_or_create(&t.ns).unwrap().name().to_owned();
    assert_eq!(mode_of(&registry_name), 0o600);
    std::fs::set_permissions(
        format!("{SHM_DIR}{registry_name}"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    assert!(matches!(
        Registry::open_or_create(&t.ns),
        Err(ShmError::InsecureMode { mode: 0o644, .. })
    ));
}

#[test]
fn a_segment_of_another_user_is_refused() {
    let t = TestNamespace::new("owner");
    let name = t.name("ring");
    let _tx = RingProducer::create(&name, 4096).unwrap();
    let path = format!("{SHM_DIR}{name}");
    match std::os::unix::fs::chown(&path, Some(OTHER_UID), None) {
        Ok(()) => {}
        // Not root: we cannot give a file away, so this case cannot be built here.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("skipped: chown needs root ({e})");
            return;
        }
        Err(e) => panic!("chown: {e}"),
    }
    let err = RingConsumer::open(&name).unwrap_err();
    assert!(
        matches!(
            err,
            ShmError::ForeignOwner {
                owner_uid: OTHER_UID,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("65534"), "{err}");
    // Also as a registry.
    let registry_name = Registry::open_or_create(&t.ns).unwrap().name().to_owned();
    std::os::unix::fs::chown(format!("{SHM_DIR}{registry_name}"), Some(OTHER_UID), None).unwrap();
    assert!(matches!(
        Registry::open_or_create(&t.ns),
        Err(ShmError::ForeignOwner {
            owner_uid: OTHER_UID,
            ..
        })
    ));
}
