//! Across processes: this test binary spawns itself as helper processes (the `helper` test,
//! selected by the `STEMCHECK_SHM_HELPER` environment variable, returns at once otherwise).
//! Helpers join a registry, stream seeded signals through their own rings, beat and run for
//! leader; the parent reads, checks bit identity and sequence, kills helpers with SIGKILL (or
//! stops them with SIGSTOP) and checks that they are reaped and that another leader is elected
//! within one second. Every wait has a deadline; helpers exit on their own after
//! [`HELPER_LIFETIME`] should the parent die.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{BlockSizes, TestNamespace, bits, info, signal};
#[cfg(unix)]
use rustix::process::{Pid, Signal, kill_process};
use stemcheck_bus::PushOutcome;
#[cfg(unix)]
use stemcheck_shm::capacity_bytes_for;
use stemcheck_shm::registry::{BEAT_PERIOD, LEADER_TIMEOUT_NS};
use stemcheck_shm::{BinaryFormat, EntryStatus, Registry, RingConsumer, RingProducer};

/// Selects the helper role: `<role>:<namespace tag>:<seed>`.
const HELPER_ENV: &str = "STEMCHECK_SHM_HELPER";
/// A helper that is not killed gives up after this long.
const HELPER_LIFETIME: Duration = Duration::from_secs(60);
/// Longest the parent waits for anything.
const WAIT_LIMIT: Duration = Duration::from_secs(30);
/// Frames each streaming helper sends.
const STREAM_FRAMES: u64 = 300_000;
/// Ring capacity of the helpers: a quarter of a second at 48 kHz, so that they wait on the
/// parent often.
const HELPER_RING_BYTES: u64 = 1 << 17;
/// The last block of a real-time stream, pushed when there is room.
const FINAL_BLOCK_FRAMES: usize = 64;
/// Leadership must move within this after its holder is killed or stopped.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(1);

/// The helper entry point: does nothing unless spawned by a test below.
#[test]
fn helper() {
    let Ok(spec) = std::env::var(HELPER_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, ':');
    let (role, tag, seed) = (
        parts.next().unwrap().to_owned(),
        parts.next().unwrap().to_owned(),
        parts.next().unwrap().parse::<u64>().unwrap(),
    );
    let t = common::TestNamespace::from_tag(&tag);
    // The parent's namespace: do not unlink its segments when this helper ends.
    let ns = t.ns.clone();
    std::mem::forget(t);
    let deadline = Instant::now() + HELPER_LIFETIME;
    match role.as_str() {
        "stream" => stream(&ns, seed, STREAM_FRAMES, deadline),
        "stream-forever" => stream(&ns, seed, u64::MAX, deadline),
        "candidate" => candidate(&ns, deadline),
        "stream-rt" => stream_real_time(&ns, seed, deadline),
        other => panic!("unknown helper role {other}"),
    }
}

/// Joins, creates ring 0, pushes `total_frames` of seeded signal `seed` in seeded random block
/// sizes (waiting for room: nothing may be dropped), beating; then waits for the ring to drain.
fn stream(ns: &stemcheck_shm::Namespace, seed: u64, total_frames: u64, deadline: Instant) {
    let member = Registry::open_or_create(ns)
        .unwrap()
        .join(BinaryFormat::Other, 1)
        .unwrap();
    let mut ring = RingProducer::create(&member.ring_name(0), HELPER_RING_BYTES).unwrap();
    let mut sizes = BlockSizes::new(seed ^ 0xb10c, 2048);
    let mut pos = 0u64;
    let mut last_beat = Instant::now();
    while pos < total_frames {
        assert!(Instant::now() < deadline, "helper outlived its limit");
        if last_beat.elapsed() >= BEAT_PERIOD / 2 {
            member.beat();
            last_beat = Instant::now();
        }
        let frames = sizes.next_size().min((total_frames - pos) as usize);
        while !ring.has_room_for(frames, 2) {
            assert!(Instant::now() < deadline, "helper outlived its limit");
            std::thread::sleep(Duration::from_micros(200));
            if last_beat.elapsed() >= BEAT_PERIOD / 2 {
                member.beat();
                last_beat = Instant::now();
            }
        }
        let left = signal(seed, 0, pos, frames);
        let right = signal(seed, 1, pos, frames);
        assert_eq!(
            ring.push_block(&info(pos as i64), &[&left, &right]),
            PushOutcome::Pushed
        );
        pos += frames as u64;
    }
    while ring.pending_bytes() > 0 {
        assert!(
            Instant::now() < deadline,
            "the parent never drained the ring"
        );
        member.beat();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Like an audio thread: pushes [`STREAM_FRAMES`] in seeded random block sizes without ever
/// waiting (a full ring drops), then one last 64-frame block, waiting for room, so that the
/// drops before it are reported; then waits for the ring to drain.
fn stream_real_time(ns: &stemcheck_shm::Namespace, seed: u64, deadline: Instant) {
    let member = Registry::open_or_create(ns)
        .unwrap()
        .join(BinaryFormat::Vst3, 1)
        .unwrap();
    let mut ring = RingProducer::create(&member.ring_name(0), HELPER_RING_BYTES).unwrap();
    let mut sizes = BlockSizes::new(seed ^ 0x4a11, 1024);
    let mut pos = 0u64;
    let mut last_beat = Instant::now();
    while pos < STREAM_FRAMES {
        let frames = sizes.next_size().min((STREAM_FRAMES - pos) as usize);
        let left = signal(seed, 0, pos, frames);
        let right = signal(seed, 1, pos, frames);
        ring.push_block(&info(pos as i64), &[&left, &right]);
        pos += frames as u64;
        if last_beat.elapsed() >= BEAT_PERIOD / 2 {
            member.beat();
            last_beat = Instant::now();
        }
    }
    while !ring.has_room_for(FINAL_BLOCK_FRAMES, 2) {
        assert!(Instant::now() < deadline, "the parent never made room");
        std::thread::sleep(Duration::from_millis(1));
    }
    let last = signal(seed, 0, pos, FINAL_BLOCK_FRAMES);
    let last_right = signal(seed, 1, pos, FINAL_BLOCK_FRAMES);
    assert_eq!(
        ring.push_block(&info(pos as i64), &[&last, &last_right]),
        PushOutcome::Pushed
    );
    while ring.pending_bytes() > 0 {
        assert!(
            Instant::now() < deadline,
            "the parent never drained the ring"
        );
        member.beat();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Joins and runs for leader every 20 ms, beating, until killed or out of time.
fn candidate(ns: &stemcheck_shm::Namespace, deadline: Instant) {
    let member = Registry::open_or_create(ns)
        .unwrap()
        .join(BinaryFormat::Clap, 0)
        .unwrap();
    while Instant::now() < deadline {
        member.beat();
        member.try_lead();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Helper processes, killed and waited for on drop.
struct Helpers(Vec<Child>);

impl Helpers {
    fn spawn(t: &TestNamespace, role: &str, seeds: &[u64]) -> Self {
        let exe = std::env::current_exe().unwrap();
        Self(
            seeds
                .iter()
                .map(|seed| {
                    Command::new(&exe)
                        .args(["--exact", "helper", "--nocapture", "--test-threads=1"])
                        .env(HELPER_ENV, format!("{role}:{}:{seed}", t.tag))
                        .stdout(Stdio::null())
                        .spawn()
                        .unwrap()
                })
                .collect(),
        )
    }

    fn pids(&self) -> Vec<u32> {
        self.0.iter().map(|c| c.id()).collect()
    }

    /// Sends SIGKILL to the helper with `pid` and reaps it (so that its pid is gone).
    fn kill(&mut self, pid: u32) {
        let child = self.0.iter_mut().find(|c| c.id() == pid).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Waits for every helper to exit successfully, within `limit`.
    fn wait_success(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        for child in &mut self.0 {
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "helper {} failed: {status}", child.id());
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "helper {} did not finish",
                    child.id()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

impl Drop for Helpers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `f` every millisecond until it returns `Some`, or panics after `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until every pid in `pids` has a live entry, and returns their entries' ring names.
fn wait_for_rings(registry: &Registry, pids: &[u32]) -> Vec<(u32, String)> {
    wait_for("helpers to join", WAIT_LIMIT, || {
        let live = registry.live_entries();
        let named: Vec<(u32, String)> = pids
            .iter()
            .filter_map(|pid| {
                let e = live.iter().find(|e| e.pid == *pid)?;
                Some((*pid, registry.namespace().ring_name(e.id, 0)))
            })
            .collect();
        (named.len() == pids.len()).then_some(named)
    })
}

/// Opens a helper's ring, waiting for the helper to create it.
fn open_ring(name: &str) -> RingConsumer {
    wait_for("a helper's ring", WAIT_LIMIT, || {
        match RingConsumer::open(name) {
            Ok(rx) => Some(rx),
            Err(e) if e.is_not_found() => None,
            Err(e) => panic!("{e}"),
        }
    })
}

/// What the parent has read of one helper's stream.
struct Reader {
    seed: u64,
    rx: RingConsumer,
    next_frame: u64,
    next_seq: u64,
}

impl Reader {
    /// One reader per ring, each expecting the signal of its seed.
    fn for_rings<T>(rings: &[(T, String)], seeds: &[u64]) -> Vec<Reader> {
        rings
            .iter()
            .zip(seeds)
            .map(|((_, name), &seed)| Reader {
                seed,
                rx: open_ring(name),
                next_frame: 0,
                next_seq: 0,
            })
            .collect()
    }

    /// Reads what is there; checks every record against the seeded signal.
    fn drain(&mut self, out: &mut [Vec<f32>]) -> u64 {
        let mut frames_read = 0;
        while let Some(h) = self.rx.pop_block(out).unwrap() {
            let frames = h.num_frames as usize;
            assert_eq!(h.seq, self.next_seq, "seed {}: sequence", self.seed);
            assert_eq!(h.pos_samples, self.next_frame as i64, "seed {}", self.seed);
            assert_eq!(h.dropped_frames_before, 0);
            for (channel, samples) in out.iter().enumerate().take(2) {
                assert_eq!(
                    bits(&samples[..frames]),
                    bits(&signal(self.seed, channel, self.next_frame, frames)),
                    "seed {} record {} channel {channel}",
                    self.seed,
                    h.seq
                );
            }
            self.next_seq += 1;
            self.next_frame += frames as u64;
            frames_read += frames as u64;
        }
        frames_read
    }
}

#[test]
fn three_helpers_stream_seeded_signals_that_arrive_bit_identical_and_in_sequence() {
    let t = TestNamespace::new("xstream");
    let registry = Registry::open_or_create(&t.ns).unwrap();
    let seeds = [101, 202, 303];
    let mut helpers = Helpers::spawn(&t, "stream", &seeds);
    let rings = wait_for_rings(&registry, &helpers.pids());
    let mut readers = Reader::for_rings(&rings, &seeds);
    let mut out = vec![Vec::new(), Vec::new()];
    let deadline = Instant::now() + WAIT_LIMIT;
    while readers.iter().any(|r| r.next_frame < STREAM_FRAMES) {
        assert!(Instant::now() < deadline, "streams did not arrive in time");
        let got: u64 = readers.iter_mut().map(|r| r.drain(&mut out)).sum();
        if got == 0 {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    for r in &readers {
        assert_eq!(r.next_frame, STREAM_FRAMES, "seed {}", r.seed);
        let stats = r.rx.stats();
        assert_eq!(
            (stats.pushed_frames, stats.dropped_frames),
            (STREAM_FRAMES, 0)
        );
    }
    helpers.wait_success(WAIT_LIMIT);
    // They left: no slot, and their rings are unlinked by their producers (Windows: the
    // names go with the last handles, our readers').
    assert!(registry.entries().is_empty(), "{:?}", registry.entries());
    #[cfg(windows)]
    drop(readers);
    for (_, name) in &rings {
        assert!(RingConsumer::open(name).unwrap_err().is_not_found());
    }
}

#[test]
fn a_killed_helper_goes_stale_is_reaped_and_its_ring_unlinked() {
    let t = TestNamespace::new("xkill");
    let registry = Registry::open_or_create(&t.ns).unwrap();
    let seeds = [11, 22];
    let mut helpers = Helpers::spawn(&t, "stream-forever", &seeds);
    let pids = helpers.pids();
    let rings = wait_for_rings(&registry, &pids);
    let mut readers = Reader::for_rings(&rings, &seeds);
    let mut out = vec![Vec::new(), Vec::new()];
    // Mid-run: both have streamed something.
    wait_for("both helpers to stream", WAIT_LIMIT, || {
        for r in &mut readers {
            r.drain(&mut out);
        }
        readers.iter().all(|r| r.next_frame > 20_000).then_some(())
    });
    let victim = pids[0];
    helpers.kill(victim);
    let killed_at = Instant::now();
    // What it pushed before dying is still readable, and still right.
    readers[0].drain(&mut out);

    // Its heartbeat stops: older than the leader timeout after a while, while the other's
    // stays fresh.
    let stale = wait_for("the heartbeat to go stale", WAIT_LIMIT, || {
        for r in &mut readers[1..] {
            r.drain(&mut out);
        }
        let entries = registry.entries();
        let e = entries.iter().find(|e| e.pid == victim)?;
        (e.heartbeat_age_ns > LEADER_TIMEOUT_NS).then_some(*e)
    });
    assert!(killed_at.elapsed() >= Duration::from_millis(400));
    assert_eq!(stale.status, EntryStatus::Dead, "the pid is gone");
    let survivor = registry
        .entries()
        .into_iter()
        .find(|e| e.pid == pids[1])
        .unwrap();
    assert_eq!(survivor.status, EntryStatus::Live);

    let report = registry.reap_stale();
    assert_eq!(report.freed, vec![(stale.slot, victim)]);
    assert_eq!(report.unlinked, vec![rings[0].1.clone()]);
    // Windows: the name stays while our reader holds it (see the test after the next).
    #[cfg(unix)]
    assert!(RingConsumer::open(&rings[0].1).unwrap_err().is_not_found());
    assert!(registry.entries().iter().all(|e| e.pid != victim));
    // The survivor is untouched and still streaming correctly.
    assert!(RingConsumer::open(&rings[1].1).is_ok());
    let before = readers[1].next_frame;
    wait_for("the survivor to go on", WAIT_LIMIT, || {
        readers[1].drain(&mut out);
        (readers[1].next_frame > before + 10_000).then_some(())
    });
    // A second reap finds nothing more.
    assert_eq!(registry.reap_stale().freed, vec![]);
}

#[test]
fn killing_or_stopping_the_leader_elects_another_within_one_second() {
    let t = TestNamespace::new("xlead");
    let registry = Registry::open_or_create(&t.ns).unwrap();
    let mut helpers = Helpers::spawn(&t, "candidate", &[1, 2, 3]);
    let pids = helpers.pids();
    wait_for_rings(&registry, &pids);
    let leader_pid = || registry.leader().map(|e| e.pid);
    let first = wait_for("a leader", WAIT_LIMIT, leader_pid);
    assert!(pids.contains(&first));
    // Exactly one leader, and it stays put while it beats.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(leader_pid(), Some(first));

    // SIGKILL: its pid goes away; the next claimant takes over.
    helpers.kill(first);
    let killed_at = Instant::now();
    let second = wait_for("a new leader after SIGKILL", TAKEOVER_LIMIT * 2, || {
        leader_pid().filter(|p| *p != first)
    });
    let takeover = killed_at.elapsed();
    eprintln!("takeover after SIGKILL: {takeover:?}");
    assert!(
        takeover < TAKEOVER_LIMIT,
        "takeover after SIGKILL took {takeover:?}"
    );
    assert!(pids.contains(&second));

    #[cfg(unix)]
    stop_the_leader(&registry, &pids, first, second);
}

/// SIGSTOP (Unix; Windows has no plain way to suspend another process): the leader `second`
/// is alive but hung; its heartbeat goes stale and it is replaced.
#[cfg(unix)]
fn stop_the_leader(registry: &Registry, pids: &[u32], first: u32, second: u32) {
    let leader_pid = || registry.leader().map(|e| e.pid);
    let pid = Pid::from_raw(second as i32).unwrap();
    kill_process(pid, Signal::STOP).unwrap();
    let stopped_at = Instant::now();
    let third = wait_for("a new leader after SIGSTOP", TAKEOVER_LIMIT * 2, || {
        leader_pid().filter(|p| *p != second)
    });
    let takeover = stopped_at.elapsed();
    eprintln!("takeover after SIGSTOP: {takeover:?}");
    assert!(
        takeover < TAKEOVER_LIMIT,
        "takeover after SIGSTOP took {takeover:?}"
    );
    assert!(
        takeover >= Duration::from_nanos(LEADER_TIMEOUT_NS) - BEAT_PERIOD,
        "a hung leader keeps its role until its heartbeat is stale ({takeover:?})"
    );
    assert!(pids.contains(&third) && third != first);
    // The stopped one is still listed, stale, not dead.
    let stopped = registry
        .entries()
        .into_iter()
        .find(|e| e.pid == second)
        .unwrap();
    assert_eq!(stopped.status, EntryStatus::Stale);
    let _ = kill_process(pid, Signal::CONT);
    // Resumed, it does not take the role back: the new leader is beating.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(leader_pid(), Some(third));
}

#[test]
fn an_entry_of_another_version_is_reported_not_used() {
    let t = TestNamespace::new("xver");
    let registry = Registry::open_or_create(&t.ns).unwrap();
    let old = Registry::open_or_create(&t.ns)
        .unwrap()
        .join_as(BinaryFormat::Vst3, 0, 1)
        .unwrap();
    let current = Registry::open_or_create(&t.ns)
        .unwrap()
        .join(BinaryFormat::Clap, 1)
        .unwrap();
    let live = registry.live_entries();
    assert_eq!(live.len(), 2);
    let other = live.iter().find(|e| e.slot == old.slot()).unwrap();
    assert_eq!(other.status, EntryStatus::OtherVersion);
    assert_eq!(other.status.to_string(), "cannot join: other version");
    assert!(!other.is_usable());
    assert_eq!(other.format, Some(BinaryFormat::Vst3));
    let ours = live.iter().find(|e| e.slot == current.slot()).unwrap();
    assert!(ours.is_usable());
    assert_eq!(ours.format, Some(BinaryFormat::Clap));
    // Leadership in one process: the first claimant wins, the second does not.
    assert!(current.try_lead());
    assert!(!old.try_lead());
    assert!(current.is_leader() && !old.is_leader());
    current.leave();
    assert!(registry.leader().is_none());
    assert!(old.try_lead());
    drop(old);
    assert!(registry.entries().is_empty());
}

/// Windows: a process's segments go with its handles, so a killed helper leaves no ring to
/// clean up (on Unix its name stays until the reaper unlinks it).
#[cfg(windows)]
#[test]
fn the_ring_of_a_killed_helper_vanishes_with_it() {
    let t = TestNamespace::new("xvanish");
    let registry = Registry::open_or_create(&t.ns).unwrap();
    let mut helpers = Helpers::spawn(&t, "stream-forever", &[5]);
    let pids = helpers.pids();
    let rings = wait_for_rings(&registry, &pids);
    drop(open_ring(&rings[0].1));
    helpers.kill(pids[0]);
    assert!(RingConsumer::open(&rings[0].1).unwrap_err().is_not_found());
    // Its slot is reaped as a dead process's.
    let report = registry.reap_stale();
    assert_eq!(report.freed.len(), 1);
    assert!(report.unlinked.is_empty(), "{:?}", report.unlinked);
}

#[cfg(unix)]
#[test]
fn leftover_rings_of_dead_processes_are_cleaned_at_the_next_join() {
    let t = TestNamespace::new("xleft");
    // A ring named for a pid that cannot exist (above Linux's pid_max of 2^22), as a crash
    // between creating a ring and joining would leave it; and one of a live pid (ours).
    let dead_id = (0x7fff_fff0u64 << 32) | 1;
    let dead_name = t.ns.ring_name(dead_id, 0);
    let live_name = t.ns.ring_name((u64::from(std::process::id()) << 32) | 2, 0);
    let dead = RingProducer::create(&dead_name, capacity_bytes_for(48_000.0, 0.1)).unwrap();
    let live = RingProducer::create(&live_name, 4096).unwrap();
    std::mem::forget(dead); // Its name stays, like a crashed process's.
    let member = Registry::open_or_create(&t.ns)
        .unwrap()
        .join(BinaryFormat::Other, 0)
        .unwrap();
    assert!(matches!(
        RingConsumer::open(&dead_name),
        Err(e) if e.is_not_found()
    ));
    assert!(RingConsumer::open(&live_name).is_ok());
    drop(live);
    drop(member);
}

#[test]
fn a_real_time_producer_in_another_process_drops_and_every_dropped_frame_is_accounted_for() {
    let t = TestNamespace::new("xdrop");
    let registry = Registry::open_or_create(&t.ns).unwrap();
    let seed = 77;
    let mut helpers = Helpers::spawn(&t, "stream-rt", &[seed]);
    let rings = wait_for_rings(&registry, &helpers.pids());
    let mut rx = open_ring(&rings[0].1);
    let mut out = vec![Vec::new(), Vec::new()];
    let total = STREAM_FRAMES + FINAL_BLOCK_FRAMES as u64;
    let (mut received, mut reported_dropped, mut seq_gaps) = (0u64, 0u64, 0u64);
    let mut expected_seq = 0u64;
    let deadline = Instant::now() + WAIT_LIMIT;
    while received + reported_dropped < total {
        assert!(Instant::now() < deadline, "stream did not complete");
        let Some(h) = rx.pop_block(&mut out).unwrap() else {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        };
        // A slow consumer: the producer outruns it and drops.
        std::thread::sleep(Duration::from_micros(50));
        assert!(h.seq >= expected_seq, "sequence goes forward");
        seq_gaps += h.seq - expected_seq;
        expected_seq = h.seq + 1;
        reported_dropped += h.dropped_frames_before;
        // Positions say where the dropped frames were: what arrives is still the signal at its
        // position, bit for bit.
        let start = h.pos_samples as u64;
        assert_eq!(
            start,
            received + reported_dropped,
            "no frame unaccounted for"
        );
        let frames = h.num_frames as usize;
        for (channel, samples) in out.iter().enumerate() {
            assert_eq!(
                bits(&samples[..frames]),
                bits(&signal(seed, channel, start, frames))
            );
        }
        received += frames as u64;
    }
    helpers.wait_success(WAIT_LIMIT);
    let stats = rx.stats();
    eprintln!(
        "real-time stream: {received} frames received, {reported_dropped} dropped in {seq_gaps} records"
    );
    assert_eq!(received + reported_dropped, total);
    assert!(reported_dropped > 0, "the test must make the producer drop");
    assert_eq!(
        stats.dropped_frames, reported_dropped,
        "shared counter = reported drops"
    );
    assert_eq!(stats.dropped_blocks, seq_gaps, "seq gaps = dropped records");
    assert_eq!(stats.pushed_frames, received);
}
