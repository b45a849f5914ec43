//! Decibels, in one place: amplitude and power ratios to and from dB, with the floor the
//! analysis reports for "nothing" ([`FLOOR_DB`]).

/// What a zero (or vanishing) ratio reads as, in dB.
pub const FLOOR_DB: f32 = -200.0;

/// An amplitude ratio in dB (`20 log10`), floored at `FLOOR_DB`.
pub fn amplitude_to_db(amplitude: f64) -> f32 {
    if amplitude > 0.0 {
        (20.0 * amplitude.log10()).max(f64::from(FLOOR_DB)) as f32
    } else {
        FLOOR_DB
    }
}

/// The energy `num` relative to the energy `den`, in dB ([`FLOOR_DB`] without a reference).
pub fn energy_ratio_db(num: f64, den: f64) -> f32 {
    if den > 0.0 {
        amplitude_to_db((num / den).sqrt())
    } else {
        FLOOR_DB
    }
}

/// A gain in dB as a linear amplitude factor (`10^(db / 20)`).
pub fn db_to_gain(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// [`db_to_gain`] in single precision.
pub fn db_to_gain_f32(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// A power ratio in dB as a linear power factor (`10^(db / 10)`).
pub fn db_to_power(db: f64) -> f64 {
    10f64.powf(db / 10.0)
}

/// [`db_to_power`] in single precision.
pub fn db_to_power_f32(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// A linear amplitude factor in dB (`20 log10`), unfloored.
pub fn gain_to_db(gain: f64) -> f64 {
    20.0 * gain.log10()
}

/// A power ratio in dB (`10 log10`), floored at `floor` (linear) first.
pub fn power_to_db(power: f64, floor: f64) -> f64 {
    10.0 * power.max(floor).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_and_floor() {
        // 0.5 in amplitude is 20 log10(0.5) = -6.0206 dB; a quarter of the energy is the same.
        assert!((amplitude_to_db(0.5) + 6.0206).abs() < 1e-4);
        assert!((energy_ratio_db(1.0, 4.0) + 6.0206).abs() < 1e-4);
        assert_eq!(amplitude_to_db(0.0), FLOOR_DB);
        assert_eq!(energy_ratio_db(1.0, 0.0), FLOOR_DB);
        assert!((db_to_gain(-6.0206) - 0.5).abs() < 1e-5);
        assert!((db_to_power(-3.0103) - 0.5).abs() < 1e-5);
        assert!((gain_to_db(2.0) - 6.0206).abs() < 1e-4);
        assert_eq!(power_to_db(0.0, 1e-30), -300.0);
    }
}
