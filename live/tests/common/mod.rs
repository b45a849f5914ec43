//! Helpers for the cross-process federation tests: the test binary spawns itself as helper
//! processes (selected by [`HELPER_ENV`]; the `helper` test of each file returns at once
//! otherwise), each registering instances with the live core and pushing a seeded signal in
//! real time, all processes on one transport timeline from a shared start time. Every wait has
//! a deadline; helpers end when their stdin says `stop` or closes, or after
//! [`HELPER_LIFETIME`].

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use stemcheck_bus::{BlockInfo, PositionSource};
use stemcheck_live::{GroupSnapshot, InstanceShared, Registration, Role, register};

/// Selects the helper role and its instances (see [`InstanceSpec::parse_list`]).
pub const HELPER_ENV: &str = "STEMCHECK_FED_HELPER";
/// The shared start of the timeline, `CLOCK_MONOTONIC` ns.
pub const T0_ENV: &str = "STEMCHECK_FED_T0";
/// A helper that is never told to stop gives up after this long.
pub const HELPER_LIFETIME: Duration = Duration::from_secs(90);
/// Longest any wait in the parent may take.
pub const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// Sample rate of every instance, in Hz.
pub const RATE_HZ: f32 = 48_000.0;
/// Frames per pushed block.
pub const BLOCK_FRAMES: usize = 512;
/// How long before the timeline starts the processes are spawned: room for them to start and
/// register on a loaded machine before the first block is due.
pub const LEAD_IN: Duration = Duration::from_millis(2500);

/// Seeds of the stems by name: the master is the sum of these signals.
pub const STEM_SEEDS: [(&str, u64); 3] = [("Drums", 11), ("Bass", 22), ("Keys", 33)];

/// One instance to register: name, group, role, and the gain its signal is pushed with (1 for
/// the clean stem, -1 polarity-inverted, 2 six dB hot; the master is always the clean sum).
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub name: String,
    pub group: usize,
    pub role: Role,
    pub gain: f32,
}

impl InstanceSpec {
    pub fn new(name: &str, group: usize, role: Role, gain: f32) -> Self {
        Self {
            name: name.to_owned(),
            group,
            role,
            gain,
        }
    }

    /// `name/group/role/gain` items joined by `,`.
    pub fn to_list(specs: &[Self]) -> String {
        specs
            .iter()
            .map(|s| {
                let role = if s.role == Role::Master {
                    "master"
                } else {
                    "stem"
                };
                format!("{}/{}/{role}/{}", s.name, s.group, s.gain)
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn parse_list(list: &str) -> Vec<Self> {
        list.split(',')
            .map(|item| {
                let parts: Vec<&str> = item.split('/').collect();
                Self {
                    name: parts[0].to_owned(),
                    group: parts[1].parse().unwrap(),
                    role: if parts[2] == "master" {
                        Role::Master
                    } else {
                        Role::Stem
                    },
                    gain: parts[3].parse().unwrap(),
                }
            })
            .collect()
    }

    /// Sample `pos` of channel `channel` of this instance's signal.
    fn sample(&self, channel: usize, pos: i64) -> f32 {
        match self.role {
            Role::Master => STEM_SEEDS
                .iter()
                .map(|(_, seed)| noise(*seed, channel, pos))
                .sum(),
            Role::Stem => {
                let seed = STEM_SEEDS
                    .iter()
                    .find(|(n, _)| *n == self.name)
                    .map_or(99, |(_, s)| *s);
                self.gain * noise(seed, channel, pos)
            }
        }
    }
}

/// Seeded white noise in [-0.125, 0.125), by position (any process computes the same value).
pub fn noise(seed: u64, channel: usize, pos: i64) -> f32 {
    let mut x = seed
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add((pos as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9))
        .wrapping_add(channel as u64 * 0x94d0_49bb_1331_11eb);
    // splitmix64's finaliser.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.25
}

/// Registered instances pushing in real time on the shared timeline from `t0_ns`.
pub struct Pusher {
    pub instances: Vec<(InstanceSpec, Arc<InstanceShared>, Registration)>,
    t0_ns: u64,
    next_pos: i64,
    scratch: Vec<[Vec<f32>; 2]>,
}

impl Pusher {
    pub fn register(specs: &[InstanceSpec], t0_ns: u64) -> Self {
        let instances: Vec<_> = specs
            .iter()
            .map(|spec| {
                let shared = Arc::new(InstanceShared::default());
                shared.set_role(spec.role);
                shared.set_group(spec.group);
                shared.set_track_name(&spec.name);
                shared.set_bus_channels(2);
                let registration = register(shared.clone(), RATE_HZ).unwrap();
                (spec.clone(), shared, registration)
            })
            .collect();
        let scratch = instances
            .iter()
            .map(|_| [vec![0.0; BLOCK_FRAMES], vec![0.0; BLOCK_FRAMES]])
            .collect();
        Self {
            instances,
            t0_ns,
            next_pos: 0,
            scratch,
        }
    }

    /// Pushes every block due by now (the timeline runs at [`RATE_HZ`] from `t0_ns`).
    pub fn push_due(&mut self) {
        let now = stemcheck_shm::monotonic_ns();
        if now < self.t0_ns {
            return;
        }
        let due = ((now - self.t0_ns) as f64 * f64::from(RATE_HZ) / 1e9) as i64;
        while self.next_pos + BLOCK_FRAMES as i64 <= due {
            let pos = self.next_pos;
            for ((spec, _, registration), buffers) in
                self.instances.iter_mut().zip(self.scratch.iter_mut())
            {
                for (channel, buffer) in buffers.iter_mut().enumerate() {
                    for (i, sample) in buffer.iter_mut().enumerate() {
                        *sample = spec.sample(channel, pos + i as i64);
                    }
                }
                let info = BlockInfo {
                    pos_samples: pos,
                    source: PositionSource::HostTransport,
                    playing: true,
                    sample_rate_hz: RATE_HZ,
                };
                // As the plugin does: also takes a transport the core hands over.
                registration.push_block(&info, &buffers[..]);
            }
            self.next_pos += BLOCK_FRAMES as i64;
        }
    }

    /// Frames pushed so far on the timeline.
    pub fn position(&self) -> i64 {
        self.next_pos
    }
}

/// Runs a pusher on its own thread until `stop` is set; returns it at the end.
pub fn push_in_background(
    mut pusher: Pusher,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Pusher> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            pusher.push_due();
            std::thread::sleep(Duration::from_millis(2));
        }
        pusher
    })
}

/// Registers `specs` in this process, checks that every one streams through shared memory
/// (another process holds the core), and pushes them on their own thread until the returned
/// flag is set.
pub fn push_shared_in_background(
    specs: &[InstanceSpec],
    t0_ns: u64,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<Pusher>) {
    let mine = Pusher::register(specs, t0_ns);
    assert!(
        mine.instances
            .iter()
            .all(|(_, _, r)| r.producer.is_shared_memory())
    );
    let stop = Arc::new(AtomicBool::new(false));
    let pushing = push_in_background(mine, stop.clone());
    (stop, pushing)
}

/// The helper entry point: registers the instances named in [`HELPER_ENV`], says `READY`
/// with whether this process leads, pushes until `stop` on stdin, then prints what it reads of
/// each of its groups' snapshots (from the shared board when it does not lead) and exits.
pub fn helper_main() {
    let Ok(list) = std::env::var(HELPER_ENV) else {
        return;
    };
    let t0_ns: u64 = std::env::var(T0_ENV).unwrap().parse().unwrap();
    let specs = InstanceSpec::parse_list(&list);
    let pusher = Pusher::register(&specs, t0_ns);
    println!(
        "READY leader={} pid={}",
        stemcheck_live::federation::is_leader(),
        std::process::id()
    );
    std::io::stdout().flush().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = push_in_background(pusher, stop.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) if l.trim() == "stop" => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(HELPER_LIFETIME);
    stop.store(true, Ordering::Relaxed);
    let pusher = thread.join().unwrap();
    let mut groups: Vec<usize> = specs.iter().map(|s| s.group).collect();
    groups.dedup();
    for group in groups {
        match stemcheck_live::latest_snapshot(group) {
            Some(s) => {
                // This process's instances of the group whose rows the snapshot holds, found
                // by their rings (as an editor finds its own row).
                let own_rows = pusher
                    .instances
                    .iter()
                    .filter(|(spec, shared, _)| {
                        spec.group == group
                            && shared.ring_key() != 0
                            && s.instances
                                .iter()
                                .any(|i| i.location.ring_key == shared.ring_key())
                    })
                    .count();
                let (fenced_pops, stale_records) = stemcheck_live::federation::fence_counts();
                println!(
                    "SNAPSHOT group={} instances={} null={:?} leader={} own_rows={own_rows} \
                     fenced_pops={fenced_pops} stale_records={stale_records}",
                    s.group,
                    s.instances.len(),
                    s.null_residual_db,
                    stemcheck_live::federation::is_leader()
                )
            }
            None => println!("SNAPSHOT group={group} none"),
        }
    }
    std::io::stdout().flush().unwrap();
    drop(pusher);
}

/// A running helper process.
pub struct Helper {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
    pub pid: u32,
    pub leader_at_start: bool,
}

impl Helper {
    /// Spawns this test binary's `test_name` test as a helper with `specs`, in the parent's
    /// namespace (`STEMCHECK_SHM_TAG` is inherited), and waits for its `READY` line.
    pub fn spawn(test_name: &str, specs: &[InstanceSpec], t0_ns: u64) -> Self {
        Self::spawn_with_env(test_name, specs, t0_ns, &[])
    }

    /// [`Self::spawn`] with more environment variables for the helper alone.
    pub fn spawn_with_env(
        test_name: &str,
        specs: &[InstanceSpec],
        t0_ns: u64,
        env: &[(&str, &str)],
    ) -> Self {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
            .env(HELPER_ENV, InstanceSpec::to_list(specs))
            .env(T0_ENV, t0_ns.to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut leader_at_start = None;
        let deadline = Instant::now() + WAIT_LIMIT;
        while leader_at_start.is_none() {
            assert!(Instant::now() < deadline, "helper never got ready");
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "helper exited early"
            );
            // libtest may print "test helper ... " on the same line first.
            if let Some(at) = line.find("READY leader=") {
                leader_at_start = Some(line[at + "READY leader=".len()..].starts_with("true"));
            }
        }
        Self {
            child,
            stdout,
            pid,
            leader_at_start: leader_at_start.unwrap(),
        }
    }

    /// Tells the helper to stop and returns its `SNAPSHOT` lines once it has exited.
    pub fn stop(mut self) -> Vec<String> {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = writeln!(stdin, "stop");
        }
        drop(self.child.stdin.take());
        let lines: Vec<String> = (&mut self.stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| l.find("SNAPSHOT").map(|at| l[at..].to_owned()))
            .collect();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "helper {} failed: {status}", self.pid);
        lines
    }

    /// Kills the helper (SIGKILL) and reaps it.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// A namespace tag unique to this run, set for this process (and inherited by helpers) before
/// anything registers.
pub fn isolate(what: &str) -> String {
    let tag = format!("fed{}_{what}", std::process::id());
    // SAFETY: called first thing in the test, before any thread of this test binary reads the
    // environment (the core and agent threads start with the first registration, after this).
    unsafe { std::env::set_var(stemcheck_live::federation::SHM_TAG_ENV, &tag) };
    tag
}

/// Unlinks every segment of namespace `tag` (the registry and board stay otherwise).
pub fn clean_namespace(tag: &str) {
    let uid = rustix_uid();
    let prefix = format!("stemcheck-{uid}-{tag}-");
    if let Ok(dir) = std::fs::read_dir("/dev/shm") {
        for entry in dir.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

fn rustix_uid() -> u32 {
    // The registry's name carries our uid: read it back from the namespace.
    let name = stemcheck_shm::Namespace::for_current_user().registry_name();
    name.trim_start_matches("/stemcheck-")
        .trim_end_matches("-registry")
        .parse()
        .unwrap()
}

/// Waits (up to [`WAIT_LIMIT`]) until `f` returns something.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// The value of `key=` in a helper's `SNAPSHOT` line.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|item| item.strip_prefix(key)?.strip_prefix('='))
}

/// The instance named `name` in `snapshot`.
pub fn instance<'a>(
    snapshot: &'a GroupSnapshot,
    name: &str,
) -> Option<&'a stemcheck_live::InstanceSnapshot> {
    snapshot.instances.iter().find(|i| i.name == name)
}
