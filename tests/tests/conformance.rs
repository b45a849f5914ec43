//! CLAP conformance, in the spirit of free-audio's clap-validator (which cannot be installed
//! here: it is published neither on crates.io nor on any other registry this project can
//! reach). Each test is named after the clap-validator test it stands in for and checks the
//! same contract through a real CLAP host (clack-host): the descriptor, parameter conversions,
//! state reproducibility, invalid state, parameter fuzzing during processing, and latency.
//! The plugin library is built with `assert_process_allocs`, so any allocation in `process()`
//! aborts the run.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stemcheck_host_tests::host::{bit_identical, descriptor};
use stemcheck_host_tests::signals::noise;
use stemcheck_host_tests::*;

/// A parameter's value read back from its own text must land this close (in plain units) for
/// continuous parameters.
const TEXT_ROUND_TRIP_TOLERANCE: f64 = 1e-3;
/// ... and stepped ones on their step, up to single-precision rounding of the normalised value.
const STEPPED_ROUND_TRIP_TOLERANCE: f64 = 1e-6;

/// clap-validator `descriptor-consistency` and `features-categories`.
#[test]
fn descriptor_consistency_and_features_categories() {
    let (id, name, vendor, version, features) = descriptor();
    assert_eq!(id, "com.stemcheck.stemcheck");
    assert_eq!(name, "Stemcheck");
    assert!(!vendor.is_empty() && !version.is_empty());
    let main_categories = [
        "instrument",
        "audio-effect",
        "note-effect",
        "note-detector",
        "analyzer",
    ];
    assert!(
        features
            .iter()
            .any(|f| main_categories.contains(&f.as_str())),
        "no main category in {features:?}"
    );
    assert!(features.iter().any(|f| f == "analyzer"), "{features:?}");
    // A fresh instance agrees with the factory.
    let _instance = Instance::new("Drums", 2);
}

/// clap-validator `param-conversions`: every value's text reads back as that value, and the
/// defaults are the values a fresh instance has.
#[test]
fn param_conversions() {
    let mut instance = Instance::new("Drums", 2);
    let params = instance.params();
    assert!(
        !params.is_empty(),
        "a plugin without parameters trips hosts"
    );
    for param in &params {
        assert!(
            param.min <= param.default && param.default <= param.max,
            "{param:?}"
        );
        assert_eq!(
            instance.param_value(param.id),
            Some(param.default),
            "{param:?}"
        );
        let values: Vec<f64> = if param.stepped {
            (param.min as i64..=param.max as i64)
                .map(|v| v as f64)
                .collect()
        } else {
            (0..=10)
                .map(|i| param.min + (param.max - param.min) * f64::from(i) / 10.0)
                .collect()
        };
        for value in values {
            let text = instance
                .param_to_text(param.id, value)
                .unwrap_or_else(|| panic!("{}: no text for {value}", param.name));
            assert!(!text.is_empty(), "{}: empty text for {value}", param.name);
            let back = instance
                .param_from_text(param.id, &text)
                .unwrap_or_else(|| panic!("{}: cannot read back '{text}'", param.name));
            let tolerance = if param.stepped {
                STEPPED_ROUND_TRIP_TOLERANCE
            } else {
                TEXT_ROUND_TRIP_TOLERANCE
            };
            assert!(
                (back - value).abs() <= tolerance,
                "{}: {value} -> '{text}' -> {back}",
                param.name
            );
        }
        assert_eq!(
            instance.param_from_text(param.id, "not a value at all"),
            None
        );
    }
}

/// clap-validator `state-reproducibility-basic`: a state loaded into a fresh instance saves
/// back identically.
#[test]
fn state_reproducibility_basic() {
    let mut rng = SmallRng::seed_from_u64(1);
    for round in 0..20 {
        let mut original = Instance::new("Bass", 2);
        let group = ["a", "b", "c", "d", "e", "f", "g", "h"][rng.gen_range(0..8)];
        let role = ["auto", "stem", "master"][rng.gen_range(0..3)];
        let name: String = (0..rng.gen_range(0..24))
            .map(|_| char::from_u32(rng.gen_range(0x20..0x2FF)).unwrap_or('x'))
            .collect();
        original.configure(group, role, &name);
        let saved = original.save_state();

        let mut copy = Instance::new("Another track", 2);
        assert!(copy.load_state(&saved), "round {round}");
        let resaved = copy.save_state();
        let json = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(&bytes[8..]).unwrap();
        assert_eq!(json(&saved), json(&resaved), "round {round}");
        for param in copy.params() {
            assert_eq!(
                copy.param_value(param.id),
                original.param_value(param.id),
                "round {round}: {}",
                param.name
            );
        }
    }
}

/// clap-validator `state-invalid`: garbage state is refused, and the instance goes on working
/// with its settings untouched.
#[test]
fn state_invalid() {
    let mut rng = SmallRng::seed_from_u64(2);
    let mut instance = Instance::new("Keys", 2);
    instance.configure("c", "stem", "Keys");
    let good = instance.save_state();
    let mut refused = 0;
    for _ in 0..50 {
        // Random bytes, a good state cut short, or a good state whose JSON no longer opens.
        let bad: Vec<u8> = match rng.gen_range(0..3) {
            0 => (0..rng.gen_range(1..64)).map(|_| rng.r#gen()).collect(),
            1 => good[..rng.gen_range(0..good.len() - 1)].to_vec(),
            _ => {
                let mut b = good.clone();
                b[8] = b'x';
                b
            }
        };
        if !instance.load_state(&bad) {
            refused += 1;
        }
    }
    assert_eq!(refused, 50, "bad states accepted");
    // Whatever happened, a good state still loads and the instance still passes audio.
    assert!(instance.load_state(&good));
    instance.activate(48_000.0, 256);
    let block = noise(3, 256, 0.5);
    run_audio(&mut [&mut instance], |sides| {
        let input = [block.as_slice(), block.as_slice()];
        let out = sides[0].process(&input, Transport::Playing(0));
        assert!(bit_identical(&out, &input));
    });
}

/// clap-validator `param-fuzz-basic`: random parameter changes at random frames in every
/// block, with random block sizes and hostile audio; the output stays the input, bit for bit.
#[test]
fn param_fuzz_basic() {
    let mut rng = SmallRng::seed_from_u64(3);
    for channels in [1, 2] {
        let mut instance = Instance::new("Fuzz", channels);
        let params = instance.params();
        instance.activate(48_000.0, 1024);
        run_audio(&mut [&mut instance], |sides| {
            let mut pos = 0i64;
            for _ in 0..500 {
                let frames = rng.gen_range(1..=1024usize);
                let mut audio = noise(rng.r#gen(), frames, 1.5);
                for x in audio.iter_mut() {
                    match rng.gen_range(0..200) {
                        0 => *x = f32::NAN,
                        1 => *x = f32::INFINITY,
                        2 => *x = f32::MIN_POSITIVE / 3.0,
                        _ => {}
                    }
                }
                let mut changes: Vec<(u32, u32, f64)> = (0..rng.gen_range(0..6))
                    .map(|_| {
                        let p = &params[rng.gen_range(0..params.len())];
                        let value = if p.stepped {
                            rng.gen_range(p.min as i64..=p.max as i64) as f64
                        } else {
                            rng.gen_range(p.min..=p.max)
                        };
                        (rng.gen_range(0..frames as u32), p.id, value)
                    })
                    .collect();
                changes.sort_by_key(|c| c.0);
                let input: Vec<&[f32]> = vec![&audio; channels];
                let out = sides[0].process_with_params(&input, Transport::Playing(pos), &changes);
                assert!(bit_identical(&out, &input), "{channels} channels at {pos}");
                pos += frames as i64;
            }
        });
    }
}

/// The brief's contract (clap-validator checks that latency is queryable): zero latency, in
/// every layout and at every rate.
#[test]
fn latency_is_zero() {
    for channels in [1, 2] {
        for rate in [44_100.0, 48_000.0, 96_000.0, 192_000.0] {
            let mut instance = Instance::new("Drums", channels);
            instance.activate(rate, 512);
            assert_eq!(
                instance.latency_samples(),
                Some(0),
                "{channels} ch at {rate} Hz"
            );
        }
    }
}
