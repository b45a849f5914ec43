//! Level statistics against their plain definitions: true peak, clipping, DC and RMS.

use super::*;

#[test]
fn a_quarter_rate_sine_at_45_degrees_has_a_true_peak_3_db_over_its_samples() {
    // Samples of sin(pi/2 n + pi/4): all +/-0.7071, but the waveform reaches 1.0.
    let x: Vec<f32> = (0..4800)
        .map(|n| (std::f32::consts::FRAC_PI_2 * n as f32 + std::f32::consts::FRAC_PI_4).sin())
        .collect();
    let mut stats = SignalStats::default();
    stats.add([&x, &x], 1);
    let summary = stats.summary();
    assert!((summary.peak_dbfs - -3.01).abs() < 0.01, "{summary:?}");
    // BS.1770's 4x method reads within a few tenths of a dB of the waveform's peak.
    assert!(summary.true_peak_dbtp.abs() < 0.2, "{summary:?}");
}

#[test]
fn clipping_counts_overs_and_flat_tops_but_not_single_full_scale_samples() {
    let mut x = vec![0.5f32; 100];
    x[10] = 1.0; // one sample at full scale: not clipping
    x[20..25].fill(1.0); // a flat top of 5 samples
    x[50] = 1.5; // a float over
    let mut stats = SignalStats::default();
    stats.add([&x, &x], 1);
    assert_eq!(stats.summary().clipped_samples, 6);
}

#[test]
fn dc_and_rms() {
    let x = vec![0.01f32; 1000];
    let mut stats = SignalStats::default();
    stats.add([&x, &x], 2);
    let s = stats.summary();
    assert!((s.dc_dbfs - -40.0).abs() < 0.01);
    assert!((s.rms_dbfs - -40.0).abs() < 0.01);
}

#[test]
fn true_peak_equals_the_plain_gated_definition_whatever_the_blocks() {
    // Noise with loud bursts and quiet stretches, then the worst case for the bound that
    // skips blocks: bursts of the 12 samples that make one phase's largest inter-sample
    // value (each sample full scale with its tap's sign, so the value is the bound
    // itself), each burst 1% louder than the last, fed in uneven blocks. Every burst
    // raises the true peak by less than a bound 1% too low would let through.
    let interpolator = Interpolator::new();
    let worst_phase = interpolator
        .phases
        .iter()
        .max_by(|a, b| {
            let gain = |p: &[f32; TAPS]| p.iter().map(|h| h.abs()).sum::<f32>();
            gain(a).total_cmp(&gain(b))
        })
        .unwrap();
    let mut seed = 99u32;
    let mut next = || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    };
    let x: Vec<f32> = (0..20_000)
        .map(|n| {
            let level = match (n / 1500) % 4 {
                0 => 0.1,
                1 => 0.6,
                2 => 0.45,
                _ => 0.3,
            };
            if n < 12_000 {
                level * next()
            } else {
                let amplitude = 0.5 + 0.01 * ((n - 12_000) / 250) as f32;
                match (n - 12_000) % 250 {
                    k @ 0..TAPS => amplitude * worst_phase[k].signum(),
                    _ => 0.0,
                }
            }
        })
        .collect();
    // Every point next to a loud sample, interpolated one by one.
    let mut expected = x.iter().fold(0.0f32, |p, v| p.max(v.abs()));
    let mut padded = vec![0.0f32; TAPS];
    padded.extend_from_slice(&x);
    for j in TAPS / 2 - 1..padded.len() - (TAPS / 2 + 1) {
        if padded[j].abs() > TRUE_PEAK_GATE || padded[j + 1].abs() > TRUE_PEAK_GATE {
            let window = &padded[j - (TAPS / 2 - 1)..=j + TAPS / 2];
            for phase in &interpolator.phases {
                let y: f32 = phase.iter().zip(window).map(|(h, v)| h * v).sum();
                expected = expected.max(y.abs());
            }
        }
    }
    let mut stats = SignalStats::default();
    let mut pos = 0;
    for size in [1, 7, 512, 300, 13, 2048, 64].iter().cycle() {
        if pos >= x.len() {
            break;
        }
        let end = (pos + size).min(x.len());
        stats.add([&x[pos..end], &x[pos..end]], 1);
        pos = end;
    }
    assert_eq!(stats.channels[0].true_peak, expected);
    // The last burst: samples at 0.81, its true peak the bound times that.
    let last = 0.5 + 0.01 * 31.0;
    assert!(
        (expected - last * interpolator.gain / 1.001).abs() < 1e-4,
        "{expected}"
    );
}

#[test]
fn the_interpolator_gain_bounds_every_phase_tightly() {
    let interpolator = Interpolator::new();
    for phase in &interpolator.phases {
        // The worst window: full scale with each tap's sign.
        let worst: f32 = phase.iter().map(|h| h * h.signum()).sum();
        assert!(worst <= interpolator.gain);
    }
    let worst = interpolator
        .phases
        .iter()
        .map(|phase| phase.iter().map(|h| h.abs()).sum::<f32>())
        .fold(0.0f32, f32::max);
    assert!(worst > interpolator.gain / 1.01);
}
