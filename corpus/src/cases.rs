//! The cases as data: the mistake families of issue 11, the defects a case applies to a clean
//! session, and the two lists: the full sweep (the accuracy benchmark) and the fast subset (the
//! test). A case is a recipe; its ground truth is computed when it is rendered
//! (`delivery.rs`), because "the loudest stem" or "where the lead starts" depends on the audio.

use crate::dsp::Shape;
use crate::pieces::{PieceId, arrangement};

/// A family of delivery mistakes (or a clean delivery), as the confusion table groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// No mistake: the checker must stay quiet.
    Clean,
    /// The loudest stem exported at the wrong gain.
    StemGainLoudest,
    /// The quietest stem exported at the wrong gain.
    StemGainQuietest,
    /// One stem moved in time against the others.
    StemOffset,
    /// One stem exported from its first region or with pre-roll.
    StemStartOffset,
    /// One stem goes silent before the song ends.
    StemStopsEarly,
    /// One stem muted for a stretch (mute automation).
    StemMuted,
    /// One stem not delivered.
    MissingStem,
    /// The reverb/delay return heard in the mix but not delivered.
    MissingReturn,
    /// One stem polarity-inverted.
    Polarity,
    /// The mix louder or quieter than the stems' sum.
    MasterGain,
    /// Master-bus EQ present in the mix only.
    MasterEq,
    /// Master-bus compression or limiting present in the mix only.
    MasterDynamics,
    /// A sub layer that cancels the bass in the sum.
    LowEndCancellation,
    /// The kick split into In and Sub stems: complementary, so nothing may be flagged.
    KickSplit,
    /// The mix clipped at export; the stems are fine.
    Clipping,
    /// Files cut before the reverb tails decay.
    TailCut,
    /// The mix at another rate or format than the stems.
    MixFormat,
    /// The mix moved in time against every stem.
    MixOffset,
    /// Working names, other track names, a bare mix.wav, numbered takes.
    Naming,
    /// Every track delivered instead of stems.
    Multitrack,
    /// Two mistakes at once.
    Pairs,
}

impl Family {
    /// Every family, so the sweep and the confusion table cannot miss one.
    pub const ALL: [Family; 22] = [
        Self::Clean,
        Self::StemGainLoudest,
        Self::StemGainQuietest,
        Self::StemOffset,
        Self::StemStartOffset,
        Self::StemStopsEarly,
        Self::StemMuted,
        Self::MissingStem,
        Self::MissingReturn,
        Self::Polarity,
        Self::MasterGain,
        Self::MasterEq,
        Self::MasterDynamics,
        Self::LowEndCancellation,
        Self::KickSplit,
        Self::Clipping,
        Self::TailCut,
        Self::MixFormat,
        Self::MixOffset,
        Self::Naming,
        Self::Multitrack,
        Self::Pairs,
    ];

    /// Stable kebab-case name (case names start with it).
    pub fn name(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::StemGainLoudest => "stem-gain-loudest",
            Self::StemGainQuietest => "stem-gain-quietest",
            Self::StemOffset => "stem-offset",
            Self::StemStartOffset => "stem-start-offset",
            Self::StemStopsEarly => "stem-stops-early",
            Self::StemMuted => "stem-muted",
            Self::MissingStem => "missing-stem",
            Self::MissingReturn => "missing-return",
            Self::Polarity => "polarity",
            Self::MasterGain => "master-gain",
            Self::MasterEq => "master-eq",
            Self::MasterDynamics => "master-dynamics",
            Self::LowEndCancellation => "low-end-cancellation",
            Self::KickSplit => "kick-split",
            Self::Clipping => "clipping",
            Self::TailCut => "tail-cut",
            Self::MixFormat => "mix-format",
            Self::MixOffset => "mix-offset",
            Self::Naming => "naming",
            Self::Multitrack => "multitrack",
            Self::Pairs => "pairs",
        }
    }

    /// What the family delivers.
    pub fn description(self) -> &'static str {
        match self {
            Self::Clean => {
                "Correct deliveries at 44.1/48/96 kHz in 16-bit (TPDF dither), 24-bit and 32-bit float: no warning allowed."
            }
            Self::StemGainLoudest => {
                "The loudest stem exported 0.3 to 12 dB too hot or too quiet (clipping when hot)."
            }
            Self::StemGainQuietest => {
                "The quietest stem exported 0.3 to 12 dB too hot or too quiet."
            }
            Self::StemOffset => {
                "A stem moved by 1 sample to 50 ms, early or late (plugin latency, a nudged region)."
            }
            Self::StemStartOffset => {
                "A stem moved by 100 ms to 30 s, exported from its first region, or with a pre-roll."
            }
            Self::StemStopsEarly => {
                "A stem goes to digital silence before the song ends (export range too short)."
            }
            Self::StemMuted => {
                "A stem silent for a stretch (a mute left on) at several places and lengths."
            }
            Self::MissingStem => "A dry instrument stem not delivered (every role in turn).",
            Self::MissingReturn => "The reverb/delay return stem not delivered.",
            Self::Polarity => "A stem polarity-inverted (every stem in turn).",
            Self::MasterGain => "A master-bus gain the stems lack.",
            Self::MasterEq => "Master-bus EQ the stems lack.",
            Self::MasterDynamics => "A master-bus compressor or look-ahead limiter the stems lack.",
            Self::LowEndCancellation => {
                "A sub layer out of polarity with the bass: they cancel in the low end (the mix has it too)."
            }
            Self::KickSplit => {
                "A kick split at a crossover into In and Sub stems: complementary, must not be flagged."
            }
            Self::Clipping => "The mix exported over full scale (clipped); the stems are fine.",
            Self::TailCut => "Every file cut before the reverb tail decayed.",
            Self::MixFormat => {
                "The mix at another rate or bit depth than the stems (or all stems at another rate)."
            }
            Self::MixOffset => {
                "The mix offset against every stem (an uncompensated master insert)."
            }
            Self::Naming => {
                "Naming mistakes: working names, another track name, a bare mix.wav, numbered takes."
            }
            Self::Multitrack => {
                "Every track and return as its own file (with and without a defect)."
            }
            Self::Pairs => "Two defects at once.",
        }
    }
}

/// The sample format of a delivered file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// 16-bit integer, TPDF-dithered.
    Int16,
    /// 24-bit integer.
    Int24,
    /// 32-bit float.
    Float32,
}

impl Format {
    /// The short name used in case names (`16bit`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Int16 => "16bit",
            Self::Int24 => "24bit",
            Self::Float32 => "float",
        }
    }
}

/// Which stem a defect is applied to.
#[derive(Debug, Clone, PartialEq)]
pub enum StemSel {
    /// Highest RMS over the song.
    Loudest,
    /// Lowest RMS over the song.
    Quietest,
    /// The stem with this name.
    Named(&'static str),
}

impl StemSel {
    fn label(&self) -> String {
        match self {
            Self::Loudest => "loudest".into(),
            Self::Quietest => "quietest".into(),
            Self::Named(n) => (*n).into(),
        }
    }
}

/// One mistake applied to a clean session.
#[derive(Debug, Clone, PartialEq)]
pub enum Defect {
    /// The stem file carries the stem `db` louder than the mix does.
    StemGain {
        /// The stem it applies to.
        stem: StemSel,
        /// Gain over the mix's copy, in dB.
        db: f64,
    },
    /// The stem's audio moved later by `samples` (negative: earlier), the file's length kept.
    StemShift {
        /// The stem it applies to.
        stem: StemSel,
        /// Shift in samples (negative: earlier).
        samples: i64,
    },
    /// The stem exported from its first region: the file starts where its first sound starts.
    StemFromFirstRegion {
        /// The stem it applies to.
        stem: StemSel,
    },
    /// The stem exported with `seconds` of silence in front.
    StemPreRoll {
        /// The stem it applies to.
        stem: StemSel,
        /// Silence in front, in seconds.
        seconds: f64,
    },
    /// The stem goes to digital silence at `at_s` (the file keeps its length, or ends there).
    StemStopsAt {
        /// The stem it applies to.
        stem: StemSel,
        /// Where it stops, in seconds from the start.
        at_s: f64,
        /// Whether the file ends there too (else it is padded with silence).
        truncate: bool,
    },
    /// The stem is muted from `from_s` to `to_s` (2 ms fades, as a mute automation).
    StemMute {
        /// The stem it applies to.
        stem: StemSel,
        /// Start of the mute, in seconds.
        from_s: f64,
        /// End of the mute, in seconds.
        to_s: f64,
    },
    /// The stem is not delivered.
    DropStem {
        /// The stem it applies to.
        stem: StemSel,
    },
    /// The stem is polarity-inverted.
    Polarity {
        /// The stem it applies to.
        stem: StemSel,
    },
    /// The mix is `db` louder than the stems' sum.
    MasterGain {
        /// The mix's gain over the sum, in dB.
        db: f64,
    },
    /// Master-bus EQ: bands (shape, frequency in Hz, Q).
    MasterEq {
        /// Filters in series: shape, frequency in Hz, Q.
        bands: Vec<(Shape, f64, f64)>,
    },
    /// A master-bus compressor.
    MasterComp {
        /// Threshold, in dBFS.
        threshold_db: f64,
        /// Input dB over threshold per output dB.
        ratio: f64,
        /// Gain after compression, in dB.
        makeup_db: f64,
    },
    /// A master-bus look-ahead limiter driven by `drive_db` (latency compensated on export).
    MasterLimit {
        /// Gain into the limiter, in dB.
        drive_db: f64,
        /// Output ceiling, in dBFS.
        ceiling_db: f64,
        /// Look-ahead, in milliseconds.
        lookahead_ms: f64,
    },
    /// The mix moved later by `samples` (negative: earlier) against every stem.
    MixShift {
        /// Shift in samples (negative: earlier).
        samples: i64,
    },
    /// The mix delivered at another rate and/or format than the stems.
    MixFormat {
        /// The mix's rate in Hz, if it differs.
        rate: Option<u32>,
        /// The mix's format, if it differs.
        format: Option<Format>,
    },
    /// Every stem at another rate than the mix (resampled).
    StemsRate {
        /// The stems' rate, in Hz.
        rate: u32,
    },
    /// A sub layer: the bass duplicated, low-passed at `crossover_hz` (2nd-order Butterworth),
    /// at `gain_db`, polarity flipped by mistake, as its own stem "Sub" (in the mix too): the
    /// two cancel below the bass's fundamentals.
    LowEndCancel {
        /// The sub layer's low-pass corner, in Hz.
        crossover_hz: f64,
        /// The sub layer's level, in dB.
        gain_db: f64,
    },
    /// The kick track split at `crossover_hz` into its own In and Sub stems (Linkwitz-Riley).
    KickSplit {
        /// Split frequency, in Hz.
        crossover_hz: f64,
        /// Name of the stem above the split.
        in_name: &'static str,
        /// Name of the stem below the split.
        sub_name: &'static str,
    },
    /// The mix pushed `over_db` over full scale at export (every stem scaled alike; the mix file
    /// clips).
    MixClip {
        /// How far over full scale the mix is pushed, in dB.
        over_db: f64,
    },
    /// Every file ends `after_music_s` after the last bar (before the tail decays).
    TailCut {
        /// Where files end, in seconds after the last bar.
        after_music_s: f64,
    },
    /// File names: the mix named `mix_name`, a stem's file given another name.
    Rename {
        /// The stem renamed, or `None` for the mix.
        stem: Option<&'static str>,
        /// The name its file gets.
        file_name: &'static str,
    },
    /// Every track and return as its own file instead of stems.
    Multitrack,
}

impl Defect {
    /// A short label for case names.
    pub fn label(&self) -> String {
        match self {
            Self::StemGain { stem, db } => format!("{}{db:+}dB", stem.label()),
            Self::StemShift { stem, samples } => format!("{}{samples:+}smp", stem.label()),
            Self::StemFromFirstRegion { stem } => format!("{}-first-region", stem.label()),
            Self::StemPreRoll { stem, seconds } => format!("{}-preroll{seconds}s", stem.label()),
            Self::StemStopsAt {
                stem,
                at_s,
                truncate,
            } => {
                format!(
                    "{}-stops{at_s}s{}",
                    stem.label(),
                    if *truncate { "-short-file" } else { "" }
                )
            }
            Self::StemMute { stem, from_s, to_s } => {
                format!("{}-muted{from_s}-{to_s}s", stem.label())
            }
            Self::DropStem { stem } => format!("no-{}", stem.label()),
            Self::Polarity { stem } => format!("{}-inverted", stem.label()),
            Self::MasterGain { db } => format!("master{db:+}dB"),
            Self::MasterEq { bands } => format!(
                "eq{}",
                bands
                    .iter()
                    .map(|b| format!("-{}", b.1))
                    .collect::<String>()
            ),
            Self::MasterComp {
                threshold_db,
                ratio,
                ..
            } => format!("comp{threshold_db}dB-{ratio}to1"),
            Self::MasterLimit { drive_db, .. } => format!("limiter+{drive_db}dB"),
            Self::MixShift { samples } => format!("mix{samples:+}smp"),
            Self::MixFormat { rate, format } => format!(
                "mix{}{}",
                rate.map(|r| format!("-{r}Hz")).unwrap_or_default(),
                format.map(|f| format!("-{}", f.name())).unwrap_or_default()
            ),
            Self::StemsRate { rate } => format!("stems-{rate}Hz"),
            Self::LowEndCancel {
                crossover_hz,
                gain_db,
            } => format!("sub-inverted-{crossover_hz}Hz{gain_db:+}dB"),
            Self::KickSplit {
                crossover_hz,
                in_name,
                ..
            } => format!("kick-{in_name}-{crossover_hz}Hz"),
            Self::MixClip { over_db } => format!("mix-over{over_db}dB"),
            Self::TailCut { after_music_s } => format!("cut{after_music_s}s-after-music"),
            Self::Rename { stem, file_name } => format!("{}-as-{file_name}", stem.unwrap_or("mix")),
            Self::Multitrack => "tracks".into(),
        }
    }
}

/// How long the session of a case runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Length {
    /// About 9 s of music (the fast test).
    Short,
    /// About 24 s (the benchmark; a piece in whole phrases may round up: Willow plays 31 s).
    Normal,
    /// About 52 s (offsets of 10 to 30 s).
    Long,
}

impl Length {
    /// Seconds of music asked for (rounded to whole bars; the tail comes on top).
    pub fn music_s(self) -> f64 {
        match self {
            Self::Short => 9.0,
            Self::Normal => 24.0,
            Self::Long => 52.0,
        }
    }
}

/// One case: a clean session and the defects applied to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Unique, stable: `family/piece/rate-format/defects`.
    pub name: String,
    /// The kind of delivery problem the case exercises; scoring groups by it.
    pub family: Family,
    /// The arrangement rendered as the clean session.
    pub piece: PieceId,
    /// How much of the piece is rendered.
    pub length: Length,
    /// The files' sample rate, in Hz.
    pub sample_rate_hz: u32,
    /// The files' sample format.
    pub format: Format,
    /// What is broken in the delivery; empty for a clean case. The ground truth derives from it.
    pub defects: Vec<Defect>,
}

impl Case {
    /// A case with its name derived from the other fields, so names stay unique and stable.
    pub fn new(
        family: Family,
        piece: PieceId,
        length: Length,
        rate: u32,
        format: Format,
        defects: Vec<Defect>,
    ) -> Self {
        let what: Vec<String> = defects.iter().map(Defect::label).collect();
        let mut name = format!(
            "{}/{}/{}k-{}",
            family.name(),
            piece.title().to_lowercase(),
            rate / 1000,
            format.name()
        );
        if !rate.is_multiple_of(1000) {
            name = format!(
                "{}/{}/{:.1}k-{}",
                family.name(),
                piece.title().to_lowercase(),
                f64::from(rate) / 1000.0,
                format.name()
            );
        }
        match length {
            Length::Short => name.push_str("-short"),
            Length::Long => name.push_str("-long"),
            Length::Normal => {}
        }
        if !what.is_empty() {
            name.push('/');
            name.push_str(&what.join("+"));
        }
        Self {
            name,
            family,
            piece,
            length,
            sample_rate_hz: rate,
            format,
            defects,
        }
    }
}

/// The dry stems of each piece, in mix order (the FX stem comes on top).
pub fn dry_stems(piece: PieceId) -> &'static [&'static str] {
    match piece {
        PieceId::Harbor => &["Drums", "Bass", "Keys", "Guitar", "Lead"],
        PieceId::Lantern => &["Strings", "Piano", "Winds", "Brass"],
        PieceId::Neon => &["Drums", "Bass", "Keys", "Brass", "Synth"],
        PieceId::Willow => &["Drums", "Bass", "Guitar", "Vibes", "Sax"],
        PieceId::Ember => &["Drums", "Bass", "Strings", "Brass", "Choir", "Synth"],
    }
}

/// Stems that play from the first bars to the end (where a cut or a mute is always audible).
fn steady_stems(piece: PieceId) -> &'static [&'static str] {
    match piece {
        PieceId::Harbor => &["Drums", "Keys", "Bass"],
        PieceId::Lantern => &["Piano", "Strings"],
        PieceId::Neon => &["Drums", "Bass", "Keys"],
        PieceId::Willow => &["Drums", "Bass", "Guitar"],
        PieceId::Ember => &["Strings", "Synth", "Bass"],
    }
}

/// The stem that enters late (its first region starts bars in).
fn late_entry_stem(piece: PieceId) -> &'static str {
    match piece {
        PieceId::Harbor => "Lead",
        PieceId::Lantern => "Brass",
        PieceId::Neon => "Synth",
        PieceId::Willow => "Sax",
        PieceId::Ember => "Brass",
    }
}

/// Whether the piece has a Bass stem and a Kick track of its own (the sub-layer, kick-split and
/// multitrack-with-a-defect cases need them).
fn has_bass_and_kick(piece: PieceId) -> bool {
    dry_stems(piece).contains(&"Bass")
        && arrangement(piece, 2)
            .tracks
            .iter()
            .any(|t| t.name == "Kick" && t.stem == "Drums")
}

const RATE: u32 = 48_000;

/// The environment variable that renders the sweep's deliveries at another sample rate (Hz:
/// `44100`, `48000`, `96000`) ...
pub const RATE_VAR: &str = "STEMCHECK_CORPUS_RATE";
/// ... and another sample format (`16bit`, `24bit`, `float`): the same defects on deliveries
/// in the formats a user sends, a check that no rule holds only at 48 kHz and 24 bits.
pub const FORMAT_VAR: &str = "STEMCHECK_CORPUS_FORMAT";

/// The sweep's delivery format: 48 kHz 24-bit unless [`RATE_VAR`] or [`FORMAT_VAR`] say
/// otherwise (a value that is not one of theirs panics, naming the ones that are).
fn base_format() -> (u32, Format) {
    let rate = match std::env::var(RATE_VAR) {
        Ok(v) => match v.as_str() {
            "44100" => 44_100,
            "48000" => 48_000,
            "96000" => 96_000,
            _ => panic!("{RATE_VAR}={v}: one of 44100, 48000, 96000"),
        },
        Err(_) => RATE,
    };
    let format = match std::env::var(FORMAT_VAR) {
        Ok(v) => [Format::Int16, Format::Int24, Format::Float32]
            .into_iter()
            .find(|f| f.name() == v)
            .unwrap_or_else(|| panic!("{FORMAT_VAR}={v}: one of 16bit, 24bit, float")),
        Err(_) => Format::Int24,
    };
    (rate, format)
}

fn eq_variants() -> Vec<Vec<(Shape, f64, f64)>> {
    vec![
        vec![(Shape::LowShelf { gain_db: 3.0 }, 120.0, 0.7)],
        vec![(Shape::Peak { gain_db: -4.0 }, 2500.0, 1.0)],
        vec![(Shape::HighShelf { gain_db: 2.5 }, 8000.0, 0.7)],
        vec![
            (Shape::HighPass, 40.0, 0.7),
            (Shape::Peak { gain_db: 1.5 }, 3000.0, 0.8),
        ],
        vec![(Shape::Peak { gain_db: 1.0 }, 800.0, 1.4)],
    ]
}

/// The full sweep: every family over its parameters, on every piece.
pub fn full() -> Vec<Case> {
    use Defect as D;
    use Family as F;
    use Length::{Long, Normal};
    let (rate, format) = base_format();
    // The odd file's format in the mix-format family: 44.1 kHz 16-bit beside 48 kHz 24-bit
    // stems (the example), or the nearest other where the stems are at that already.
    let other_rate = if rate == 44_100 { 48_000 } else { 44_100 };
    let higher_rate = if rate == 96_000 { 192_000 } else { 96_000 };
    let other_format = if format == Format::Int16 {
        Format::Int24
    } else {
        Format::Int16
    };
    let mut out = Vec::new();
    let mut add = |family, piece, length, rate, format, defects| {
        out.push(Case::new(family, piece, length, rate, format, defects))
    };
    for piece in PieceId::ALL {
        // Clean deliveries in every rate and format.
        for rate in [44_100, 48_000, 96_000] {
            for format in [Format::Int16, Format::Int24, Format::Float32] {
                add(F::Clean, piece, Normal, rate, format, vec![]);
            }
        }
        // Stem gain on the loudest and the quietest stem.
        for db in [0.3, 1.0, 3.0, 6.0, 12.0, -0.5, -6.0] {
            add(
                F::StemGainLoudest,
                piece,
                Normal,
                rate,
                format,
                vec![D::StemGain {
                    stem: StemSel::Loudest,
                    db,
                }],
            );
        }
        for db in [0.3, 1.0, 6.0, 12.0, -1.0, -12.0] {
            add(
                F::StemGainQuietest,
                piece,
                Normal,
                rate,
                format,
                vec![D::StemGain {
                    stem: StemSel::Quietest,
                    db,
                }],
            );
        }
        // Small offsets, early and late, on stems in turn.
        let dry = dry_stems(piece);
        for (i, samples) in [1i64, -1, 7, -37, 480, -480, 2400, -2400]
            .into_iter()
            .enumerate()
        {
            let stem = StemSel::Named(dry[i % dry.len()]);
            add(
                F::StemOffset,
                piece,
                Normal,
                rate,
                format,
                vec![D::StemShift { stem, samples }],
            );
        }
        // Large offsets (up to 30 s on the long session), first region, pre-roll.
        for (i, seconds) in [0.1f64, -0.25, 1.0, -4.25, 12.0, -30.0]
            .into_iter()
            .enumerate()
        {
            let stem = StemSel::Named(dry[(i + 1) % dry.len()]);
            let length = if seconds.abs() >= 10.0 { Long } else { Normal };
            let samples = (seconds * f64::from(rate)).round() as i64;
            add(
                F::StemStartOffset,
                piece,
                length,
                rate,
                format,
                vec![D::StemShift { stem, samples }],
            );
        }
        // Offsets of seconds that are no whole number of milliseconds (a region starting on
        // any sample): the offset search decimates by about a millisecond.
        for (i, samples) in [144_017i64, -120_031].into_iter().enumerate() {
            add(
                F::StemStartOffset,
                piece,
                Normal,
                rate,
                format,
                vec![D::StemShift {
                    stem: StemSel::Named(dry[(i + 2) % dry.len()]),
                    samples,
                }],
            );
        }
        add(
            F::StemStartOffset,
            piece,
            Normal,
            rate,
            format,
            vec![D::StemFromFirstRegion {
                stem: StemSel::Named(late_entry_stem(piece)),
            }],
        );
        add(
            F::StemStartOffset,
            piece,
            Normal,
            rate,
            format,
            vec![D::StemPreRoll {
                stem: StemSel::Named(dry[0]),
                seconds: 2.0,
            }],
        );
        // Stops early and mutes on stems that always play.
        let steady = steady_stems(piece);
        for (i, (at_s, truncate)) in [(12.0, false), (18.5, false), (20.0, true)]
            .into_iter()
            .enumerate()
        {
            let stem = StemSel::Named(steady[i % steady.len()]);
            add(
                F::StemStopsEarly,
                piece,
                Normal,
                rate,
                format,
                vec![D::StemStopsAt {
                    stem,
                    at_s,
                    truncate,
                }],
            );
        }
        for (i, (from_s, to_s)) in [(4.0, 4.5), (8.0, 10.0), (14.0, 18.0), (3.2, 11.3)]
            .into_iter()
            .enumerate()
        {
            let stem = StemSel::Named(steady[i % steady.len()]);
            add(
                F::StemMuted,
                piece,
                Normal,
                rate,
                format,
                vec![D::StemMute { stem, from_s, to_s }],
            );
        }
        // Every dry role missing in turn; the return missing.
        for &stem in dry {
            add(
                F::MissingStem,
                piece,
                Normal,
                rate,
                format,
                vec![D::DropStem {
                    stem: StemSel::Named(stem),
                }],
            );
        }
        add(
            F::MissingReturn,
            piece,
            Normal,
            rate,
            format,
            vec![D::DropStem {
                stem: StemSel::Named("FX"),
            }],
        );
        // Polarity on every stem.
        for &stem in dry.iter().chain(["FX"].iter()) {
            add(
                F::Polarity,
                piece,
                Normal,
                rate,
                format,
                vec![D::Polarity {
                    stem: StemSel::Named(stem),
                }],
            );
        }
        // Master bus.
        for db in [0.3, 1.0, 2.0, -0.5, -3.0, -6.0] {
            add(
                F::MasterGain,
                piece,
                Normal,
                rate,
                format,
                vec![D::MasterGain { db }],
            );
        }
        for bands in eq_variants() {
            add(
                F::MasterEq,
                piece,
                Normal,
                rate,
                format,
                vec![D::MasterEq { bands }],
            );
        }
        for (threshold_db, ratio, makeup_db) in
            [(-18.0, 2.0, 2.0), (-26.0, 4.0, 6.0), (-14.0, 1.5, 1.0)]
        {
            add(
                F::MasterDynamics,
                piece,
                Normal,
                rate,
                format,
                vec![D::MasterComp {
                    threshold_db,
                    ratio,
                    makeup_db,
                }],
            );
        }
        for drive_db in [3.0, 6.0] {
            add(
                F::MasterDynamics,
                piece,
                Normal,
                rate,
                format,
                vec![D::MasterLimit {
                    drive_db,
                    ceiling_db: -2.0,
                    lookahead_ms: 1.5,
                }],
            );
        }
        // Mix clipped, tails cut.
        for over_db in [0.5, 3.0] {
            add(
                F::Clipping,
                piece,
                Normal,
                rate,
                format,
                vec![D::MixClip { over_db }],
            );
        }
        for after_music_s in [0.0, 0.6] {
            add(
                F::TailCut,
                piece,
                Normal,
                rate,
                format,
                vec![D::TailCut { after_music_s }],
            );
        }
        // The mix at another rate or depth; every stem at another rate.
        add(
            F::MixFormat,
            piece,
            Normal,
            rate,
            format,
            vec![D::MixFormat {
                rate: Some(other_rate),
                format: Some(other_format),
            }],
        );
        add(
            F::MixFormat,
            piece,
            Normal,
            rate,
            format,
            vec![D::MixFormat {
                rate: None,
                format: Some(other_format),
            }],
        );
        add(
            F::MixFormat,
            piece,
            Normal,
            rate,
            format,
            vec![D::MixFormat {
                rate: Some(higher_rate),
                format: None,
            }],
        );
        add(
            F::MixFormat,
            piece,
            Normal,
            rate,
            format,
            vec![D::StemsRate { rate: other_rate }],
        );
        // The mix offset against every stem.
        for samples in [1i64, 64, 480, -200, 2048, 48_000] {
            add(
                F::MixOffset,
                piece,
                Normal,
                rate,
                format,
                vec![D::MixShift { samples }],
            );
        }
        // Multitrack deliveries.
        add(
            F::Multitrack,
            piece,
            Normal,
            rate,
            format,
            vec![D::Multitrack],
        );
    }
    // Families that need a bass and a kick track.
    for piece in PieceId::ALL.into_iter().filter(|p| has_bass_and_kick(*p)) {
        for (crossover_hz, gain_db) in [(300.0, 0.0), (400.0, -3.0)] {
            add(
                F::LowEndCancellation,
                piece,
                Normal,
                rate,
                format,
                vec![D::LowEndCancel {
                    crossover_hz,
                    gain_db,
                }],
            );
        }
        for crossover_hz in [90.0, 120.0] {
            add(
                F::KickSplit,
                piece,
                Normal,
                rate,
                format,
                vec![D::KickSplit {
                    crossover_hz,
                    in_name: "KickIn",
                    sub_name: "KickSub",
                }],
            );
        }
        add(
            F::Multitrack,
            piece,
            Normal,
            rate,
            format,
            vec![
                D::Multitrack,
                D::StemShift {
                    stem: StemSel::Named("Kit"),
                    samples: 480,
                },
            ],
        );
        add(
            F::Multitrack,
            piece,
            Normal,
            rate,
            format,
            vec![
                D::Multitrack,
                D::Polarity {
                    stem: StemSel::Named("Kick"),
                },
            ],
        );
    }
    // Naming.
    add(
        F::Naming,
        PieceId::Harbor,
        Normal,
        rate,
        format,
        vec![D::Rename {
            stem: None,
            file_name: "mix.wav",
        }],
    );
    add(
        F::Naming,
        PieceId::Harbor,
        Normal,
        rate,
        format,
        vec![D::Rename {
            stem: Some("Drums"),
            file_name: "Harbor_Drums_FINAL_v2.wav",
        }],
    );
    add(
        F::Naming,
        PieceId::Neon,
        Normal,
        rate,
        format,
        vec![D::Rename {
            stem: Some("Keys"),
            file_name: "Audio_27.wav",
        }],
    );
    add(
        F::Naming,
        PieceId::Lantern,
        Normal,
        rate,
        format,
        vec![D::Rename {
            stem: Some("Brass"),
            file_name: "Lanterns_Brass.wav",
        }],
    );
    add(
        F::Naming,
        PieceId::Neon,
        Normal,
        rate,
        format,
        vec![D::KickSplit {
            crossover_hz: 90.0,
            in_name: "Kick_In",
            sub_name: "Kick_Sub",
        }],
    );
    add(
        F::Naming,
        PieceId::Lantern,
        Normal,
        rate,
        format,
        vec![D::Rename {
            stem: Some("Piano"),
            file_name: "Lantern_Piano copy.wav",
        }],
    );
    // A numbered take and a DAW's default bounce name.
    add(
        F::Naming,
        PieceId::Willow,
        Normal,
        rate,
        format,
        vec![D::Rename {
            stem: Some("Vibes"),
            file_name: "Willow_Vibes_take3.wav",
        }],
    );
    add(
        F::Naming,
        PieceId::Willow,
        Normal,
        rate,
        format,
        vec![D::Rename {
            stem: Some("Sax"),
            file_name: "Audio 04.wav",
        }],
    );
    // Pairs of defects.
    let mut pairs: Vec<(PieceId, Vec<Defect>)> = vec![
        (
            PieceId::Harbor,
            vec![
                D::StemGain {
                    stem: StemSel::Loudest,
                    db: 6.0,
                },
                D::StemShift {
                    stem: StemSel::Named("Lead"),
                    samples: 480,
                },
            ],
        ),
        (
            PieceId::Lantern,
            vec![
                D::MasterComp {
                    threshold_db: -20.0,
                    ratio: 3.0,
                    makeup_db: 3.0,
                },
                D::StemGain {
                    stem: StemSel::Quietest,
                    db: -3.0,
                },
            ],
        ),
        (
            PieceId::Harbor,
            vec![
                D::StemMute {
                    stem: StemSel::Named("Keys"),
                    from_s: 8.0,
                    to_s: 12.0,
                },
                D::StemShift {
                    stem: StemSel::Named("Bass"),
                    samples: -96,
                },
            ],
        ),
        (
            PieceId::Neon,
            vec![
                D::MasterGain { db: -2.0 },
                D::Polarity {
                    stem: StemSel::Named("Keys"),
                },
            ],
        ),
        (
            PieceId::Lantern,
            vec![
                D::StemPreRoll {
                    stem: StemSel::Named("Winds"),
                    seconds: 1.5,
                },
                D::StemGain {
                    stem: StemSel::Named("Strings"),
                    db: 3.0,
                },
            ],
        ),
        (
            PieceId::Harbor,
            vec![
                D::DropStem {
                    stem: StemSel::Named("Guitar"),
                },
                D::MixShift { samples: 64 },
            ],
        ),
        // A look-ahead limiter whose latency the export did not compensate: 1.5 ms at 48 kHz.
        (
            PieceId::Lantern,
            vec![
                D::MasterLimit {
                    drive_db: 4.0,
                    ceiling_db: -2.0,
                    lookahead_ms: 1.5,
                },
                D::MixShift { samples: 72 },
            ],
        ),
        (
            PieceId::Willow,
            vec![
                D::Polarity {
                    stem: StemSel::Named("Bass"),
                },
                D::StemShift {
                    stem: StemSel::Named("Guitar"),
                    samples: 240,
                },
            ],
        ),
        (
            PieceId::Willow,
            vec![
                D::StemMute {
                    stem: StemSel::Named("Vibes"),
                    from_s: 9.0,
                    to_s: 13.0,
                },
                D::MasterGain { db: -1.5 },
            ],
        ),
    ];
    pairs.extend(hiding_pairs());
    for (piece, defects) in pairs {
        add(F::Pairs, piece, Normal, rate, format, defects);
    }
    out
}

/// Pairs where one defect hides another (issue 11, fifteenth round), in the sweep and, at
/// another rate, in the fast subset: a reverb return missing beside a bass inverted 32 dB over
/// it; a drum stem stopping beside a low shelf whose residual held its rise as delivered at
/// 9 dB; an EQ beside a missing guitar whose residual is 16 dB over the EQ's.
fn hiding_pairs() -> Vec<(PieceId, Vec<Defect>)> {
    use Defect as D;
    vec![
        (
            PieceId::Neon,
            vec![
                D::Polarity {
                    stem: StemSel::Named("Bass"),
                },
                D::DropStem {
                    stem: StemSel::Named("FX"),
                },
            ],
        ),
        (
            PieceId::Neon,
            vec![
                D::MasterEq {
                    bands: vec![(Shape::LowShelf { gain_db: 3.0 }, 120.0, 0.7)],
                },
                D::StemStopsAt {
                    stem: StemSel::Named("Drums"),
                    at_s: 16.0,
                    truncate: false,
                },
            ],
        ),
        (
            PieceId::Willow,
            vec![
                D::DropStem {
                    stem: StemSel::Named("Guitar"),
                },
                D::MasterEq {
                    bands: vec![(Shape::HighShelf { gain_db: 2.0 }, 6000.0, 0.7)],
                },
            ],
        ),
    ]
}

/// The fast subset: one or two cases per family, on short sessions.
pub fn fast() -> Vec<Case> {
    use Defect as D;
    use Family as F;
    use Length::Short;
    let s = Short;
    let mut out = Vec::new();
    let mut add = |family, piece, rate, format, defects| {
        out.push(Case::new(family, piece, s, rate, format, defects))
    };
    add(F::Clean, PieceId::Harbor, 44_100, Format::Int16, vec![]);
    add(F::Clean, PieceId::Lantern, 48_000, Format::Int24, vec![]);
    add(F::Clean, PieceId::Neon, 48_000, Format::Float32, vec![]);
    // A start offset of no whole number of the offset search's hops (44 frames at 44.1 kHz).
    add(
        F::StemStartOffset,
        PieceId::Willow,
        44_100,
        Format::Int24,
        vec![D::StemShift {
            stem: StemSel::Named("Sax"),
            samples: -66_157,
        }],
    );
    add(
        F::StemGainLoudest,
        PieceId::Neon,
        RATE,
        Format::Int24,
        vec![D::StemGain {
            stem: StemSel::Loudest,
            db: 6.0,
        }],
    );
    add(
        F::StemGainQuietest,
        PieceId::Harbor,
        RATE,
        Format::Int24,
        vec![D::StemGain {
            stem: StemSel::Quietest,
            db: -3.0,
        }],
    );
    add(
        F::StemOffset,
        PieceId::Harbor,
        RATE,
        Format::Int24,
        vec![D::StemShift {
            stem: StemSel::Named("Keys"),
            samples: 480,
        }],
    );
    add(
        F::StemStartOffset,
        PieceId::Neon,
        RATE,
        Format::Int24,
        vec![D::StemShift {
            stem: StemSel::Named("Keys"),
            samples: 96_000,
        }],
    );
    add(
        F::StemStartOffset,
        PieceId::Harbor,
        RATE,
        Format::Int24,
        vec![D::StemFromFirstRegion {
            stem: StemSel::Named("Lead"),
        }],
    );
    add(
        F::StemStopsEarly,
        PieceId::Neon,
        RATE,
        Format::Int24,
        vec![D::StemStopsAt {
            stem: StemSel::Named("Drums"),
            at_s: 6.0,
            truncate: false,
        }],
    );
    add(
        F::StemMuted,
        PieceId::Lantern,
        RATE,
        Format::Int24,
        vec![D::StemMute {
            stem: StemSel::Named("Piano"),
            from_s: 3.0,
            to_s: 5.0,
        }],
    );
    add(
        F::MissingStem,
        PieceId::Harbor,
        RATE,
        Format::Int24,
        vec![D::DropStem {
            stem: StemSel::Named("Keys"),
        }],
    );
    add(
        F::MissingReturn,
        PieceId::Lantern,
        RATE,
        Format::Int24,
        vec![D::DropStem {
            stem: StemSel::Named("FX"),
        }],
    );
    add(
        F::Polarity,
        PieceId::Neon,
        RATE,
        Format::Int24,
        vec![D::Polarity {
            stem: StemSel::Named("Bass"),
        }],
    );
    add(
        F::MasterGain,
        PieceId::Lantern,
        RATE,
        Format::Int24,
        vec![D::MasterGain { db: 1.0 }],
    );
    add(
        F::MasterEq,
        PieceId::Harbor,
        RATE,
        Format::Int24,
        vec![D::MasterEq {
            bands: vec![(Shape::Peak { gain_db: -4.0 }, 2500.0, 1.0)],
        }],
    );
    add(
        F::MasterDynamics,
        PieceId::Neon,
        RATE,
        Format::Int24,
        vec![D::MasterComp {
            threshold_db: -26.0,
            ratio: 4.0,
            makeup_db: 6.0,
        }],
    );
    add(
        F::LowEndCancellation,
        PieceId::Harbor,
        RATE,
        Format::Int24,
        vec![D::LowEndCancel {
            crossover_hz: 300.0,
            gain_db: 0.0,
        }],
    );
    add(
        F::KickSplit,
        PieceId::Neon,
        RATE,
        Format::Int24,
        vec![D::KickSplit {
            crossover_hz: 90.0,
            in_name: "KickIn",
            sub_name: "KickSub",
        }],
    );
    add(
        F::Clipping,
        PieceId::Harbor,
        RATE,
        Format::Int24,
        vec![D::MixClip { over_db: 3.0 }],
    );
    add(
        F::TailCut,
        PieceId::Lantern,
        RATE,
        Format::Int24,
        vec![D::TailCut { after_music_s: 0.0 }],
    );
    add(
        F::MixFormat,
        PieceId::Neon,
        RATE,
        Format::Int24,
        vec![D::MixFormat {
            rate: Some(44_100),
            format: Some(Format::Int16),
        }],
    );
    add(
        F::MixOffset,
        PieceId::Harbor,
        RATE,
        Format::Int24,
        vec![D::MixShift { samples: 64 }],
    );
    add(
        F::Naming,
        PieceId::Harbor,
        RATE,
        Format::Int24,
        vec![D::Rename {
            stem: None,
            file_name: "mix.wav",
        }],
    );
    add(
        F::Multitrack,
        PieceId::Neon,
        RATE,
        Format::Int24,
        vec![D::Multitrack],
    );
    add(
        F::Pairs,
        PieceId::Harbor,
        RATE,
        Format::Int24,
        vec![
            D::StemGain {
                stem: StemSel::Loudest,
                db: 6.0,
            },
            D::StemShift {
                stem: StemSel::Named("Lead"),
                samples: 480,
            },
        ],
    );
    // A 16-bit delivery (every file's own dither) with a defect:
    // - over the whole session at 48 kHz: in the song's tail the dither is most of each frame,
    //   and is no source (the short session ends before the tail shows it);
    // - on the short session at 44.1 kHz: the bass and the inverted sub correlate with the
    //   master in quadrature, which turned the band's phase model by 18 degrees and read as
    //   master EQ once the 16-bit floor lifted the residual over the null.
    for (length, rate) in [(Length::Normal, 48_000), (s, 44_100)] {
        out.push(Case::new(
            F::LowEndCancellation,
            PieceId::Neon,
            length,
            rate,
            Format::Int16,
            vec![D::LowEndCancel {
                crossover_hz: 300.0,
                gain_db: 0.0,
            }],
        ));
    }
    // A quiet orchestral cue in 16 bits: sections of dither alone (their chance correlation
    // with the master fitted gains of either sign, `analyzer/floor.rs`) read as a compressor.
    out.push(Case::new(
        F::MasterGain,
        PieceId::Lantern,
        s,
        44_100,
        Format::Int16,
        vec![D::MasterGain { db: -0.5 }],
    ));
    // A mute beside a stem placed at a lag of its own (at 44.1 kHz; the sweep has it at 48):
    // the second before the bass was placed
    // left a residual at the master's level, which held the dropouts' whole-run baseline 13 dB
    // up for the next ten seconds (the keys' mute never rose over it).
    out.push(Case::new(
        F::Pairs,
        PieceId::Harbor,
        Length::Normal,
        44_100,
        Format::Int24,
        vec![
            D::StemMute {
                stem: StemSel::Named("Keys"),
                from_s: 8.0,
                to_s: 12.0,
            },
            D::StemShift {
                stem: StemSel::Named("Bass"),
                samples: -96,
            },
        ],
    ));
    // A master compressor on a 16-bit delivery whose guitar rests through the intro: its
    // dither alone fitted a gain of either sign, and a sign turned the residual's character
    // (content no stem carries, beside the compressor).
    out.push(Case::new(
        F::MasterDynamics,
        PieceId::Harbor,
        Length::Normal,
        44_100,
        Format::Int16,
        vec![D::MasterComp {
            threshold_db: -18.0,
            ratio: 2.0,
            makeup_db: 2.0,
        }],
    ));
    // At 44.1 kHz in 16 bits (the sweep's 48 kHz cases were right, these were not before the
    // sixteenth round): a limiter driven 3 dB that touches one hit by 1 dB and two barely (its
    // peaks held to the step at -2 dBFS; the prediction stopped at 17.8 kHz and left the
    // synths' air in the residual); a brass stem 120,031 samples early, which the shifted pass
    // found one sample off, correlating 0.73 as well where it was (moved by its phase slope).
    out.push(Case::new(
        F::MasterDynamics,
        PieceId::Neon,
        Length::Normal,
        44_100,
        Format::Int16,
        vec![D::MasterLimit {
            drive_db: 3.0,
            ceiling_db: -2.0,
            lookahead_ms: 1.5,
        }],
    ));
    out.push(Case::new(
        F::StemStartOffset,
        PieceId::Lantern,
        Length::Normal,
        44_100,
        Format::Int16,
        vec![D::StemShift {
            stem: StemSel::Named("Brass"),
            samples: -120_031,
        }],
    ));
    // One defect hiding another (at 44.1 kHz; the sweep has them at 48): an EQ beside a
    // missing guitar whose residual is 16 dB over the EQ's; a reverb return missing beside a
    // bass inverted 32 dB over it; a drum stem stopping beside a low shelf whose residual held
    // the drums' rise as delivered at 9 dB.
    for (piece, defects) in hiding_pairs() {
        out.push(Case::new(
            F::Pairs,
            piece,
            Length::Normal,
            44_100,
            Format::Int24,
            defects,
        ));
    }
    out
}

/// Every case of both lists, by name.
pub fn find(name: &str) -> Option<Case> {
    full().into_iter().chain(fast()).find(|c| c.name == name)
}
