//! What the checker decides about time, beyond the analysis' live rules: which files to shift
//! (a stem seconds early or late, or the mix against every stem), which stem matches nothing,
//! and the findings that say so. Offline, a mix offset against every stem is a delivery defect
//! (an editor drops stems and mix on one timeline), so `master-latency` is a warning here where
//! the live plugin, whose host compensates latency, reports it as information.

use stemcheck_analysis::{Finding, FindingKind, Measurements, Severity, Unit};

use crate::align::{
    CLEAR_MAX_RUNNER_UP_RATIO, CoarseMatch, Envelope, LIVE_LAG_RANGE_SECONDS, match_envelopes,
};
use crate::coherence::Coherence;

/// A stem is shifted on its own only when its correlation peak is this prominent (a looped
/// part also matches one bar off, at a lower peak; see [`crate::align::MATCH_MIN_PROMINENCE`]
/// for a mere match).
const SHIFT_MIN_PROMINENCE: f32 = 16.0;
/// A stem's match against what the mix holds of it alone (the mix less every other stem, see
/// [`Envelope::isolated`]) counts only this prominent: there the stem meets its own part, and
/// its peak stands 88 to 146 over the correlation's RMS (measured: a keys part 2 s late on a
/// 10 s cue, a brass and a guitar part 1 s late under a looped band), where a part from another
/// version of the song (same tempo and key: its onsets meet the real part's by chance) stands
/// at 20, and a reverb return against another stem's misplaced copy (its own sources) at 18.
/// 40 sits between, twice the chance matches.
const ISOLATED_MATCH_MIN_PROMINENCE: f32 = 40.0;
/// A stem is said to match nothing when, besides matching nowhere by its envelopes, the first
/// pass fitted it into the mix at this gain or lower, in dB (-30 dB: it explains nothing where
/// it is either); or when, shifted to where its envelopes matched best, the shifted pass fits it
/// at [`PLACED_NOTHING_MAX_GAIN_DB`] or lower, or finds its coherence with the mix at chance
/// there (see [`Alignment::confirm`]). NOTE: the analysis' lag lock
/// is no criterion: a reverb return often locks no lag, yet belongs to the mix.
const NOTHING_MAX_GAIN_DB: f32 = -30.0;
/// A stem shifted to where its envelopes matched best that the shifted pass fits into the mix
/// at this gain or lower, in dB (-20 dB: the mix holds a hundredth of its power there), is not
/// that stem: a part from another version of the song whose onsets met the mix's by chance
/// (same tempo, same key). A real stem placed right sits near 0 dB, or at its gain defect.
const PLACED_NOTHING_MAX_GAIN_DB: f32 = -20.0;
/// A stem the first pass found in place (its lag locked, its gain in the mix not below -1 dB,
/// inverted or not) fits where it is: the envelopes never move it. The decimated files are a
/// coarse view, the analysis' fit at full rate is not. Only a gain *below* 0 dB can come from a
/// misplaced stem (a least-squares gain on partly coherent audio is the coherent share, under
/// the true gain); a stem louder in the mix than in its file has a gain defect, named as such.
const FITS_MAX_GAIN_LOSS_DB: f32 = 1.0;
/// A stem whose waveform the first pass locked in place (its lag within
/// [`IN_PLACE_MAX_OFFSET_SECONDS`] of the mix, at a gain of [`PARTLY_IN_PLACE_MIN_GAIN_DB`] or
/// more) is not moved by an envelope match that finds it late by this much or less, in seconds:
/// a reverb or delay return's envelope is its sources' smeared forward (a room's build-up, an
/// echo), so its onsets match the dry parts' that many milliseconds late, while its waveform
/// matches itself in the mix in place. A stem truly late by that much locks no lag at 0 (its
/// waveform is elsewhere). Measured on the development corpus: a room reverb and delay return
/// found 79 ms late by its envelopes whenever another stem was missing or misplaced (its gain
/// then fits 1 to 5 dB down); no truly late stem was locked in place (the ones found late by up
/// to 0.25 s were all unlocked; stems locked in place were found early, or seconds off).
const RETURN_TRAIL_MAX_SECONDS: f64 = 0.25;
/// A stem the first pass left where it is (its lag within [`IN_PLACE_MAX_OFFSET_SECONDS`] of
/// the mix's, locked or not: a diffuse return seldom locks one) is not moved by an envelope
/// match that finds it later than [`RETURN_TRAIL_MAX_SECONDS`] and by this much or less, in
/// seconds, unless that match stands out as a part matched against itself does
/// ([`ISOLATED_MATCH_MIN_PROMINENCE`]): a delay return's echoes repeat its sources a delay time
/// later, and its onsets match the dry parts' there (the electronic piece's dotted-eighth
/// delay, 0.43 s: prominence 21.5 once the mix was searched at sub-hop phases, and 0.43 s again
/// beside a synth exported from its first region, on csound's bank). Stems truly late by 0.1 to
/// 1 s stood at 129 to 161 (five pieces, two sound sets). 1.5 s: a dotted quarter at 60 BPM.
/// A lag other stems are found at too is no echo: the mix is what is off (a mix 1.5 s early
/// against the test song's stems, found 1.5 s late at 21 to 32 and left in place unlocked).
const RETURN_ECHO_MAX_SECONDS: f64 = 1.5;
/// See [`RETURN_TRAIL_MAX_SECONDS`]: the first pass' lag within this of the mix's, in seconds
/// (1 ms, 48 samples at 48 kHz). A return's diffuse waveform locks a few samples off when the
/// master pumps (2.5 samples under a compressor taking 12 dB), and an offset that small is the
/// analysis' own to name; a stem truly late by 0.1 s locks no lag near 0.
const IN_PLACE_MAX_OFFSET_SECONDS: f64 = 0.001;
/// See [`RETURN_TRAIL_MAX_SECONDS`]: fitted at this gain or more, in dB (-20 dB, as
/// [`PLACED_NOTHING_MAX_GAIN_DB`]: a hundredth of its power coherent with the mix where it is;
/// a return exported 12 dB hot fits at -12 dB in place).
const PARTLY_IN_PLACE_MIN_GAIN_DB: f32 = PLACED_NOTHING_MAX_GAIN_DB;

/// The shortest covered stretch analysed on its own, in frames (a few seconds at 48 kHz):
/// shorter, the whole timeline is analysed.
const MIN_COVERED_FRAMES: u64 = 3 * 48_000;

/// Which files the analysis pass shifts, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Alignment {
    /// Per file (the mix first): the delay applied before the analysis, in samples at the
    /// analysis rate (negative: the file's start is dropped, i.e. it is advanced).
    pub delay_samples: Vec<i64>,
    /// Per file: whether its audio goes into the analysis (a stem that matches nothing does
    /// not).
    pub analysed: Vec<bool>,
    /// Per file: the coarse offset it was shifted by, in samples. For a stem: how late it is
    /// against the mix; for the mix: how late every stem is against it.
    coarse_late_samples: Vec<Option<i64>>,
    /// Per file: the coarse match, when one was searched.
    matches: Vec<Option<CoarseMatch>>,
    /// The offsets searched reach this far either way, in seconds (the files' length).
    searched_seconds: f64,
}

impl Alignment {
    /// No shift, every file analysed.
    pub fn unchanged(files: usize) -> Self {
        Self {
            delay_samples: vec![0; files],
            analysed: vec![true; files],
            coarse_late_samples: vec![None; files],
            matches: vec![None; files],
            searched_seconds: 0.0,
        }
    }

    /// Decides the shifts from the files' envelopes (the mix first), the residual's (the mix
    /// minus every stem, when kept), their lengths in frames at the analysis rate (`frames`,
    /// the mix first) and what the first pass measured (`first`).
    pub fn find(
        envelopes: &[Envelope],
        residual: Option<&Envelope>,
        frames: &[u64],
        first: &Measurements,
        rate_hz: u32,
    ) -> Self {
        let mut out = Self::unchanged(envelopes.len());
        let live = (LIVE_LAG_RANGE_SECONDS * f64::from(rate_hz)).round() as i64;
        out.searched_seconds = envelopes[0].points.len() as f64 * envelopes[0].hop_frames() as f64
            / f64::from(rate_hz);
        // Inverted or not: a stem in place but inverted fits at its full gain, with the sign
        // flipped; one misplaced (half a period off on a tonal part) fits at a gain well under
        // 0 dB, its coherent share.
        let misfits: Vec<usize> = (1..envelopes.len())
            .filter(|&i| {
                !first.stems.iter().any(|s| {
                    s.id == i as u32 && s.lag_locked && s.gain_db >= -FITS_MAX_GAIN_LOSS_DB
                })
            })
            .collect();
        // Each stem's search is its own (a few FFTs over its whole length): one per core.
        let found = crate::pool::in_parallel(
            &misfits,
            |&i| {
                // The offset the lengths imply: the stem's end lined up with the mix's.
                let by_lengths = frames[i] as i64 - frames[0] as i64;
                let prior = (by_lengths.abs() > live).then_some(by_lengths);
                let in_mix = match_envelopes(&envelopes[i], &envelopes[0], rate_hz, prior);
                // Against what the mix holds of this stem alone (the other stems taken out):
                // taken when it is the part matched against itself (see
                // [`ISOLATED_MATCH_MIN_PROMINENCE`]) and stands out more than in the mix.
                let alone = residual
                    .and_then(|r| {
                        let isolated = Envelope::isolated(r, &envelopes[i]);
                        match_envelopes(&envelopes[i], &isolated, rate_hz, prior)
                    })
                    .filter(|a| a.prominence >= ISOLATED_MATCH_MIN_PROMINENCE);
                match (in_mix, alone) {
                    (Some(m), Some(a)) if a.prominence > m.prominence => Some(a),
                    (None, Some(a)) => Some(a),
                    (m, _) => m,
                }
            },
            |_| {},
        );
        for (&i, m) in misfits.iter().zip(found) {
            out.matches[i] = m;
        }
        // A return found late by its envelopes only: see [`RETURN_TRAIL_MAX_SECONDS`].
        let trail_max = (RETURN_TRAIL_MAX_SECONDS * f64::from(rate_hz)).round() as i64;
        let echo_max = (RETURN_ECHO_MAX_SECONDS * f64::from(rate_hz)).round() as i64;
        for &i in &misfits {
            let locked_in_place = first.stems.iter().any(|s| {
                s.id == i as u32
                    && s.lag_locked
                    && s.offset_samples.abs() <= IN_PLACE_MAX_OFFSET_SECONDS * f64::from(rate_hz)
                    && s.gain_db >= PARTLY_IN_PLACE_MIN_GAIN_DB
            });
            let trails =
                out.matches[i].is_some_and(|m| m.late_samples > 0 && m.late_samples <= trail_max);
            let left_in_place = first.stems.iter().any(|s| {
                s.id == i as u32
                    && s.offset_samples.abs() <= IN_PLACE_MAX_OFFSET_SECONDS * f64::from(rate_hz)
            });
            // An echo is the return's own: a lag other stems are found at too is the mix's
            // offset (every stem late alike), not an echo.
            let shared = |late: i64| {
                misfits.iter().any(|&j| {
                    j != i
                        && out.matches[j]
                            .is_some_and(|o| o.matches() && (o.late_samples - late).abs() <= live)
                })
            };
            let echoes = out.matches[i].is_some_and(|m| {
                m.late_samples > trail_max
                    && m.late_samples <= echo_max
                    && m.prominence < ISOLATED_MATCH_MIN_PROMINENCE
                    && !shared(m.late_samples)
            });
            if (locked_in_place && trails) || (left_in_place && echoes) {
                out.matches[i] = None;
            }
        }
        let matched: Vec<(usize, i64)> = out
            .matches
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.filter(CoarseMatch::matches).map(|m| (i, m.late_samples)))
            .collect();
        if matched.is_empty() {
            // Nothing to go by: no stem is left out on envelopes alone.
            return out;
        }
        for (i, m) in out.matches.iter().enumerate() {
            let explains_nothing = first
                .stems
                .iter()
                .any(|s| s.id == i as u32 && s.gain_db <= NOTHING_MAX_GAIN_DB);
            if m.is_some_and(|m| m.matches_nothing()) && explains_nothing {
                out.analysed[i] = false;
            }
        }
        let mut sorted: Vec<i64> = matched.iter().map(|&(_, l)| l).collect();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        // Stems that agree with the median within the analysis' range (it refines the rest).
        let agreeing = sorted
            .iter()
            .filter(|&&l| (l - median).abs() <= live)
            .count();
        let stems = envelopes.len() - 1;
        // With no stem in place in the first pass, the stems that agree need only outnumber
        // those found elsewhere that stand out (a pad or a return may match nowhere clearly):
        // one mix offset is fewer defects than as many stems offset alike. (At 44.1 kHz a mix
        // 48,000 samples late, 1090.9 hops, had three of six stems agree, the synth and the
        // brass match nothing clearly: the three were read as starting early.)
        let elsewhere = matched
            .iter()
            .filter(|&&(i, l)| {
                (l - median).abs() > live
                    && out.matches[i].is_some_and(|m| m.prominence >= SHIFT_MIN_PROMINENCE)
            })
            .count();
        let none_in_place = misfits.len() == stems;
        let most = 2 * agreeing > stems || (none_in_place && agreeing > elsewhere);
        if median.abs() > live && agreeing >= 2 && most {
            // Most stems late alike: the mix is what is early. Delay the mix instead.
            out.delay_samples[0] = median;
            out.coarse_late_samples[0] = Some(median);
        } else {
            let beyond: Vec<(usize, i64, CoarseMatch)> = matched
                .iter()
                .filter(|&&(_, late)| late.abs() > live)
                .filter_map(|&(i, late)| out.matches[i].map(|m| (i, late, m)))
                .collect();
            let prominent: Vec<(usize, i64)> = beyond
                .iter()
                .filter(|(_, _, m)| m.prominence >= SHIFT_MIN_PROMINENCE)
                .map(|&(i, late, _)| (i, late))
                .collect();
            // A match that is not that prominent, but clear of any other peak (or where the
            // lengths put it), is shifted only when it is the one stem to move: one cause per
            // effect. With a stem seconds off, the others (a reverb return fed from it) misfit
            // in the first pass as a consequence, and their smeared envelopes match near it.
            let shifted = if prominent.is_empty() {
                beyond
                    .iter()
                    .filter(|(_, _, m)| {
                        m.runner_up_ratio <= CLEAR_MAX_RUNNER_UP_RATIO || m.by_lengths
                    })
                    .max_by(|a, b| a.2.prominence.total_cmp(&b.2.prominence))
                    .map(|&(i, late, _)| vec![(i, late)])
                    .unwrap_or_default()
            } else {
                prominent
            };
            for (i, late) in shifted {
                out.delay_samples[i] = -late;
                out.coarse_late_samples[i] = Some(late);
            }
        }
        out
    }

    /// The stretch of the timeline every shifted file covers, in frames at the analysis rate
    /// (`frames`: per file, its length there), or `None` to analyse all of it. A stem shifted by
    /// seconds has no audio over those seconds at one end (its export was cut there, or its
    /// pre-roll dropped): that is a consequence of its start offset, already named, not missing
    /// content in the mix, so only the stretch where every shifted file has audio is analysed.
    pub fn covered_span(&self, frames: &[u64]) -> Option<(u64, u64)> {
        let mut span = (0u64, u64::MAX);
        let mut any = false;
        for (i, (&delay, &length)) in self.delay_samples.iter().zip(frames).enumerate() {
            if delay == 0 || !self.analysed[i] {
                continue;
            }
            any = true;
            let start = delay.max(0) as u64;
            let end = (length as i64 + delay).max(0) as u64;
            span = (span.0.max(start), span.1.min(end));
        }
        (any && span.1 > span.0.saturating_add(MIN_COVERED_FRAMES)).then_some(span)
    }

    /// Checks every shift against the shifted pass' coherence (`coherence`): a stem shifted to
    /// the best lag its envelopes gave whose coherence with the mix is still at chance there
    /// (while another stem's is not) matches nothing after all: its onsets lined up with the
    /// mix's by chance (a song at the same tempo). So is one the shifted pass fitted into the
    /// mix at [`PLACED_NOTHING_MAX_GAIN_DB`] or lower (`second`): it explains next to nothing
    /// where it was placed either. It is then said to match nothing, and nothing is read from
    /// it.
    pub fn confirm(&mut self, coherence: &Coherence, second: &Measurements) {
        let coherent = |i: usize| coherence.of_stem(i).is_some() && !coherence.at_chance(i);
        for i in 1..self.analysed.len() {
            let others = (1..self.analysed.len()).any(|j| j != i && coherent(j));
            let explains_nothing = second
                .stems
                .iter()
                .any(|s| s.id == i as u32 && s.gain_db <= PLACED_NOTHING_MAX_GAIN_DB);
            if self.coarse_late_samples[i].is_some()
                && others
                && (coherence.at_chance(i) || explains_nothing)
            {
                self.coarse_late_samples[i] = None;
                self.analysed[i] = false;
            }
        }
    }

    /// Whether a second pass differs from the first.
    pub fn shifts_anything(&self) -> bool {
        self.delay_samples.iter().any(|&d| d != 0) || self.analysed.iter().any(|&a| !a)
    }

    /// Whether the stem at `index` was shifted or left out here (its timing is ours to report).
    fn handled(&self, index: usize) -> bool {
        self.coarse_late_samples[index].is_some() || !self.analysed[index]
    }

    /// The findings about shifted and unmatched files, with each offset refined by the
    /// analysis' own lag search in the shifted pass (`m`). `names`: per file, the mix first.
    pub fn findings(&self, m: &Measurements, names: &[String], rate_hz: u32) -> Vec<Finding> {
        let mut out = Vec::new();
        let live = (LIVE_LAG_RANGE_SECONDS * f64::from(rate_hz)).round() as i64;
        if let Some(late) = self.coarse_late_samples[0] {
            // The mix was delayed by `late`; the analysis measured what is left.
            out.push(mix_offset(m.common_lag_samples - late, rate_hz, true));
        }
        for (i, name) in names.iter().enumerate().skip(1) {
            if let Some(coarse) = self.coarse_late_samples[i] {
                let refine = m
                    .stems
                    .iter()
                    .find(|s| s.id == i as u32 && s.lag_locked)
                    .map_or(0, |s| s.offset_samples.round() as i64);
                let late = coarse - refine;
                if late != 0 {
                    out.push(stem_offset(name, late, rate_hz, live));
                }
            } else if !self.analysed[i] {
                out.push(Finding::new(
                    FindingKind::StemStartOffset,
                    Severity::Error,
                    vec![name.clone()],
                    0.0,
                    Unit::None,
                    1.0,
                    format!(
                        "{name} matches nothing in the mix within {}: it may be from another version of the song, so it was left out of the null test (no gain, polarity or EQ is read from it).",
                        within(self.searched_seconds)
                    ),
                    format!("Deliver the {name} stem of this mix, exported from the session start."),
                ));
            }
        }
        out
    }
}

/// A span of `seconds` either way as an engineer reads it: "+/-20.0 s", "+/-3:25".
fn within(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("+/-{seconds:.1} s")
    } else {
        let whole = seconds.round() as u64;
        format!("+/-{}:{:02}", whole / 60, whole % 60)
    }
}

/// `1234567` as "1,234,567".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A stem `late_samples` late (negative: early) against the mix: a start offset beyond the live
/// range, else an ordinary `stem-offset`. The value is signed like `stem-offset`'s: early (+),
/// late (-), in samples.
fn stem_offset(name: &str, late_samples: i64, rate_hz: u32, live_samples: i64) -> Finding {
    let n = late_samples.unsigned_abs();
    let seconds = n as f64 / f64::from(rate_hz);
    let state = if late_samples > 0 { "late" } else { "early" };
    if late_samples.abs() <= live_samples {
        return Finding::new(
            FindingKind::StemOffset,
            Severity::Error,
            vec![name.to_string()],
            -late_samples as f64,
            Unit::Samples,
            1.0,
            format!(
                "{name} is {n} samples ({:.2} ms) {state} against the other stems.",
                seconds * 1000.0
            ),
            format!(
                "{} {name} by {n} samples: check plugin delay compensation on its bus (or re-export it).",
                if late_samples > 0 { "Advance" } else { "Delay" }
            ),
        );
    }
    Finding::new(
        FindingKind::StemStartOffset,
        Severity::Error,
        vec![name.to_string()],
        -late_samples as f64,
        Unit::Samples,
        1.0,
        format!(
            "{name} starts {seconds:.3} s ({} samples) {state}: export every stem from the session start.",
            thousands(n)
        ),
        format!(
            "Re-export {name} from the session start, over the same range as the mix (it was shifted by {} samples here to check the rest).",
            thousands(n)
        ),
    )
}

/// The mix `later_samples` later (negative: earlier) than every stem. Offline this is a
/// delivery defect: a warning. `shifted`: the checker shifted the mix (the offset was beyond
/// the live range).
fn mix_offset(later_samples: i64, rate_hz: u32, shifted: bool) -> Finding {
    let n = later_samples.unsigned_abs();
    let ms = n as f64 * 1000.0 / f64::from(rate_hz);
    let state = if later_samples > 0 {
        "later"
    } else {
        "earlier"
    };
    Finding::new(
        FindingKind::MasterLatency,
        Severity::Warning,
        vec![],
        later_samples as f64,
        Unit::Samples,
        1.0,
        format!(
            "The mix is {} samples ({ms:.2} ms) {state} than every stem{}: an editor lining up the files would misplace them.",
            thousands(n),
            if shifted {
                ""
            } else {
                " (an uncompensated master insert, e.g. a look-ahead limiter, in the export)"
            }
        ),
        format!(
            "Export the mix and the stems over the same range with delay compensation on, so they line up on one timeline ({} samples apart now).",
            thousands(n)
        ),
    )
}

/// The analysis' findings as the checker reports them: timing it handled itself replaced,
/// `master-latency` a warning, and a true peak decided at the precision shown (0.1 dB: "reaches
/// -1.0 dBTP (limit -1.0 dBTP)" is not over the limit).
pub fn adjust_analysis_findings(
    findings: &[Finding],
    alignment: &Alignment,
    names: &[String],
    true_peak_limit_dbtp: f32,
    rate_hz: f32,
) -> Vec<Finding> {
    let handled: Vec<&String> = names
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(i, _)| alignment.handled(*i))
        .map(|(_, n)| n)
        .collect();
    let left_out: Vec<&String> = names
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(i, _)| !alignment.analysed[*i])
        .map(|(_, n)| n)
        .collect();
    let tenths = |db: f64| (db * 10.0).round() as i64;
    findings
        .iter()
        .filter_map(|f| match f.kind {
            FindingKind::StemOffset if f.stems.iter().any(|s| handled.contains(&s)) => None,
            // Nothing is read from a stem that matches nothing.
            _ if f.stems.iter().any(|s| left_out.contains(&s)) => None,
            FindingKind::MasterLatency if alignment.coarse_late_samples[0].is_some() => None,
            FindingKind::MasterLatency => Some(mix_offset(f.value as i64, rate_hz as u32, false)),
            FindingKind::TruePeak if tenths(f.value) <= tenths(f64::from(true_peak_limit_dbtp)) => {
                None
            }
            _ => Some(f.clone()),
        })
        .collect()
}

/// Findings once a file was resampled: the null was measured below `compared_below_hz` only,
/// and said so.
pub fn allow_for_resampling(findings: &mut [Finding], compared_below_hz: f32) {
    for f in findings {
        if f.kind == FindingKind::Nulls {
            f.message.push_str(&format!(
                " One file was resampled to compare: the null is measured below {:.1} kHz, the band every file's rate holds.",
                compared_below_hz / 1000.0
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_searched_span_reads_in_seconds_or_minutes() {
        assert_eq!(within(20.04), "+/-20.0 s");
        assert_eq!(within(205.4), "+/-3:25");
    }

    #[test]
    fn only_the_stretch_every_shifted_file_covers_is_analysed() {
        // Three files of 1,000,000 frames: a stem shifted 200,000 late (its start dropped:
        // delay -200,000 covers 0..800,000), another delayed 100,000 (100,000..1,100,000).
        let mut a = Alignment::unchanged(3);
        assert_eq!(a.covered_span(&[1_000_000; 3]), None);
        a.delay_samples = vec![0, -200_000, 100_000];
        assert_eq!(a.covered_span(&[1_000_000; 3]), Some((100_000, 800_000)));
        // A stem left out does not count; too short a stretch is no window.
        a.analysed[2] = false;
        assert_eq!(a.covered_span(&[1_000_000; 3]), Some((0, 800_000)));
        a.delay_samples[1] = -990_000;
        assert_eq!(a.covered_span(&[1_000_000; 3]), None);
    }

    /// A stem's measurements with `gain_db`, locked, not inverted.
    fn stem(id: u32, name: &str, gain_db: f32) -> stemcheck_analysis::StemMeasurements {
        let levels = stemcheck_analysis::LevelSummary {
            peak_dbfs: -6.0,
            true_peak_dbtp: -6.0,
            clipped_samples: 0,
            rms_dbfs: -20.0,
            dc_dbfs: -120.0,
        };
        stemcheck_analysis::StemMeasurements {
            id,
            name: name.into(),
            levels,
            lag_locked: true,
            offset_samples: 0.0,
            lag_offset_samples: 0,
            gain_db,
            inverted: false,
            energy_share_db: -6.0,
            gain_explains_db: -100.0,
            offset_explains_db: -100.0,
            present_fraction: 1.0,
        }
    }

    #[test]
    fn a_shifted_stem_that_explains_next_to_nothing_where_placed_matches_nothing() {
        // Seeded noise: the mix is A + B; Drums is A, Bass is B (both coherent with the mix,
        // about 0.5), Lead a stranger C (at chance, 1/24). 24 frames of 8192 samples.
        let noise = |seed: u64| -> Vec<f32> {
            let mut state = seed;
            (0..8192 * 24)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
                })
                .collect()
        };
        let (a, b, c) = (noise(1), noise(2), noise(3));
        let mix: Vec<f32> = a.iter().zip(&b).map(|(a, b)| a + b).collect();
        let files: Vec<[Vec<f32>; 2]> =
            [mix, a, b, c].into_iter().map(|x| [x.clone(), x]).collect();
        let mut coherence = Coherence::new(4);
        coherence.push(&files);
        let names: Vec<String> = ["Mix", "Drums", "Bass", "Lead"].map(String::from).into();
        let shifted = |late: i64| {
            let mut a = Alignment::unchanged(4);
            a.delay_samples[3] = -late;
            a.coarse_late_samples[3] = Some(late);
            a.searched_seconds = 20.0;
            a
        };
        let second = |lead_gain_db: f32| Measurements {
            stems: vec![
                stem(1, "Drums", 0.0),
                stem(2, "Bass", 0.0),
                stem(3, "Lead", lead_gain_db),
            ],
            ..Measurements::default()
        };
        // At chance where placed: left out, said to match nothing, nothing read from it.
        let mut a = shifted(26_163);
        a.confirm(&coherence, &second(0.0));
        assert_eq!(a.analysed, vec![true, true, true, false]);
        let f = a.findings(&second(0.0), &names, 48_000);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].message
                .starts_with("Lead matches nothing in the mix within +/-20.0 s"),
            "{}",
            f[0].message
        );
        let gain = Finding::new(
            FindingKind::StemGain,
            Severity::Error,
            vec!["Lead".into()],
            -21.0,
            Unit::Db,
            1.0,
            String::new(),
            String::new(),
        );
        assert!(adjust_analysis_findings(&[gain], &a, &names, -1.0, 48_000.0).is_empty());
        // A coherent stem shifted and fitted at -21 dB explains next to nothing there either;
        // at -3 dB (a gain defect beside its offset) its shift stands.
        let mut coherent = Coherence::new(4);
        let swapped: Vec<[Vec<f32>; 2]> = vec![
            files[0].clone(),
            files[1].clone(),
            files[3].clone(),
            files[2].clone(),
        ];
        coherent.push(&swapped);
        let mut a = shifted(26_163);
        a.confirm(&coherent, &second(-21.0));
        assert!(!a.analysed[3]);
        let mut a = shifted(26_163);
        a.confirm(&coherent, &second(-3.0));
        assert!(a.analysed[3]);
        assert_eq!(
            a.findings(&second(-3.0), &names, 48_000)[0].kind,
            FindingKind::StemStartOffset
        );
        assert_eq!(
            a.findings(&second(-3.0), &names, 48_000)[0].value,
            -26_163.0
        );
    }

    #[test]
    fn a_stem_louder_or_inverted_in_the_mix_is_never_moved_by_its_envelopes_one_quieter_may_be() {
        // A looped part (an 8-hop pattern): the stem's envelope matches the mix's a bar off as
        // well as in place, and 2 s late by its own burst. Locked in place by the first pass,
        // 2 dB louder in the mix: that is a gain defect (a misplaced stem only fits quieter),
        // so no envelope search moves it; fitted 6 dB down, its envelopes are asked.
        let hop = 480;
        let burst = |at: usize, len: usize| -> [Vec<f32>; 2] {
            let mut x = vec![0.0f32; hop * 400];
            let mut state = 7u64;
            for (i, v) in x.iter_mut().enumerate() {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
                let on = (at..at + len).contains(&(i / hop)) || (i / hop) % 8 == 0;
                *v = if on { noise } else { 0.0 };
            }
            [x.clone(), x]
        };
        let envelope = |audio: &[Vec<f32>; 2]| {
            let mut e = Envelope::new(hop);
            e.push(&audio[0], &audio[1]);
            e
        };
        let envelopes = [envelope(&burst(100, 20)), envelope(&burst(300, 20))];
        let first = |gain_db: f32| Measurements {
            stems: vec![stem(1, "Lead", gain_db)],
            ..Measurements::default()
        };
        let frames = [hop as u64 * 400; 2];
        let hot = Alignment::find(&envelopes, None, &frames, &first(2.0), 48_000);
        assert_eq!(hot.matches[1], None);
        assert!(!hot.shifts_anything());
        let quiet = Alignment::find(&envelopes, None, &frames, &first(-6.0), 48_000);
        assert!(quiet.matches[1].is_some());
        // Inverted in place at its full gain: its defect is its polarity, and no envelope
        // search moves it (one did: a reverb stem, inverted, went 0.192 s late).
        let mut inverted = first(0.0);
        inverted.stems[0].inverted = true;
        let inverted = Alignment::find(&envelopes, None, &frames, &inverted, 48_000);
        assert_eq!(inverted.matches[1], None);
        assert!(!inverted.shifts_anything());
    }

    /// `frames` of clicks (3 hops of a square wave at `level`) at seeded places 20 to 51 hops
    /// apart, all `delay_hops` later.
    fn click_train(
        frames: usize,
        hop: usize,
        delay_hops: usize,
        seed: u64,
        level: f32,
    ) -> Vec<f32> {
        let mut x = vec![0.0f32; frames];
        let mut state = seed;
        let mut at = 0usize;
        loop {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            at += 20 + (state >> 59) as usize;
            let start = (at + delay_hops) * hop;
            if start + 3 * hop >= frames {
                return x;
            }
            for (k, v) in x[start..start + 3 * hop].iter_mut().enumerate() {
                *v = if k % 2 == 0 { level } else { -level };
            }
        }
    }

    #[test]
    fn a_return_locked_in_place_is_not_moved_by_its_envelopes_trailing_the_dry_parts() {
        // The mix's onsets at seeded places; the stem's (a return: its sources smeared forward)
        // the same 0.1 s later, so its envelopes match 0.1 s late, beyond the analysis' own
        // lag range. Locked in place by the first pass at -3 dB (its waveform is there): not
        // moved. Unlocked, or locked at -25 dB: moved (a stem truly 0.1 s late).
        let hop = 480;
        let frames = hop * 2000;
        let clicks = |delay_hops: usize| -> [Vec<f32>; 2] {
            let x = click_train(frames, hop, delay_hops, 11, 0.5);
            [x.clone(), x]
        };
        let envelope = |audio: &[Vec<f32>; 2]| {
            let mut e = Envelope::new(hop);
            e.push(&audio[0], &audio[1]);
            e
        };
        let envelopes = [envelope(&clicks(0)), envelope(&clicks(10))];
        let lengths = [frames as u64; 2];
        let first = |locked: bool, gain_db: f32| {
            let mut s = stem(1, "FX", gain_db);
            s.lag_locked = locked;
            Measurements {
                stems: vec![s],
                ..Measurements::default()
            }
        };
        let unlocked = Alignment::find(&envelopes, None, &lengths, &first(false, -3.0), 48_000);
        assert_eq!(unlocked.coarse_late_samples[1], Some(10 * hop as i64));
        let faint = Alignment::find(&envelopes, None, &lengths, &first(true, -25.0), 48_000);
        assert_eq!(faint.coarse_late_samples[1], Some(10 * hop as i64));
        let in_place = Alignment::find(&envelopes, None, &lengths, &first(true, -3.0), 48_000);
        assert_eq!(in_place.matches[1], None);
        assert!(!in_place.shifts_anything());
    }

    #[test]
    fn three_stems_late_alike_with_the_rest_matching_nowhere_are_a_mix_offset() {
        // Six stems: three parts whose onsets the mix has 100 hops later, three that match
        // nothing (silent here: a pad or a return that stands out nowhere). None is in place in
        // the first pass: one mix offset explains the three, not three stems offset alike.
        let hop = 480;
        let frames = hop * 3000;
        let parts: Vec<Vec<f32>> = (0..3)
            .map(|k| click_train(frames, hop, 0, 21 + k, 0.3))
            .collect();
        let later: Vec<Vec<f32>> = (0..3)
            .map(|k| click_train(frames, hop, 100, 21 + k, 0.3))
            .collect();
        let mix: Vec<f32> = (0..frames)
            .map(|i| later.iter().map(|p| p[i]).sum())
            .collect();
        let envelope = |audio: &[f32]| {
            let mut e = Envelope::new(hop);
            e.push(audio, audio);
            e
        };
        let silent = vec![0.0f32; frames];
        let mut envelopes = vec![envelope(&mix)];
        envelopes.extend(parts.iter().map(|p| envelope(p)));
        envelopes.extend((0..3).map(|_| envelope(&silent)));
        let lengths = [frames as u64; 7];
        let alignment =
            Alignment::find(&envelopes, None, &lengths, &Measurements::default(), 48_000);
        assert_eq!(alignment.coarse_late_samples[0], Some(-100 * hop as i64));
        assert!((1..7).all(|i| alignment.coarse_late_samples[i].is_none()));
    }

    #[test]
    fn a_return_left_in_place_is_not_moved_to_its_echo_by_a_weak_match() {
        // A delay return's echo: the stem's onsets (its sources, 0.45 s later) against the
        // mix's, among the mix's other onsets. Left in place by the first pass, locked or not
        // (a diffuse return seldom locks a lag), its envelopes match 0.45 s late, but no better
        // than a part against the whole mix: not moved. The same match on a stem the first
        // pass did not place (its lag at the edge of its range) is taken.
        let hop = 480;
        let frames = hop * 3000;
        let clicks = |delay_hops: usize, seed: u64, level: f32| {
            click_train(frames, hop, delay_hops, seed, level)
        };
        let (sources, others) = (clicks(0, 11, 0.2), clicks(0, 12, 0.5));
        let mix: Vec<f32> = sources.iter().zip(&others).map(|(a, b)| a + b).collect();
        let echo = clicks(45, 11, 0.2);
        let envelope = |audio: &[f32]| {
            let mut e = Envelope::new(hop);
            e.push(audio, audio);
            e
        };
        let envelopes = [envelope(&mix), envelope(&echo)];
        let lengths = [frames as u64; 2];
        let first = |locked: bool, offset_samples: f64| {
            let mut s = stem(1, "FX", -3.0);
            s.lag_locked = locked;
            s.offset_samples = offset_samples;
            Measurements {
                stems: vec![s],
                ..Measurements::default()
            }
        };
        let unplaced = Alignment::find(&envelopes, None, &lengths, &first(false, -2640.0), 48_000);
        let found = unplaced.matches[1].expect("a match");
        assert_eq!(found.late_samples, 45 * hop as i64);
        assert!(
            (SHIFT_MIN_PROMINENCE..ISOLATED_MATCH_MIN_PROMINENCE).contains(&found.prominence),
            "{found:?}"
        );
        for locked in [false, true] {
            let in_place = Alignment::find(&envelopes, None, &lengths, &first(locked, 0.0), 48_000);
            assert_eq!(in_place.matches[1], None);
            assert!(!in_place.shifts_anything());
        }
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(204_000), "204,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_start_offset_reads_as_an_engineer_says_it() {
        let f = stem_offset("Lead", 204_000, 48_000, 2640);
        assert_eq!(f.kind, FindingKind::StemStartOffset);
        assert_eq!(f.value, -204_000.0);
        assert_eq!(
            f.message,
            "Lead starts 4.250 s (204,000 samples) late: export every stem from the session start."
        );
        let f = stem_offset("Lead", -100, 48_000, 2640);
        assert_eq!(f.kind, FindingKind::StemOffset);
        assert_eq!(f.value, 100.0);
    }
}
