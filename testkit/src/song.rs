//! A small song in five stems: Drums, Bass, Harmony, Lead, FX (a reverb return fed by the lead
//! and the harmony). Every stem is stereo and panned; content and timing come from a seed.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::Stereo;
use crate::process::Reverb;

/// One stem of the song.
#[derive(Debug, Clone)]
pub struct Stem {
    /// The stem's name ("Drums").
    pub name: &'static str,
    /// Its audio.
    pub audio: Stereo,
}

/// A rendered song: the stems and their exact sum (the clean master).
#[derive(Debug, Clone)]
pub struct Song {
    /// The rate every stem was rendered at, in Hz.
    pub sample_rate_hz: f32,
    /// The stems, all the same length; their sum is the master.
    pub stems: Vec<Stem>,
}

impl Song {
    /// The exact sum of all stems.
    pub fn master(&self) -> Stereo {
        let refs: Vec<&Stereo> = self.stems.iter().map(|s| &s.audio).collect();
        crate::sum(&refs)
    }

    /// The stem called `name`.
    pub fn stem(&self, name: &str) -> &Stem {
        self.stems
            .iter()
            .find(|s| s.name == name)
            .expect("no such stem")
    }

    /// Length in frames.
    pub fn len(&self) -> usize {
        self.stems.first().map_or(0, |s| s.audio[0].len())
    }

    /// Whether the song has no frames (no stems, or empty ones).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends the song properly: every stem fades out over `fade_seconds` and the last
    /// `silence_seconds` are silent (the master, their sum, follows).
    pub fn with_ending(mut self, fade_seconds: f32, silence_seconds: f32) -> Self {
        let len = self.len();
        let silence = ((silence_seconds * self.sample_rate_hz) as usize).min(len);
        let fade = ((fade_seconds * self.sample_rate_hz) as usize).min(len - silence);
        let fade_start = len - silence - fade;
        for stem in &mut self.stems {
            for channel in &mut stem.audio {
                for (i, x) in channel[fade_start..].iter_mut().enumerate() {
                    let gain = if i < fade {
                        0.5 + 0.5 * (std::f32::consts::PI * i as f32 / fade as f32).cos()
                    } else {
                        0.0
                    };
                    *x *= gain;
                }
            }
        }
        self
    }
}

const TEMPO_BPM: f32 = 112.0;
/// MIDI notes of the chord roots, one per bar.
const PROGRESSION: [i32; 4] = [45, 41, 48, 43]; // A, F, C, G

fn midi_hz(note: f32) -> f32 {
    440.0 * 2f32.powf((note - 69.0) / 12.0)
}

fn pan(mono: &[f32], position: f32) -> Stereo {
    // Constant-power pan, position in [-1, 1].
    let angle = (position + 1.0) * std::f32::consts::FRAC_PI_4;
    let (l, r) = (angle.cos(), angle.sin());
    [
        mono.iter().map(|x| x * l).collect(),
        mono.iter().map(|x| x * r).collect(),
    ]
}

/// Renders `seconds` of the song at `sample_rate_hz` from `seed`.
pub fn render_song(seed: u64, sample_rate_hz: f32, seconds: f32) -> Song {
    let frames = (seconds * sample_rate_hz) as usize;
    let mut rng = SmallRng::seed_from_u64(seed);
    let sr = sample_rate_hz;
    let beat = (60.0 / TEMPO_BPM * sr) as usize;
    let bar = 4 * beat;

    // Drums: kick on 1 and 3, snare on 2 and 4, hats on eighths.
    let mut kick = vec![0.0f32; frames];
    let mut snare = vec![0.0f32; frames];
    let mut hats = vec![0.0f32; frames];
    let mut t = 0;
    while t < frames {
        let beat_index = t / beat;
        if beat_index.is_multiple_of(2) {
            let mut phase = 0.0f32;
            for i in 0..(0.35 * sr) as usize {
                if t + i >= frames {
                    break;
                }
                let time = i as f32 / sr;
                let hz = 50.0 + 90.0 * (-time * 30.0).exp();
                phase += 2.0 * std::f32::consts::PI * hz / sr;
                kick[t + i] += 0.8 * phase.sin() * (-time * 9.0).exp();
            }
        } else {
            for i in 0..(0.2 * sr) as usize {
                if t + i >= frames {
                    break;
                }
                let time = i as f32 / sr;
                let tone = (2.0 * std::f32::consts::PI * 190.0 * time).sin();
                snare[t + i] +=
                    (0.35 * rng.gen_range(-1.0f32..1.0) + 0.25 * tone) * (-time * 22.0).exp();
            }
        }
        for half in 0..2 {
            let start = t + half * beat / 2;
            let mut last = 0.0f32;
            for i in 0..(0.04 * sr) as usize {
                if start + i >= frames {
                    break;
                }
                let white = rng.gen_range(-1.0f32..1.0);
                let high = white - last; // first difference: a crude high-pass
                last = white;
                hats[start + i] += 0.12 * high * (-(i as f32) / sr * 90.0).exp();
            }
        }
        t += beat;
    }
    let drum_l: Vec<f32> = (0..frames)
        .map(|i| kick[i] + 0.9 * snare[i] + 1.1 * hats[i])
        .collect();
    let drum_r: Vec<f32> = (0..frames)
        .map(|i| kick[i] + 1.0 * snare[i] + 0.7 * hats[i])
        .collect();

    // Bass: root notes in eighths with a soft saw, low-passed.
    let mut bass = vec![0.0f32; frames];
    let mut phase = 0.0f32;
    let mut smooth = 0.0f32;
    for (i, out) in bass.iter_mut().enumerate() {
        let bar_index = (i / bar) % PROGRESSION.len();
        let eighth = (i % bar) / (beat / 2);
        let note = PROGRESSION[bar_index] - 12 + if eighth % 4 == 3 { 7 } else { 0 };
        phase = (phase + midi_hz(note as f32) / sr) % 1.0;
        let saw = 2.0 * phase - 1.0;
        let within = (i % (beat / 2)) as f32 / sr;
        let env = (-within * 4.0).exp() * 0.7 + 0.3;
        smooth += 0.08 * (saw * env - smooth);
        *out = 0.45 * smooth;
    }

    // Harmony: triads with slow attack, detuned pair per voice, wide.
    let mut chords_l = vec![0.0f32; frames];
    let mut chords_r = vec![0.0f32; frames];
    for (i, (l, r)) in chords_l.iter_mut().zip(chords_r.iter_mut()).enumerate() {
        let bar_index = (i / bar) % PROGRESSION.len();
        let root = PROGRESSION[bar_index] + 12;
        let within = (i % bar) as f32 / sr;
        let env = (1.0 - (-within * 3.0).exp()) * 0.12;
        let time = i as f32 / sr;
        for (k, interval) in [0, 4, 7].iter().enumerate() {
            let third = if bar_index == 0 && k == 1 {
                3
            } else {
                *interval
            };
            let hz = midi_hz((root + third) as f32);
            *l += env * (2.0 * std::f32::consts::PI * hz * 1.002 * time).sin();
            *r += env * (2.0 * std::f32::consts::PI * hz * 0.998 * time + 0.3).sin();
        }
    }

    // Lead: a melody in quarter notes with vibrato.
    let scale = [0, 2, 4, 7, 9, 12];
    let notes: Vec<i32> = (0..frames / beat + 1)
        .map(|_| 69 + scale[rng.gen_range(0..scale.len())])
        .collect();
    let mut lead = vec![0.0f32; frames];
    let mut phase = 0.0f32;
    for (i, out) in lead.iter_mut().enumerate() {
        let time = i as f32 / sr;
        let hz = midi_hz(notes[i / beat] as f32)
            * (1.0 + 0.004 * (2.0 * std::f32::consts::PI * 5.5 * time).sin());
        phase = (phase + hz / sr) % 1.0;
        let within = (i % beat) as f32 / sr;
        let env = (within * 40.0).min(1.0) * (-within * 1.5).exp() * 0.2;
        let tri = 1.0 - 4.0 * (phase - 0.5).abs();
        *out = env * (tri + 0.3 * (4.0 * std::f32::consts::PI * phase).sin());
    }

    // FX: a reverb return fed by the lead and the harmony.
    let send: Vec<f32> = (0..frames)
        .map(|i| 0.5 * lead[i] + 0.3 * (chords_l[i] + chords_r[i]))
        .collect();
    let fx = Reverb::new(sample_rate_hz, seed).process(&send, 0.35);

    let mut song = Song {
        sample_rate_hz,
        stems: vec![
            Stem {
                name: "Drums",
                audio: [drum_l, drum_r],
            },
            Stem {
                name: "Bass",
                audio: pan(&bass, 0.0),
            },
            Stem {
                name: "Harmony",
                audio: [chords_l, chords_r],
            },
            Stem {
                name: "Lead",
                audio: pan(&lead, 0.2),
            },
            Stem {
                name: "FX",
                audio: fx,
            },
        ],
    };
    // Mastered-ish: the master peaks at -6 dBFS.
    let peak = song
        .master()
        .iter()
        .flatten()
        .fold(0.0f32, |p, x| p.max(x.abs()));
    if peak > 0.0 {
        let scale = 0.5 / peak;
        for stem in &mut song.stems {
            stem.audio.iter_mut().flatten().for_each(|x| *x *= scale);
        }
    }
    song
}
