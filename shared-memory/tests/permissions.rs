//! Segments that others could read or write, or that belong to another user, are refused on
//! open (we run as root in CI, so the owner check is the only thing between us and a segment
//! planted by someone else). On Unix through the mode and owner in `/dev/shm`; on Windows
//! through mappings made with other security descriptors (wine runs the Windows tests).

mod common;

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

#[cfg(unix)]
use common::SHM_DIR;
use common::TestNamespace;
use stemcheck_shm::{Registry, RingConsumer, RingProducer, ShmError};

/// The user id `nobody` has on Debian.
#[cfg(unix)]
const OTHER_UID: u32 = 65534;

#[cfg(unix)]
fn mode_of(name: &str) -> u32 {
    std::fs::metadata(format!("{SHM_DIR}{name}"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
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

#[cfg(unix)]
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

/// Bytes of the test mappings made here (one page).
#[cfg(windows)]
const RAW_BYTES: u32 = 4096;

#[cfg(windows)]
#[test]
fn segments_are_private_to_this_user_and_a_dacl_letting_others_in_is_refused() {
    use common::create_raw;

    let t = TestNamespace::new("dacl");
    let sid = stemcheck_shm::current_user();
    assert!(sid.starts_with("S-1-"), "{sid}");
    // The crate's own: owner and only entry this user. Names contain the SID.
    let name = t.name("ring");
    assert!(name.contains(&sid), "{name}");
    let _tx = RingProducer::create(&name, 4096).unwrap();
    assert!(RingConsumer::open(&name).is_ok());
    // Ours and everyone's (WD), ours and the Administrators' (BA), or no DACL at all (NO_ACCESS_CONTROL).
    // The DACL is checked before any byte is read, so the mappings need no header.
    for (what, sddl, who) in [
        (
            "world",
            format!("O:{sid}D:P(A;;GA;;;{sid})(A;;GA;;;WD)"),
            "S-1-1-0",
        ),
        (
            "admins",
            format!("O:{sid}D:P(A;;GA;;;{sid})(A;;GR;;;BA)"),
            "S-1-5-32-544",
        ),
        ("nodacl", format!("O:{sid}D:NO_ACCESS_CONTROL"), "no DACL"),
    ] {
        let name = t.name(what);
        let _handle = create_raw(&name, RAW_BYTES, &sddl).unwrap();
        let err = RingConsumer::open(&name).unwrap_err();
        // NOTE: wine (8.0) denies every access to an object without a DACL, where Windows
        // grants every access: there the open itself fails, before our check.
        if what == "nodacl"
            && matches!(&err, ShmError::Os { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied)
        {
            eprintln!("no DACL: the open was denied by the system ({err}), as under wine");
            continue;
        }
        assert!(
            matches!(&err, ShmError::InsecureAcl { who: w, .. } if w.contains(who)),
            "{what}: {err}"
        );
    }
    // An entry that denies others (anonymous logons, AN) is no access for them: accepted as
    // far as the DACL goes (then refused for the missing header).
    let name = t.name("deny");
    let _handle = create_raw(
        &name,
        RAW_BYTES,
        &format!("O:{sid}D:P(D;;GA;;;AN)(A;;GA;;;{sid})"),
    )
    .unwrap();
    let result = RingConsumer::open(&name);
    assert!(
        matches!(result, Err(ShmError::BadMagic { found: 0, .. })),
        "{result:?}"
    );
    // The registry is checked the same way.
    let _planted = create_raw(
        &t.ns.registry_name(),
        RAW_BYTES,
        &format!("O:{sid}D:P(A;;GA;;;{sid})(A;;GA;;;WD)"),
    )
    .unwrap();
    assert!(matches!(
        Registry::open_or_create(&t.ns),
        Err(ShmError::InsecureAcl { .. })
    ));
}

#[cfg(windows)]
#[test]
fn a_segment_owned_by_another_user_is_refused() {
    use common::create_raw;

    let t = TestNamespace::new("owner");
    let sid = stemcheck_shm::current_user();
    let name = t.name("ring");
    // Owned by LocalSystem (SY), open to us alone. Giving an object away needs a privilege
    // (SeRestorePrivilege) that a test may not have: then this case cannot be built here.
    let _handle = match create_raw(&name, RAW_BYTES, &format!("O:SYD:P(A;;GA;;;{sid})")) {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("skipped: cannot make a mapping owned by SYSTEM ({e})");
            return;
        }
    };
    let err = RingConsumer::open(&name).unwrap_err();
    assert!(
        matches!(&err, ShmError::ForeignOwner { owner, .. } if owner.contains("S-1-5-18")),
        "{err}"
    );
    assert!(err.to_string().contains("S-1-5-18"), "{err}");
}
