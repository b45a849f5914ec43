//! Ground truth as data: the findings a case must raise (kind, on which stem, with which value
//! and time range, within which tolerance), the consequences it may raise, and the kinds it must
//! never raise.

/// Offsets are exact to the sample.
pub const OFFSET_TOLERANCE_SAMPLES: f64 = 0.5;
/// Gains within 0.1 dB.
pub const GAIN_TOLERANCE_DB: f64 = 0.1;
/// Time ranges within 50 ms.
pub const RANGE_TOLERANCE_S: f64 = 0.05;

/// What a finding is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The master bus as a whole: no stem named.
    Bus,
    /// The mix file: no stem, or a name containing "mix".
    Mix,
    /// This stem (among the finding's stems).
    Stem(String),
    /// Exactly these stems, in any order.
    Stems(Vec<String>),
    /// Whatever the finding names (a missing stem has no file to name).
    Any,
}

impl Target {
    /// Whether a reported finding's stem list is about this target.
    pub fn matches(&self, stems: &[String]) -> bool {
        match self {
            Self::Bus => stems.is_empty(),
            Self::Mix => stems.is_empty() || stems.iter().all(|s| s.to_lowercase().contains("mix")),
            Self::Stem(name) => stems.iter().any(|s| s == name),
            Self::Stems(names) => {
                let mut a: Vec<&String> = stems.iter().collect();
                let mut b: Vec<&String> = names.iter().collect();
                a.sort();
                b.sort();
                a == b
            }
            Self::Any => true,
        }
    }

    /// A short label for lists.
    pub fn label(&self) -> String {
        match self {
            Self::Bus => "bus".into(),
            Self::Mix => "mix".into(),
            Self::Stem(s) => s.clone(),
            Self::Stems(v) => v.join("+"),
            Self::Any => "any".into(),
        }
    }
}

/// A finding the case must raise.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// The kind, and the other kinds accepted for it (first: the preferred one).
    pub kinds: Vec<&'static str>,
    /// What it must be about.
    pub target: Target,
    /// The value and its tolerance, if it is checked.
    pub value: Option<(f64, f64)>,
    /// Start and (if checked) end of the time range, in seconds.
    pub range_s: Option<(f64, Option<f64>)>,
}

impl Expected {
    /// Kinds accepted (the first preferred) on a target, no value or range checked.
    pub fn new(kinds: &[&'static str], target: Target) -> Self {
        Self {
            kinds: kinds.to_vec(),
            target,
            value: None,
            range_s: None,
        }
    }

    /// Checks the value within a tolerance (in the finding's unit).
    pub fn value(mut self, value: f64, tolerance: f64) -> Self {
        self.value = Some((value, tolerance));
        self
    }

    /// Checks the time range (within 50 ms; the end only if given).
    pub fn range(mut self, start_s: f64, end_s: Option<f64>) -> Self {
        self.range_s = Some((start_s, end_s));
        self
    }

    /// One line for the failure list.
    pub fn describe(&self) -> String {
        let mut s = format!("{} on {}", self.kinds.join("|"), self.target.label());
        if let Some((v, t)) = self.value {
            s.push_str(&format!(" = {v:.3} (+/-{t})"));
        }
        if let Some((a, b)) = self.range_s {
            match b {
                Some(b) => s.push_str(&format!(" at {a:.3}-{b:.3} s")),
                None => s.push_str(&format!(" from {a:.3} s")),
            }
        }
        s
    }
}

/// The whole ground truth of a case.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Truth {
    /// Findings that must be there.
    pub expected: Vec<Expected>,
    /// Consequences of the defects that may appear as warnings or errors (kind, target).
    pub tolerated: Vec<(&'static str, Target)>,
    /// Kinds that must not appear at any severity.
    pub forbidden: Vec<&'static str>,
    /// Measured facts about the defects (how much a compressor reduced, where a stem enters), to
    /// judge a miss by.
    pub notes: Vec<String>,
}

impl Truth {
    /// Adds a finding that must be there.
    pub fn expect(&mut self, e: Expected) {
        self.expected.push(e);
    }

    /// Allows a consequence of the defect (kind on target) as a warning or error.
    pub fn tolerate(&mut self, kind: &'static str, target: Target) {
        if !self
            .tolerated
            .iter()
            .any(|(k, t)| *k == kind && *t == target)
        {
            self.tolerated.push((kind, target));
        }
    }

    /// Records a measured fact about the defect.
    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// Forbids a kind at any severity.
    pub fn forbid(&mut self, kind: &'static str) {
        if !self.forbidden.contains(&kind) {
            self.forbidden.push(kind);
        }
    }
}
