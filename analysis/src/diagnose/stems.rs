//! Rules for `stem-*` findings: a stem early or late against the others (`stem-offset`),
//! polarity-inverted (`stem-polarity`), or at another gain in the master (`stem-gain`).

use crate::config::{
    CAUSE_MIN_SHARE, STEM_ABSENT_DB, STEM_GAIN_ERROR_DB, STEM_GAIN_MAX_OVER_RESIDUAL_DB,
    STEM_GAIN_THRESHOLD_DB, STEM_OFFSET_ERROR_SAMPLES, STEM_OFFSET_MIN_SAMPLES,
};
use crate::finding::{Finding, FindingKind, Severity, Unit};
use crate::measurements::Measurements;

use super::{Causes, Diagnosis};

impl Diagnosis {
    /// `stem-offset`: a placed stem whose offset explains a real share of the whole residual.
    pub(super) fn stem_offsets(
        &mut self,
        m: &Measurements,
        causes: &mut Causes,
        out: &mut Vec<Finding>,
    ) {
        for stem in &m.stems {
            let name = stem.name.clone();
            let offset = stem.offset_samples;
            if stem.lag_locked
                && causes.offset_share(stem.offset_explains_db, stem.lag_offset_samples)
                    >= CAUSE_MIN_SHARE
                && self.over_samples(
                    FindingKind::StemOffset,
                    &name,
                    offset.abs() as f32,
                    STEM_OFFSET_MIN_SAMPLES,
                )
            {
                causes.explained = true;
                let ms = offset * 1000.0 / f64::from(m.sample_rate_hz);
                let (state, action) = if offset > 0.0 {
                    ("early", "Delay")
                } else {
                    ("late", "Advance")
                };
                let samples = if offset.abs() >= 1.0 {
                    format!("{:.0} samples", offset.abs())
                } else {
                    format!("{:.2} samples", offset.abs())
                };
                out.push(Finding::new(
                    FindingKind::StemOffset,
                    if offset.abs() >= STEM_OFFSET_ERROR_SAMPLES { Severity::Error } else { Severity::Warning },
                    vec![name.clone()],
                    offset,
                    Unit::Samples,
                    causes.confidence,
                    format!("{name} is {samples} ({:.2} ms) {state} against the other stems.", ms.abs()),
                    format!(
                        "{action} {name} by {samples}: check plugin delay compensation on its bus (or re-export it)."
                    ),
                ));
            }
        }
    }

    /// `stem-polarity` and `stem-gain`: a stem whose fitted gain explains a real share of what
    /// is left; inverted, or off by more than the threshold.
    pub(super) fn stem_gains(
        &mut self,
        m: &Measurements,
        causes: &mut Causes,
        out: &mut Vec<Finding>,
    ) {
        for stem in &m.stems {
            let name = stem.name.clone();
            let gain_share = causes.stem_share(stem.gain_explains_db, stem.gain_db);
            // A stem the master barely holds has no polarity worth naming: its sign was fitted
            // to what little of it is there. It is a stem gain far down (the stem is missing
            // from the master, or the master lacks it).
            let absent = stem.gain_db <= STEM_ABSENT_DB;
            if stem.inverted && !absent && gain_share >= CAUSE_MIN_SHARE {
                causes.explained = true;
                causes.take(stem.gain_explains_db);
                causes.inverted = true;
                self.next.insert((FindingKind::StemPolarity, name.clone()));
                out.push(Finding::new(
                    FindingKind::StemPolarity,
                    Severity::Error,
                    vec![name.clone()],
                    f64::from(stem.gain_db),
                    Unit::Db,
                    causes.confidence,
                    format!("{name} is polarity-inverted against the master."),
                    format!(
                        "Flip {name}'s polarity (and check for a phase-invert switch on its bus)."
                    ),
                ));
            } else if gain_share >= CAUSE_MIN_SHARE
                && stem.gain_explains_db <= m.residual_spectral_db + STEM_GAIN_MAX_OVER_RESIDUAL_DB
                && self.over(
                    FindingKind::StemGain,
                    &name,
                    stem.gain_db.abs(),
                    STEM_GAIN_THRESHOLD_DB,
                )
            {
                causes.explained = true;
                causes.take(stem.gain_explains_db);
                let direction = if stem.gain_db > 0.0 {
                    "louder"
                } else {
                    "quieter"
                };
                let message = if absent {
                    format!(
                        "{name} is barely in the master ({:.1} dB): the master lacks it, or the stem holds a part the mix does not.",
                        stem.gain_db
                    )
                } else {
                    format!(
                        "{name} is {:.2} dB {direction} in the master than in its stem.",
                        stem.gain_db.abs()
                    )
                };
                out.push(Finding::new(
                    FindingKind::StemGain,
                    if stem.gain_db.abs() >= STEM_GAIN_ERROR_DB { Severity::Error } else { Severity::Warning },
                    vec![name.clone()],
                    f64::from(stem.gain_db),
                    Unit::Db,
                    causes.confidence,
                    message,
                    format!(
                        "Match {name}'s bus level to what fed the master (a fader or send changed after the mix?), then re-export it."
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
