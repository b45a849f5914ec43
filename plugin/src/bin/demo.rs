//! `stemcheck-demo`: the Stemcheck standalone with a generated session playing in the
//! background of the same process, so the dashboard has something to show (six stems, the Vox
//! stem 10 ms late, a master-bus compressor the stems lack). Used for screenshots:
//! `cargo xtask screenshot`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stemcheck_bus::{BlockInfo, PositionSource};
use stemcheck_live::{InstanceShared, Role};
use stemcheck_plugin::{DEMO_ENV, Stemcheck};
use stemcheck_testkit::process::{Compressor, delay_samples};
use stemcheck_testkit::{Stereo, render_song, sum};

const RATE: f32 = 48_000.0;
const BLOCK: usize = 512;

fn main() {
    // SAFETY: set before any other thread exists.
    unsafe { std::env::set_var(DEMO_ENV, "1") };
    std::thread::spawn(session);
    nice_plug::prelude::nice_export_standalone::<Stemcheck>();
}

fn session() {
    let song = render_song(5, RATE, 30.0).with_ending(1.0, 0.5);
    let vox_source = render_song(9, RATE, 30.0).with_ending(1.0, 0.5);
    let mut stems: Vec<(&str, Stereo)> = song
        .stems
        .iter()
        .map(|s| (s.name, s.audio.clone()))
        .collect();
    stems.push(("Vox", vox_source.stem("Lead").audio.clone()));
    let refs: Vec<&Stereo> = stems.iter().map(|s| &s.1).collect();
    let comp = Compressor {
        threshold_db: -16.0,
        ratio: 3.0,
        attack_ms: 5.0,
        release_ms: 80.0,
    };
    let (master, _) = comp.process(&sum(&refs), RATE);
    // The Vox stem was exported 480 samples (10 ms) late.
    let vox = stems.len() - 1;
    stems[vox].1 = delay_samples(&stems[vox].1, 480);

    let mut lanes = Vec::new();
    for (name, audio, role) in std::iter::once(("Mix Bus", &master, Role::Master))
        .chain(stems.iter().map(|(n, a)| (*n, a, Role::Stem)))
    {
        let shared = Arc::new(InstanceShared::default());
        shared.set_track_name(name);
        shared.set_role(role);
        let registration = stemcheck_live::register(shared.clone(), RATE).expect("the core starts");
        lanes.push((shared, registration, audio));
    }
    let len = master[0].len();
    let start = Instant::now();
    let mut pos = 0usize;
    let mut played = 0usize;
    loop {
        for (_, registration, audio) in lanes.iter_mut() {
            let info = BlockInfo {
                pos_samples: pos as i64,
                source: PositionSource::HostTransport,
                playing: true,
                sample_rate_hz: RATE,
            };
            registration.producer.push_block(
                &info,
                &[&audio[0][pos..pos + BLOCK], &audio[1][pos..pos + BLOCK]],
            );
        }
        pos += BLOCK;
        played += BLOCK;
        if pos + BLOCK > len {
            pos = 0;
        }
        // Real time.
        let due = start + Duration::from_secs_f64(played as f64 / f64::from(RATE));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}
