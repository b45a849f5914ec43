//! Instances that cannot join the shared core say so plainly (issue 14). A registry member of
//! another layout version holds the leadership: this process's instances stay in its own core
//! (their rings could not be read) and its snapshot names the other version's process and what
//! to do. Then the registry itself is of another version: the process cannot join at all, and
//! its snapshot says that too. One test function: the core is a process-wide singleton.

use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use stemcheck_bus::{BlockInfo, PositionSource};
use stemcheck_live::{
    GroupSnapshot, InstanceShared, Registration, Role, latest_snapshot, register,
};
use stemcheck_shm::registry::BEAT_PERIOD;
use stemcheck_shm::{BinaryFormat, LAYOUT_VERSION, Namespace, Registry};

const WAIT_LIMIT: Duration = Duration::from_secs(60);
const GROUP: usize = 5;
/// Offset of the layout version in every segment header.
const VERSION_AT: u64 = 8;

fn set_tag(tag: &str) {
    // SAFETY: called while no registration (and so no core or agent thread) exists; the test's
    // other thread (the fake member's beat) does not read the environment.
    unsafe { std::env::set_var(stemcheck_live::federation::SHM_TAG_ENV, tag) };
}

fn pair() -> Vec<(Arc<InstanceShared>, Registration)> {
    ["Mix", "Drums"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let shared = Arc::new(InstanceShared::default());
            shared.set_role(if i == 0 { Role::Master } else { Role::Stem });
            shared.set_group(GROUP);
            shared.set_track_name(name);
            let registration = register(shared.clone(), 48_000.0).unwrap();
            (shared, registration)
        })
        .collect()
}

/// Pushes a little audio and waits for a snapshot whose warnings satisfy `f`.
fn wait_for_warning(
    instances: &mut [(Arc<InstanceShared>, Registration)],
    what: &str,
    f: impl Fn(&str) -> bool,
) -> Arc<GroupSnapshot> {
    let deadline = Instant::now() + WAIT_LIMIT;
    let mut pos = 0;
    loop {
        for (_, registration) in instances.iter_mut() {
            let info = BlockInfo {
                pos_samples: pos,
                source: PositionSource::HostTransport,
                playing: true,
                sample_rate_hz: 48_000.0,
            };
            registration.producer.push_block(&info, &[[0.1f32; 480]]);
        }
        pos += 480;
        if let Some(s) = latest_snapshot(GROUP).filter(|s| s.warnings.iter().any(|w| f(w))) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn clean(tag: &str) {
    for entry in std::fs::read_dir("/dev/shm").unwrap().flatten() {
        if entry.file_name().to_string_lossy().contains(tag) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[test]
fn instances_that_cannot_join_say_why_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: before any registration starts a thread.
    unsafe { std::env::set_var("STEMCHECK_REPORT_DIR", dir.path()) };

    // 1. Another version leads.
    let tag = format!("fedver{}", std::process::id());
    set_tag(&tag);
    let other = Registry::open_or_create(&Namespace::with_tag(&tag).unwrap())
        .unwrap()
        .join_as(BinaryFormat::Vst3, LAYOUT_VERSION + 1, 0)
        .unwrap();
    assert!(other.try_lead());
    let stop = Arc::new(AtomicBool::new(false));
    let beating = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                other.beat();
                std::thread::sleep(BEAT_PERIOD / 4);
            }
            other
        })
    };
    let mut instances = pair();
    assert!(
        instances
            .iter()
            .all(|(_, r)| !r.producer.is_shared_memory()),
        "no ring for a leader that cannot read it"
    );
    let pid = std::process::id().to_string();
    let snapshot = wait_for_warning(&mut instances, "the other version's warning", |w| {
        w.contains("another version") && w.contains("VST3") && w.contains(&pid)
    });
    let warning = snapshot
        .warnings
        .iter()
        .find(|w| w.contains("another version"))
        .unwrap();
    eprintln!("{warning}");
    assert!(
        warning.contains("install the same Stemcheck version"),
        "{warning}"
    );
    assert_eq!(
        snapshot.instances.len(),
        2,
        "both compared in this process's core"
    );
    drop(instances);
    stop.store(true, Ordering::Relaxed);
    drop(beating.join().unwrap());
    clean(&tag);

    // 2. The registry itself is of another version: this process cannot join at all.
    let tag = format!("fedver{}b", std::process::id());
    set_tag(&tag);
    let registry = Registry::open_or_create(&Namespace::with_tag(&tag).unwrap()).unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm{}", registry.name()))
        .unwrap();
    file.write_all_at(&(LAYOUT_VERSION + 1).to_le_bytes(), VERSION_AT)
        .unwrap();
    drop(registry);
    let mut instances = pair();
    // (Not the first part's warning, still in its last snapshot: this process's own.)
    let snapshot = wait_for_warning(&mut instances, "the cannot-join warning", |w| {
        w.starts_with("This Stemcheck cannot join")
    });
    let warning = snapshot
        .warnings
        .iter()
        .find(|w| w.starts_with("This Stemcheck cannot join"))
        .unwrap();
    eprintln!("{warning}");
    assert!(
        warning.contains("other version") && warning.contains("same Stemcheck version"),
        "{warning}"
    );
    assert_eq!(snapshot.instances.len(), 2);
    drop(instances);
    clean(&tag);
}
