//! CLAP conformance, in the spirit of free-audio's clap-validator (which cannot be installed
//! here: it is published neither on crates.io nor on any other registry this project can
//! reach). Each test is named after the clap-validator test it stands in for and checks the
//! same contract through a real CLAP host (clack-host): the descriptor, parameter conversions,
//! state reproducibility, invalid state, parameter fuzzing during processing, latency, and what
//! its `fuzz` command feeds a plugin (subnormal, full-scale, Nyquist and silent input in random
//! block sizes at random rates, in place and out of place, with random parameter changes and
//! transports): the output must never hold a subnormal sample, and hold NaN or infinity only
//! where the input did.
//! The plugin library is built with `assert_process_allocs`, so any allocation in `process()`
//! aborts the run.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stemcheck_host_tests::host::{Placement, descriptor, expected_output, passes_through};
use stemcheck_host_tests::signals::noise;
use stemcheck_host_tests::*;

/// Sample rates the fuzz runs at: clap-validator's presets (it also draws one at random in one
/// configuration out of ten, as [`fuzz_configuration`] does).
const FUZZ_RATES_HZ: [f64; 8] = [
    8_000.0, 11_025.0, 22_050.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0, 384_000.0,
];
/// Largest block sizes the fuzz runs with: clap-validator's presets (or one drawn at random).
const FUZZ_MAX_BLOCKS: [usize; 8] = [64, 128, 256, 512, 1024, 2048, 4096, 16_384];
/// Configurations (rate, block sizes, placement, channels) the fuzz runs through.
const FUZZ_CONFIGURATIONS: usize = 24;
/// Frames processed per configuration (about a second at 48 kHz).
const FUZZ_FRAMES_PER_CONFIGURATION: usize = 48_000;

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
        assert!(passes_through(&out, &input));
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
                assert!(passes_through(&out, &input), "{channels} channels at {pos}");
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

/// One of the signals clap-validator's fuzzer feeds a channel, as it changes from block to block.
#[derive(Debug, Clone, Copy)]
enum FuzzSignal {
    /// Uniform in (-`f32::MIN_POSITIVE`, `f32::MIN_POSITIVE`): almost every sample subnormal.
    Subnormal,
    /// A square wave at full scale or beyond (up to +20 dBFS, 10.0), as a sine sweep's gain
    /// ramp reaches.
    FullScale { level: f32, period_frames: usize },
    /// A cosine at Nyquist: +a, -a, +a, ... (every other sample negated).
    Nyquist { level: f32 },
    /// Digital silence, with negative zeros among the zeros.
    Silence,
    /// Uniform noise at a level from -80 to +20 dBFS.
    Noise { level: f32 },
    /// A sine near DC, whose samples shrink toward zero near its zero crossings.
    NearDc { level: f32 },
    /// Noise riddled with NaN, infinities and subnormals.
    Poison,
}

impl FuzzSignal {
    fn random(rng: &mut SmallRng) -> Self {
        let level_db: f32 = rng.gen_range(-80.0..20.0);
        let level = 10f32.powf(level_db / 20.0);
        match rng.gen_range(0..7) {
            0 => Self::Subnormal,
            1 => Self::FullScale {
                level: rng.gen_range(1.0..=10.0),
                period_frames: rng.gen_range(2..2000),
            },
            2 => Self::Nyquist { level },
            3 => Self::Silence,
            4 => Self::Noise { level },
            5 => Self::NearDc { level },
            _ => Self::Poison,
        }
    }

    /// Sample `frame` (counted from the start of the configuration).
    fn sample(self, rng: &mut SmallRng, frame: usize, rate_hz: f64) -> f32 {
        match self {
            Self::Subnormal => rng.gen_range(-f32::MIN_POSITIVE..f32::MIN_POSITIVE),
            Self::FullScale {
                level,
                period_frames,
            } => {
                if (frame / period_frames.div_ceil(2)).is_multiple_of(2) {
                    level
                } else {
                    -level
                }
            }
            Self::Nyquist { level } => {
                if frame.is_multiple_of(2) {
                    level
                } else {
                    -level
                }
            }
            Self::Silence => {
                if rng.gen_range(0..4) == 0 {
                    -0.0
                } else {
                    0.0
                }
            }
            Self::Noise { level } => rng.gen_range(-level..=level),
            Self::NearDc { level } => {
                level * (std::f64::consts::TAU * frame as f64 / rate_hz).sin() as f32
            }
            Self::Poison => match rng.gen_range(0..8) {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => f32::NEG_INFINITY,
                3 => f32::from_bits(rng.gen_range(1..0x0080_0000)),
                4 => -f32::from_bits(rng.gen_range(1..0x0080_0000)),
                _ => rng.gen_range(-1.0..1.0),
            },
        }
    }
}

/// One configuration of the fuzz: what clap-validator's fuzz runner draws before a stretch of
/// blocks.
#[derive(Debug, Clone, Copy)]
struct FuzzConfiguration {
    rate_hz: f64,
    min_block: usize,
    max_block: usize,
    placement: Placement,
    channels: usize,
}

fn fuzz_configuration(rng: &mut SmallRng) -> FuzzConfiguration {
    let rate_hz = if rng.gen_range(0..10) == 0 {
        rng.gen_range(1_000.0..200_000.0)
    } else {
        FUZZ_RATES_HZ[rng.gen_range(0..FUZZ_RATES_HZ.len())]
    };
    let max_block = if rng.gen_range(0..10) == 0 {
        rng.gen_range(1..10_000)
    } else {
        FUZZ_MAX_BLOCKS[rng.gen_range(0..FUZZ_MAX_BLOCKS.len())]
    };
    let min_block = match rng.gen_range(0..4) {
        0 => max_block,
        1 => 1,
        _ => rng.gen_range(1..=max_block),
    };
    FuzzConfiguration {
        rate_hz,
        min_block,
        max_block,
        placement: if rng.r#gen() {
            Placement::InPlace
        } else {
            Placement::OutOfPlace
        },
        channels: rng.gen_range(1..=2),
    }
}

/// Where `output` breaks the fuzz's rules for `input` on `channel`: a subnormal sample, a NaN or
/// infinity where the input had none, or anything but the input with subnormals flushed.
fn fuzz_violation(output: &[f32], input: &[f32], channel: usize) -> Option<String> {
    if output.len() != input.len() {
        return Some(format!(
            "channel {channel}: {} frames out for {} in",
            output.len(),
            input.len()
        ));
    }
    for (frame, (&out, &inp)) in output.iter().zip(input).enumerate() {
        let at = format!("channel {channel}, frame {frame}");
        if out.is_subnormal() {
            return Some(format!("{at}: subnormal output {out:e} (input {inp:e})"));
        }
        if !out.is_finite() && inp.is_finite() {
            return Some(format!("{at}: {out} out of a finite input {inp:e}"));
        }
        if out.to_bits() != expected_output(inp).to_bits() {
            return Some(format!("{at}: {out:e} out of {inp:e}"));
        }
    }
    None
}

/// clap-validator `fuzz`: every configuration activates an instance at a random rate and block
/// size range, then processes random blocks of the fuzzer's signals (each channel its own,
/// changing now and then), in place or out of place, with random parameter changes at random
/// frames and random transports (playing, stopped, jumping, none). Asserts on every block that
/// the output holds no subnormal sample, holds NaN or infinity only where the input did, and is
/// otherwise the input bit for bit.
#[test]
fn process_fuzz() {
    let mut rng = SmallRng::seed_from_u64(15);
    let mut placements_seen = [0usize; 2];
    let mut subnormals_in = 0usize;
    for configuration_index in 0..FUZZ_CONFIGURATIONS {
        let mut configuration = fuzz_configuration(&mut rng);
        // Both placements for sure, whatever the draws.
        if configuration_index < 2 {
            configuration.placement =
                [Placement::InPlace, Placement::OutOfPlace][configuration_index];
        }
        let FuzzConfiguration {
            rate_hz,
            min_block,
            max_block,
            placement,
            channels,
        } = configuration;
        placements_seen[usize::from(placement == Placement::InPlace)] += 1;
        let mut instance = Instance::new("Fuzz", channels);
        let params = instance.params();
        instance.activate(rate_hz, max_block);
        let mut signals: Vec<FuzzSignal> = (0..channels)
            .map(|_| FuzzSignal::random(&mut rng))
            .collect();
        subnormals_in += run_audio(&mut [&mut instance], |sides| {
            let mut subnormals = 0;
            let mut frame = 0usize;
            let mut pos = rng.gen_range(-10_000i64..1_000_000);
            let mut inputs: Vec<Vec<f32>> = vec![Vec::with_capacity(max_block); channels];
            while frame < FUZZ_FRAMES_PER_CONFIGURATION {
                let frames = match rng.gen_range(0..4) {
                    0 | 1 => rng.gen_range(min_block..=max_block),
                    2 => max_block,
                    _ => min_block,
                };
                for (signal, input) in signals.iter_mut().zip(inputs.iter_mut()) {
                    if rng.gen_range(0..10) == 0 {
                        *signal = FuzzSignal::random(&mut rng);
                    }
                    input.clear();
                    input.extend((0..frames).map(|i| signal.sample(&mut rng, frame + i, rate_hz)));
                    subnormals += input.iter().filter(|x| x.is_subnormal()).count();
                }
                let mut changes: Vec<(u32, u32, f64)> = (0..rng.gen_range(0..4))
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
                let transport = match rng.gen_range(0..20) {
                    0 => Transport::None,
                    1 => Transport::Stopped(pos),
                    2 => {
                        pos = rng.gen_range(-10_000i64..1_000_000);
                        Transport::Playing(pos)
                    }
                    _ => Transport::Playing(pos),
                };
                let input: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
                let output = sides[0].process_block(&input, transport, &changes, placement);
                for (channel, (out, inp)) in output.iter().zip(&input).enumerate() {
                    if let Some(violation) = fuzz_violation(out, inp, channel) {
                        panic!(
                            "{configuration:?}, block at frame {frame} of {frames}: {violation}"
                        );
                    }
                }
                pos += frames as i64;
                frame += frames;
            }
            subnormals
        });
        instance.deactivate();
    }
    assert!(
        placements_seen.iter().all(|&n| n > 0),
        "both placements fuzzed: {placements_seen:?}"
    );
    assert!(
        subnormals_in > 10_000,
        "the fuzz fed subnormals ({subnormals_in})"
    );
}

/// The fuzz's own check can fail: a subnormal passed through, a NaN out of a finite sample, or any
/// other change, are each caught.
#[test]
fn the_fuzz_check_catches_what_the_validator_catches() {
    let tiny = f32::MIN_POSITIVE / 3.0;
    assert!(fuzz_violation(&[0.0, 0.5], &[tiny, 0.5], 0).is_none());
    assert!(fuzz_violation(&[-0.0], &[-tiny], 0).is_none());
    assert!(fuzz_violation(&[f32::NAN], &[f32::NAN], 0).is_none());
    assert!(
        fuzz_violation(&[tiny], &[tiny], 0)
            .unwrap()
            .contains("subnormal")
    );
    assert!(
        fuzz_violation(&[f32::NAN], &[0.5], 0)
            .unwrap()
            .contains("finite input")
    );
    assert!(fuzz_violation(&[0.25], &[0.5], 0).is_some());
    assert!(fuzz_violation(&[0.5], &[0.5, 0.5], 0).is_some());
}
