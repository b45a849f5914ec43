//! Rules for `stem-phase-cancellation`: two stems that lose energy when summed in a low band.

use crate::config::{CANCELLATION_MAX_CORRELATION, CANCELLATION_THRESHOLD_DB};
use crate::finding::{Finding, FindingKind, Severity, Unit};
use crate::measurements::Measurements;

use super::{Diagnosis, format_hz};

impl Diagnosis {
    /// One finding per pair whose loss clears the threshold.
    pub(super) fn cancellations(
        &mut self,
        m: &Measurements,
        confidence: f32,
        out: &mut Vec<Finding>,
    ) {
        // Two parts doubling a line cancel by chance where their phases happen to oppose
        // (a few dB: a correlation of -0.5 costs 3 dB at equal levels); a polarity or timing
        // fault makes them one signal in antiphase, and most of their energy goes.
        for c in m
            .cancellations
            .iter()
            .filter(|c| c.correlation <= CANCELLATION_MAX_CORRELATION)
        {
            let key = format!("{}+{}", c.stems[0], c.stems[1]);
            if self.over(
                FindingKind::StemPhaseCancellation,
                &key,
                -c.loss_db,
                -CANCELLATION_THRESHOLD_DB,
            ) {
                let (lo, hi) = c.band_hz;
                let mut f = Finding::new(
                    FindingKind::StemPhaseCancellation,
                    Severity::Warning,
                    c.stems.to_vec(),
                    f64::from(c.loss_db),
                    Unit::Db,
                    confidence,
                    format!(
                        "{} and {} cancel around {}: {:.1} dB lost when summed.",
                        c.stems[0],
                        c.stems[1],
                        format_hz((lo * hi).sqrt()),
                        -c.loss_db
                    ),
                    format!(
                        "Check the polarity or timing of {} against {} in the low end (or high-pass one of them).",
                        c.stems[1], c.stems[0]
                    ),
                );
                f.band_hz = Some((lo, hi));
                out.push(f);
            }
        }
    }
}

#[cfg(test)]
mod tests;
