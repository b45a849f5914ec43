//! The ingest pass against its scalar definition, bit for bit.

use super::*;

#[test]
fn the_wide_ingest_pass_cleans_sums_and_measures_like_the_scalar_definition() {
    // Odd length (a remainder after the four-wide part) with every kind of bad sample.
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1e-42, // subnormal
        -1e-40,
        3e6, // absurdly loud: clamped
        -0.0,
        0.0,
    ];
    let len = 203;
    let mut seed = 12345u32;
    let mut next = || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    };
    let mut l: Vec<f32> = (0..len).map(|_| next()).collect();
    let mut r: Vec<f32> = (0..len).map(|_| next()).collect();
    for (i, &x) in specials.iter().enumerate() {
        l[i * 23] = x;
        r[len - 1 - i * 7] = x;
    }
    let before = [vec![0.25f32; len], vec![-0.25f32; len]];
    // What was in the next sum's buffers is overwritten.
    let mut sum = [vec![9.0f32; len], vec![9.0f32; len]];
    let mut mid = vec![0.0f32; len];
    let [sum_l, sum_r] = &mut sum;
    let got = gather_stem([&l, &r], [&before[0], &before[1]], [sum_l, sum_r], &mut mid);

    let mut expected_non_finite = 0;
    let cl: Vec<f32> = l
        .iter()
        .map(|&x| clean(x, &mut expected_non_finite))
        .collect();
    let cr: Vec<f32> = r
        .iter()
        .map(|&x| clean(x, &mut expected_non_finite))
        .collect();
    assert_eq!(got.non_finite, expected_non_finite);
    assert_eq!(expected_non_finite, 6);
    assert!(got.cleaned);
    for i in 0..len {
        assert_eq!(sum[0][i], 0.25 + cl[i], "left sum at {i}");
        assert_eq!(sum[1][i], -0.25 + cr[i], "right sum at {i}");
        assert_eq!(mid[i], 0.5 * (cl[i] + cr[i]), "mid at {i}");
    }
    for (lanes, clean) in got.lanes.iter().zip([&cl, &cr]) {
        let peak = lanes.peak.iter().fold(0.0f32, |a, &b| a.max(b));
        let expected_peak = clean.iter().fold(0.0f32, |a, &b| a.max(b.abs()));
        assert_eq!(peak, expected_peak);
        assert_eq!(peak, MAX_SAMPLE_MAGNITUDE);
        let total: f64 = lanes.sum.iter().map(|&v| f64::from(v)).sum();
        let expected: f64 = clean.iter().map(|&v| f64::from(v)).sum();
        // Single-precision partial sums: relative to the magnitudes added.
        let scale: f64 = clean.iter().map(|&v| f64::from(v.abs())).sum();
        assert!(
            (total - expected).abs() < 1e-6 * scale,
            "{total} vs {expected}"
        );
        let squares: f64 = lanes.squares.iter().map(|&v| f64::from(v)).sum();
        let expected: f64 = clean.iter().map(|&v| f64::from(v * v)).sum();
        assert!(
            (squares - expected).abs() < 1e-6 * expected,
            "{squares} vs {expected}"
        );
    }

    // Clean input: nothing to report.
    let quiet: Vec<f32> = (0..len).map(|_| next() * 0.5).collect();
    let zeros = vec![0.0f32; len];
    let mut sum = [vec![9.0f32; len], vec![9.0f32; len]];
    let [sum_l, sum_r] = &mut sum;
    let got = gather_stem([&quiet, &quiet], [&zeros, &zeros], [sum_l, sum_r], &mut mid);
    assert!(!got.cleaned);
    assert_eq!(got.non_finite, 0);
    assert_eq!(sum[0], quiet);
}

#[test]
fn the_fast_ingest_pass_gives_the_cleaning_pass_bits_and_hands_over_every_bad_sample() {
    let len = 203; // a remainder after the four-wide part
    let mut seed = 777u32;
    let mut next = || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    };
    let base: [Vec<f32>; 2] = [0, 1].map(|_| (0..len).map(|_| next()).collect());
    // The sum of the stems before this one.
    let earlier: [Vec<f32>; 2] = [0, 1].map(|_| (0..len).map(|_| next()).collect());
    // Each bad kind alone, in the four-wide part and in the remainder, either channel.
    let bad = [
        f32::NAN,
        f32::INFINITY,
        -f32::INFINITY,
        1e-42,
        -1e-39,
        MAX_SAMPLE_MAGNITUDE,
        -3e6,
        f32::MAX,
    ];
    let mut cases = vec![None];
    for &x in &bad {
        for at in [0, 101, len - 1] {
            for channel in 0..2 {
                cases.push(Some((x, at, channel)));
            }
        }
    }
    for case in cases {
        let mut audio = base.clone();
        if let Some((x, at, channel)) = case {
            audio[channel][at] = x;
            // Silence beside it, so that a subnormal let through would show in the mid.
            audio[1 - channel][at] = 0.0;
        }
        type Gather = fn([&[f32]; 2], [&[f32]; 2], [&mut [f32]; 2], &mut [f32]) -> Gathered;
        let run = |gather: Gather| {
            let mut sum = [vec![9.0f32; len], vec![9.0f32; len]];
            let mut mid = vec![0.0f32; len];
            let [sl, sr] = &mut sum;
            let before = [&earlier[0][..], &earlier[1][..]];
            let got = gather([&audio[0], &audio[1]], before, [sl, sr], &mut mid);
            (got, sum, mid)
        };
        let (fast, fast_sum, fast_mid) = run(gather_stem);
        let (slow, slow_sum, slow_mid) = run(gather_stem_cleaning);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fast_sum[0]), bits(&slow_sum[0]), "{case:?}");
        assert_eq!(bits(&fast_sum[1]), bits(&slow_sum[1]), "{case:?}");
        assert_eq!(bits(&fast_mid), bits(&slow_mid), "{case:?}");
        assert_eq!(fast.non_finite, slow.non_finite, "{case:?}");
        assert_eq!(fast.cleaned, slow.cleaned, "{case:?}");
        assert_eq!(
            fast.cleaned,
            case.is_some_and(|(x, ..)| x.abs() >= 1.0 || !x.is_finite())
        );
        for (f, s) in fast.lanes.iter().zip(&slow.lanes) {
            assert_eq!(bits(&f.peak), bits(&s.peak), "{case:?}");
            assert_eq!(bits(&f.sum), bits(&s.sum), "{case:?}");
            assert_eq!(bits(&f.squares), bits(&s.squares), "{case:?}");
        }
    }
}
