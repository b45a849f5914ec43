//! Fractional-octave bands over FFT bins.

/// Nominal 1/3-octave centre frequencies from 25 Hz to 20 kHz (IEC 61260).
pub const THIRD_OCTAVE_CENTRES_HZ: [f32; 30] = [
    25.0, 31.5, 40.0, 50.0, 63.0, 80.0, 100.0, 125.0, 160.0, 200.0, 250.0, 315.0, 400.0, 500.0,
    630.0, 800.0, 1000.0, 1250.0, 1600.0, 2000.0, 2500.0, 3150.0, 4000.0, 5000.0, 6300.0, 8000.0,
    10000.0, 12500.0, 16000.0, 20000.0,
];

/// One band: its centre, edges and the FFT bins in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub centre_hz: f32,
    pub low_hz: f32,
    pub high_hz: f32,
    /// Bins `[first_bin, end_bin)`.
    pub first_bin: usize,
    pub end_bin: usize,
}

/// The 1/3-octave bands that fit below `max_hz` for an FFT of `fft_len` at `sample_rate_hz`,
/// each holding at least one bin.
pub fn third_octave_bands(sample_rate_hz: f32, fft_len: usize, max_hz: f32) -> Vec<Band> {
    let bin_hz = sample_rate_hz / fft_len as f32;
    let edge = 2f32.powf(1.0 / 6.0);
    THIRD_OCTAVE_CENTRES_HZ
        .iter()
        .enumerate()
        .filter_map(|(index, &centre)| {
            // Edges from the exact base-2 centres (the nominal ones are rounded).
            let exact = 1000.0 * 2f32.powf((index as f32 - 16.0) / 3.0);
            let (low, high) = (exact / edge, exact * edge);
            if high > max_hz {
                return None;
            }
            let first_bin = (low / bin_hz).ceil() as usize;
            let end_bin = ((high / bin_hz).ceil() as usize).max(first_bin + 1);
            Some(Band {
                centre_hz: centre,
                low_hz: low,
                high_hz: high,
                first_bin: first_bin.max(1),
                end_bin,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_tile_the_spectrum_without_overlap() {
        let bands = third_octave_bands(48_000.0, 8192, 20_000.0);
        assert_eq!(bands.first().unwrap().centre_hz, 25.0);
        for pair in bands.windows(2) {
            assert!(pair[0].end_bin <= pair[1].first_bin, "{pair:?}");
        }
        // 1 kHz sits in the 1 kHz band: bin 1000 / 5.86 = 170.7.
        let k = bands.iter().find(|b| b.centre_hz == 1000.0).unwrap();
        assert!(k.first_bin <= 171 && k.end_bin > 171);
    }
}
