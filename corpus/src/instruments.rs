//! The real instruments: the SoundFonts on disk (loaded once per process), and the rendering of
//! one part (a list of notes on one preset) to stereo audio with `rustysynth`.

use std::fs::File;
use std::io::BufReader;
use std::sync::{Arc, OnceLock};

use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};

use crate::dsp::{Stereo, silence};

/// A SoundFont the corpus plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Font {
    /// FluidR3 General MIDI: every melodic instrument.
    Gm,
    /// AVL Drumkits "Black Pearl" (a multi-sampled acoustic kit).
    BlackPearl,
    /// AVL Drumkits "Red Zeppelin" (a second acoustic kit, rock tuning).
    RedZeppelin,
}

/// The environment variable that plays the melodic parts with another General MIDI SoundFont
/// (`.sf2`): the same arrangements and defects on other instruments' samples, a check that
/// what the analysis learnt on FluidR3 holds elsewhere. Checked so far with Debian's
/// `timgm6mb-soundfont` (`/usr/share/sounds/sf2/TimGM6mb.sf2`),
/// `musescore-general-soundfont-lossless` (`/usr/share/sounds/sf2/MuseScore_General_Full.sf2`)
/// and `csound-soundfont` (`/usr/share/sounds/sf2/sf_GMbank.sf2`).
pub const GM_FONT_VAR: &str = "STEMCHECK_CORPUS_GM";

impl Font {
    /// Where Debian installs it (the General MIDI font: [`GM_FONT_VAR`] when set).
    pub fn path(self) -> String {
        match self {
            Self::Gm => std::env::var(GM_FONT_VAR)
                .unwrap_or_else(|_| "/usr/share/sounds/sf2/FluidR3_GM.sf2".into()),
            Self::BlackPearl => "/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2".into(),
            Self::RedZeppelin => "/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2".into(),
        }
    }

    /// The Debian package that installs it (`cargo xtask test` installs both).
    pub fn debian_package(self) -> &'static str {
        match self {
            Self::Gm => "fluid-soundfont-gm",
            Self::BlackPearl | Self::RedZeppelin => "avldrums.lv2-soundfont",
        }
    }

    /// The SoundFont, loaded on first use and kept for the life of the process (FluidR3 is 140 MB:
    /// it is read once). Panics with the Debian package to install when the file is missing: the
    /// corpus never skips silently.
    pub fn load(self) -> Arc<SoundFont> {
        static GM: OnceLock<Arc<SoundFont>> = OnceLock::new();
        static BLACK_PEARL: OnceLock<Arc<SoundFont>> = OnceLock::new();
        static RED_ZEPPELIN: OnceLock<Arc<SoundFont>> = OnceLock::new();
        let cell = match self {
            Self::Gm => &GM,
            Self::BlackPearl => &BLACK_PEARL,
            Self::RedZeppelin => &RED_ZEPPELIN,
        };
        cell.get_or_init(|| {
            let file = File::open(self.path()).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}. The development corpus needs it: apt-get install {} (cargo xtask test installs it).",
                    self.path(),
                    self.debian_package()
                )
            });
            let font = SoundFont::new(&mut BufReader::new(file))
                .unwrap_or_else(|e| panic!("{}: not a readable SoundFont ({e:?}).", self.path()));
            Arc::new(font)
        })
        .clone()
    }
}

/// One note: when, how long, which key, how hard.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    /// Onset in seconds from the start of the piece (humanised).
    pub start_s: f64,
    /// Held for this long, in seconds (the release tail follows).
    pub dur_s: f64,
    /// MIDI key.
    pub key: u8,
    /// MIDI velocity, 1 to 127.
    pub velocity: u8,
}

/// What a part plays on: a font and a preset (bank, program).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Patch {
    /// The SoundFont.
    pub font: Font,
    /// MIDI bank (128: a drum kit on the percussion channel).
    pub bank: i32,
    /// MIDI program (General MIDI numbering from 0).
    pub program: i32,
}

impl Patch {
    /// A General MIDI melodic program.
    pub const fn gm(program: i32) -> Self {
        Self {
            font: Font::Gm,
            bank: 0,
            program,
        }
    }

    /// A drum kit (its only preset, on the percussion channel).
    pub const fn kit(font: Font) -> Self {
        Self {
            font,
            bank: 128,
            program: 0,
        }
    }

    /// One of FluidR3's General MIDI drum kits (bank 128) by program: 40 is "Brush" (brushed
    /// snare taps, slaps and swirls, a jazz kick, ride and foot hi-hat).
    pub const fn gm_kit(program: i32) -> Self {
        Self {
            font: Font::Gm,
            bank: 128,
            program,
        }
    }

    fn is_drums(self) -> bool {
        self.bank == 128
    }
}

/// Renders notes on a patch to `len` frames of stereo at `sample_rate_hz`. Its own synthesizer,
/// with the SoundFont's built-in reverb and chorus off (the console adds its own): deterministic.
pub fn render_part(patch: Patch, notes: &[Note], len: usize, sample_rate_hz: u32) -> Stereo {
    let font = patch.font.load();
    let mut settings = SynthesizerSettings::new(sample_rate_hz as i32);
    settings.enable_reverb_and_chorus = false;
    settings.maximum_polyphony = 128;
    let mut synth = Synthesizer::new(&font, &settings).expect("valid synthesizer settings");
    let channel = if patch.is_drums() { 9 } else { 0 };
    if !patch.is_drums() {
        // Bank select (CC 0) and program change.
        synth.process_midi_message(channel, 0xB0, 0, patch.bank);
        synth.process_midi_message(channel, 0xC0, patch.program, 0);
    } else {
        synth.process_midi_message(channel, 0xC0, patch.program, 0);
    }
    // Events in time order: (frame, is_on, key, velocity). Offs before ons at one frame.
    let rate = f64::from(sample_rate_hz);
    let mut events: Vec<(usize, bool, u8, u8)> = Vec::with_capacity(notes.len() * 2);
    for n in notes {
        let on = (n.start_s.max(0.0) * rate).round() as usize;
        let off = ((n.start_s + n.dur_s).max(0.0) * rate).round() as usize;
        events.push((on, true, n.key, n.velocity));
        events.push((off.max(on + 1), false, n.key, 0));
    }
    events.sort_by_key(|e| (e.0, e.1, e.2));
    let mut out = silence(len);
    let mut at = 0usize;
    for (frame, is_on, key, velocity) in events {
        let frame = frame.min(len);
        if frame > at {
            let (l, r) = out.split_at_mut(1);
            synth.render(&mut l[0][at..frame], &mut r[0][at..frame]);
            at = frame;
        }
        if is_on {
            synth.note_on(channel, i32::from(key), i32::from(velocity));
        } else {
            synth.note_off(channel, i32::from(key));
        }
    }
    if at < len {
        let (l, r) = out.split_at_mut(1);
        synth.render(&mut l[0][at..len], &mut r[0][at..len]);
    }
    out
}
