//! The arrangements, written in code: four pieces in different styles (pop/rock, orchestral
//! ballad, electronic funk, acoustic jazz waltz), each a list of tracks with their notes (humanised
//! with a seeded generator), their instrument, their place on the console and the stem they go to.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::dsp::{Compressor, Shape};
use crate::instruments::{Font, Note, Patch};

/// Which piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PieceId {
    /// Pop/rock in G, 118 BPM: drums, bass, piano, guitar, sax lead, reverb and delay returns.
    Harbor,
    /// Orchestral ballad in D, 66 BPM: strings, piano, flute, low brass, a hall.
    Lantern,
    /// Electronic funk in A minor, 104 BPM: drums, synth bass, electric piano, brass stabs,
    /// saw lead, delay and reverb.
    Neon,
    /// Acoustic jazz waltz in F, 3/4 swung, 138 BPM: brushes, upright bass, nylon guitar,
    /// vibraphone, tenor sax, a small room and a dotted-quarter delay. Mixed narrow in the middle
    /// (mono bass, narrow sax) and wide at the sides (guitar left, vibes right), lightly compressed.
    Willow,
    /// Cinematic cue in D minor, 88 BPM (film/TV underscore, written in the thirteenth round as
    /// held-out material): taiko-style kick and toms with timpani, contrabass and a synth sub,
    /// a string ostinato under long violins, horns and trombones, choir, a wide pad and a pulse
    /// arpeggio; six dry stems and a long hall.
    Ember,
}

impl PieceId {
    /// Every piece.
    pub const ALL: [PieceId; 5] = [
        Self::Harbor,
        Self::Lantern,
        Self::Neon,
        Self::Willow,
        Self::Ember,
    ];

    /// The track name the delivery files carry (`Harbor_Drums.wav`).
    pub fn title(self) -> &'static str {
        match self {
            Self::Harbor => "Harbor",
            Self::Lantern => "Lantern",
            Self::Neon => "Neon",
            Self::Willow => "Willow",
            Self::Ember => "Ember",
        }
    }

    /// Tempo in beats per minute.
    pub fn bpm(self) -> f64 {
        match self {
            Self::Harbor => 118.0,
            Self::Lantern => 66.0,
            Self::Neon => 104.0,
            Self::Willow => 138.0,
            Self::Ember => 88.0,
        }
    }

    /// Beats in a bar (the metre's numerator: 4/4 or 3/4).
    pub fn beats_per_bar(self) -> f64 {
        match self {
            Self::Harbor | Self::Lantern | Self::Neon | Self::Ember => 4.0,
            Self::Willow => 3.0,
        }
    }

    /// Bars in a phrase: a session is a whole number of them.
    fn phrase_bars(self) -> usize {
        match self {
            Self::Harbor | Self::Lantern | Self::Neon | Self::Ember => 1,
            // NOTE: a jazz waltz plays whole 8-bar phrases and ends on the tonic: the benchmark's
            // 24 s asks for 18 bars and gets 24 (31 s).
            Self::Willow => 8,
        }
    }

    /// Seconds per bar.
    pub fn bar_s(self) -> f64 {
        self.beats_per_bar() * 60.0 / self.bpm()
    }

    /// Bars that make a piece of about `seconds` (the tail comes on top), rounded up to whole
    /// phrases.
    pub fn bars_for(self, seconds: f64) -> usize {
        let bars = ((seconds / self.bar_s()).round() as usize).max(2);
        bars.div_ceil(self.phrase_bars()) * self.phrase_bars()
    }
}

/// The reverb and delay the returns carry.
#[derive(Debug, Clone, Copy)]
pub struct Returns {
    /// Freeverb room size (0 to 1).
    pub room: f64,
    /// Freeverb damping (0 to 1).
    pub damp: f64,
    /// Reverb pre-delay, in ms.
    pub predelay_ms: f64,
    /// Delay time in beats (0.75: a dotted eighth).
    pub delay_beats: f64,
    /// Gain of each echo against the one before (linear).
    pub delay_feedback: f64,
    /// Return faders, in dB.
    pub reverb_return_db: f64,
    /// The delay return's fader, in dB.
    pub delay_return_db: f64,
}

/// One track of the session: what it plays and how it is mixed.
#[derive(Debug, Clone)]
pub struct Track {
    /// The track's name (its file name in a multitrack delivery).
    pub name: &'static str,
    /// The stem it is bussed to.
    pub stem: &'static str,
    /// What it plays on.
    pub patch: Patch,
    /// What it plays.
    pub notes: Vec<Note>,
    /// Channel EQ bands: (shape, frequency in Hz, Q).
    pub eq: Vec<(Shape, f64, f64)>,
    /// Channel compressor, if any.
    pub comp: Option<Compressor>,
    /// Fader, in dB.
    pub fader_db: f64,
    /// -1 (left) to +1 (right).
    pub pan: f64,
    /// Post-fader sends, in dB (None: no send).
    pub reverb_send_db: Option<f64>,
    /// Post-fader send to the delay, in dB (None: no send).
    pub delay_send_db: Option<f64>,
    /// Stereo width after the fader, before the pan (mid/side: 0 mono, 1 as played, above 1
    /// wider).
    pub width: f64,
}

impl Track {
    /// The same track at another stereo width.
    fn with_width(mut self, width: f64) -> Self {
        self.width = width;
        self
    }
}

/// A whole arrangement.
#[derive(Debug, Clone)]
pub struct Arrangement {
    /// Which piece.
    pub piece: PieceId,
    /// How many bars (of the piece's metre).
    pub bars: usize,
    /// Every track, in mix order.
    pub tracks: Vec<Track>,
    /// The reverb and delay on the returns.
    pub returns: Returns,
    /// Seconds of music (the last note ends by then); the files run on for the tail.
    pub music_s: f64,
}

/// The stem the reverb and delay returns are bussed to.
pub const FX_STEM: &str = "FX";

/// Seconds of tail after the last bar: the hall and the delay decay below the checker's tail
/// floor (-60 dBFS) well before the files end.
pub const TAIL_S: f64 = 4.5;

/// A note writer for one part: beats to seconds, with seeded human timing and velocity.
struct Part {
    rng: SmallRng,
    beat_s: f64,
    /// Timing spread (standard-ish deviation), in seconds.
    jitter_s: f64,
    notes: Vec<Note>,
}

impl Part {
    fn new(piece: PieceId, part: u64, jitter_ms: f64) -> Self {
        Self {
            rng: SmallRng::seed_from_u64(0x57E3_C0DE ^ ((piece as u64) << 32) ^ part),
            beat_s: 60.0 / piece.bpm(),
            jitter_s: jitter_ms * 0.001,
            notes: Vec::new(),
        }
    }

    /// A note at `beat` (from the start of the piece) for `beats`, humanised.
    fn play(&mut self, beat: f64, beats: f64, key: i32, velocity: i32) {
        // Sum of two uniforms: a triangular spread, centred, bounded.
        let dt = (self.rng.r#gen::<f64>() + self.rng.r#gen::<f64>() - 1.0) * self.jitter_s;
        let dv = self.rng.gen_range(-6..=6);
        let start_s = (beat * self.beat_s + dt).max(0.0);
        self.notes.push(Note {
            start_s,
            dur_s: beats * self.beat_s,
            key: key.clamp(0, 127) as u8,
            velocity: (velocity + dv).clamp(1, 127) as u8,
        });
    }

    /// A chord, strummed over `strum_ms` (0: together).
    fn chord(&mut self, beat: f64, beats: f64, keys: &[i32], velocity: i32, strum_ms: f64) {
        for (i, &k) in keys.iter().enumerate() {
            let strum_beats = i as f64 * strum_ms * 0.001 / self.beat_s;
            self.play(beat + strum_beats, beats - strum_beats, k, velocity);
        }
    }

    fn coin(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.gen_range(0..items.len())]
    }
}

/// GM drum keys (the AVL kits follow the GM map).
mod kit {
    pub const KICK: i32 = 36;
    pub const SNARE: i32 = 38;
    pub const SIDE_STICK: i32 = 37;
    pub const CLOSED_HAT: i32 = 42;
    pub const OPEN_HAT: i32 = 46;
    pub const CRASH: i32 = 49;
    pub const RIDE: i32 = 51;
    pub const TOM_HIGH: i32 = 48;
    pub const TOM_LOW: i32 = 45;
    pub const TOM_FLOOR: i32 = 41;
    pub const FOOT_HAT: i32 = 44;
    // FluidR3's Brush kit (bank 128, program 40) puts its brushed snare on the snare keys.
    pub const BRUSH_TAP: i32 = 38;
    pub const BRUSH_SLAP: i32 = 39;
    pub const BRUSH_SWIRL: i32 = 40;
}

/// A melody over a scale: a seeded walk that lands on chord tones on strong beats.
fn melody(
    part: &mut Part,
    bar_beat: f64,
    rhythm: &[(f64, f64)],
    scale: &[i32],
    chord: &[i32],
    last: &mut i32,
    velocity: i32,
) {
    for &(at, len) in rhythm {
        let strong = at.fract() == 0.0 && (at as i32) % 2 == 0;
        let candidates: Vec<i32> = if strong {
            // Chord tones in the melody's octave near the last note.
            (0..3)
                .flat_map(|o| chord.iter().map(move |c| c % 12 + 60 + 12 * o - 12))
                .filter(|k| (k - *last).abs() <= 7)
                .collect()
        } else {
            scale
                .iter()
                .copied()
                .filter(|k| (k - *last).abs() <= 4 && *k != *last)
                .collect()
        };
        let key = if candidates.is_empty() {
            *last
        } else {
            part.pick(&candidates)
        };
        *last = key;
        part.play(bar_beat + at, len, key, velocity);
    }
}

/// The bar a part enters at: `nominal` in a full piece, earlier in a short excerpt (by a third
/// of it at the latest), so every stem sounds in every excerpt.
fn entry(nominal: usize, bars: usize) -> usize {
    nominal.min(bars / 3)
}

fn scale_from(root: i32, steps: &[i32], low: i32, high: i32) -> Vec<i32> {
    (low..=high)
        .filter(|k| steps.contains(&((k - root).rem_euclid(12))))
        .collect()
}

/// The arrangement of `piece` over `bars` bars.
pub fn arrangement(piece: PieceId, bars: usize) -> Arrangement {
    let tracks = match piece {
        PieceId::Harbor => harbor(bars),
        PieceId::Lantern => lantern(bars),
        PieceId::Neon => neon(bars),
        PieceId::Willow => willow(bars),
        PieceId::Ember => ember(bars),
    };
    let returns = match piece {
        PieceId::Harbor => Returns {
            room: 0.78,
            damp: 0.4,
            predelay_ms: 20.0,
            delay_beats: 0.75,
            delay_feedback: 0.35,
            reverb_return_db: -4.0,
            delay_return_db: -8.0,
        },
        PieceId::Lantern => Returns {
            room: 0.88,
            damp: 0.5,
            predelay_ms: 35.0,
            delay_beats: 1.0,
            delay_feedback: 0.25,
            reverb_return_db: -2.0,
            delay_return_db: -14.0,
        },
        PieceId::Neon => Returns {
            room: 0.7,
            damp: 0.3,
            predelay_ms: 10.0,
            delay_beats: 0.75,
            delay_feedback: 0.45,
            reverb_return_db: -6.0,
            delay_return_db: -5.0,
        },
        // A small, dark room close behind the band; the delay a soft dotted quarter (half a bar
        // of 3/4) that only the vibes and the sax feed.
        PieceId::Willow => Returns {
            room: 0.6,
            damp: 0.65,
            predelay_ms: 28.0,
            delay_beats: 1.5,
            delay_feedback: 0.2,
            reverb_return_db: -3.0,
            delay_return_db: -9.0,
        },
        // A long scoring stage; an eighth-note delay on the arpeggio and the horns.
        PieceId::Ember => Returns {
            room: 0.93,
            damp: 0.35,
            predelay_ms: 45.0,
            delay_beats: 0.5,
            delay_feedback: 0.4,
            reverb_return_db: -1.0,
            delay_return_db: -10.0,
        },
    };
    Arrangement {
        piece,
        bars,
        tracks,
        returns,
        music_s: bars as f64 * piece.bar_s(),
    }
}

fn comp(
    threshold_db: f64,
    ratio: f64,
    attack_ms: f64,
    release_ms: f64,
    makeup_db: f64,
) -> Option<Compressor> {
    Some(Compressor {
        threshold_db,
        ratio,
        knee_db: 6.0,
        attack_ms,
        release_ms,
        makeup_db,
    })
}

#[allow(clippy::too_many_arguments)]
fn track(
    name: &'static str,
    stem: &'static str,
    patch: Patch,
    notes: Vec<Note>,
    eq: Vec<(Shape, f64, f64)>,
    comp: Option<Compressor>,
    fader_db: f64,
    pan: f64,
    sends: (Option<f64>, Option<f64>),
) -> Track {
    Track {
        name,
        stem,
        patch,
        notes,
        eq,
        comp,
        fader_db,
        pan,
        reverb_send_db: sends.0,
        delay_send_db: sends.1,
        width: 1.0,
    }
}

/// Pop/rock: I-V-vi-IV in G.
fn harbor(bars: usize) -> Vec<Track> {
    let p = PieceId::Harbor;
    // (bass root, piano voicing, guitar voicing)
    let chords: [(i32, [i32; 4], [i32; 3]); 4] = [
        (43, [55, 59, 62, 67], [43, 50, 55]), // G
        (38, [54, 57, 62, 66], [38, 45, 50]), // D
        (40, [55, 59, 64, 67], [40, 47, 52]), // Em
        (36, [55, 60, 64, 67], [48, 55, 60]), // C
    ];
    let mut kick = Part::new(p, 1, 4.0);
    let mut kit_part = Part::new(p, 2, 5.0);
    let mut bass = Part::new(p, 3, 6.0);
    let mut piano = Part::new(p, 4, 8.0);
    let mut guitar = Part::new(p, 5, 7.0);
    let mut lead = Part::new(p, 6, 12.0);
    let scale = scale_from(55, &[0, 2, 4, 5, 7, 9, 11], 62, 79);
    let mut last = 67;
    for bar in 0..bars {
        let b = bar as f64 * 4.0;
        let (root, voicing, power) = chords[bar % 4];
        let intro = bar < entry(2, bars);
        let chorus = (bar / 4) % 2 == 1 && !intro;
        let fill = bar % 8 == 7;
        // Drums: kick and the rest of the kit on separate tracks (a split kick is a case).
        if intro {
            kick.play(b, 0.5, kit::KICK, 100);
        } else {
            for at in [0.0, 2.0, 2.5] {
                kick.play(b + at, 0.5, kit::KICK, if at == 2.5 { 88 } else { 110 });
            }
            if chorus && kick.coin(0.5) {
                kick.play(b + 3.5, 0.5, kit::KICK, 84);
            }
        }
        for e in 0..8 {
            let at = e as f64 * 0.5;
            if fill && at >= 3.0 {
                continue;
            }
            let hat = if chorus { kit::RIDE } else { kit::CLOSED_HAT };
            kit_part.play(b + at, 0.4, hat, if e % 2 == 0 { 92 } else { 64 });
        }
        if !intro {
            kit_part.play(b + 1.0, 0.5, kit::SNARE, 112);
            kit_part.play(b + 3.0, 0.5, kit::SNARE, 115);
            if bar % 4 == 0 {
                kit_part.play(b, 1.0, kit::CRASH, 105);
            }
        }
        if fill {
            for (i, tom) in [kit::TOM_HIGH, kit::TOM_HIGH, kit::TOM_LOW, kit::TOM_FLOOR]
                .iter()
                .enumerate()
            {
                kit_part.play(b + 3.0 + i as f64 * 0.25, 0.25, *tom, 100);
            }
        }
        // Bass from bar 2: eighths on the root, an octave pop, an approach note.
        if !intro {
            for e in 0..8 {
                let at = e as f64 * 0.5;
                let key = match e {
                    5 => root + 12,
                    7 => root + bass.pick(&[-2, -1, 2, 7]),
                    _ => root,
                };
                bass.play(b + at, 0.42, key, if e % 2 == 0 { 98 } else { 84 });
            }
        }
        // Piano: whole notes in the intro, halves after.
        if intro {
            piano.chord(b, 3.8, &voicing, 72, 0.0);
        } else {
            piano.chord(b, 1.9, &voicing, 70, 0.0);
            piano.chord(b + 2.0, 1.9, &voicing, 64, 0.0);
        }
        // Guitar from bar 2: off-beat stabs in the verse, eighth strums in the chorus.
        if !intro {
            if chorus {
                for e in 0..8 {
                    guitar.chord(
                        b + e as f64 * 0.5,
                        0.45,
                        &power,
                        if e % 2 == 0 { 96 } else { 78 },
                        6.0,
                    );
                }
            } else {
                for e in 0..4 {
                    guitar.chord(b + e as f64 + 0.5, 0.3, &power, 82, 5.0);
                }
            }
        }
        // Lead from bar 4, resting the last bar of every eight.
        if bar >= entry(4, bars) && bar % 8 != 7 {
            let rhythm: &[(f64, f64)] = match bar % 4 {
                0 => &[(0.0, 1.0), (1.0, 0.5), (1.5, 0.5), (2.0, 1.5)],
                1 => &[(0.5, 0.5), (1.0, 1.0), (2.0, 0.5), (2.5, 1.5)],
                2 => &[(0.0, 0.75), (0.75, 0.75), (1.5, 0.5), (2.0, 2.0)],
                _ => &[(0.0, 2.0), (2.5, 1.25)],
            };
            melody(&mut lead, b, rhythm, &scale, &voicing, &mut last, 96);
        }
    }
    let kit_patch = Patch::kit(Font::BlackPearl);
    vec![
        track(
            "Kick",
            "Drums",
            kit_patch,
            kick.notes,
            vec![
                (Shape::Peak { gain_db: 3.0 }, 60.0, 1.2),
                (Shape::Peak { gain_db: -4.0 }, 350.0, 1.5),
            ],
            comp(-18.0, 4.0, 5.0, 80.0, 3.0),
            -3.0,
            0.0,
            (None, None),
        ),
        track(
            "Kit",
            "Drums",
            kit_patch,
            kit_part.notes,
            vec![
                (Shape::HighPass, 80.0, 0.7),
                (Shape::HighShelf { gain_db: 2.0 }, 8000.0, 0.7),
            ],
            comp(-16.0, 3.0, 10.0, 120.0, 2.0),
            -4.0,
            0.0,
            (Some(-16.0), None),
        ),
        track(
            "Bass",
            "Bass",
            Patch::gm(33),
            bass.notes,
            vec![
                (Shape::HighPass, 35.0, 0.7),
                (Shape::Peak { gain_db: -3.0 }, 250.0, 1.0),
            ],
            comp(-20.0, 4.0, 15.0, 150.0, 4.0),
            -2.0,
            0.0,
            (None, None),
        ),
        track(
            "Piano",
            "Keys",
            Patch::gm(0),
            piano.notes,
            vec![
                (Shape::HighPass, 120.0, 0.7),
                (Shape::Peak { gain_db: -2.0 }, 400.0, 1.0),
            ],
            None,
            -7.0,
            -0.3,
            (Some(-10.0), None),
        ),
        track(
            "Guitar",
            "Guitar",
            Patch::gm(29),
            guitar.notes,
            vec![
                (Shape::HighPass, 100.0, 0.7),
                (Shape::Peak { gain_db: 2.0 }, 2500.0, 1.0),
            ],
            comp(-20.0, 3.0, 8.0, 100.0, 2.0),
            -11.0,
            0.45,
            (Some(-14.0), None),
        ),
        track(
            "Sax",
            "Lead",
            Patch::gm(65),
            lead.notes,
            vec![
                (Shape::HighPass, 150.0, 0.7),
                (Shape::Peak { gain_db: 2.5 }, 3000.0, 1.2),
            ],
            comp(-18.0, 3.0, 5.0, 100.0, 3.0),
            -5.0,
            0.0,
            (Some(-8.0), Some(-10.0)),
        ),
    ]
}

/// Orchestral ballad in D: I-vi-IV-V with a pad, arpeggios, a flute and low brass.
fn lantern(bars: usize) -> Vec<Track> {
    let p = PieceId::Lantern;
    // (bass root, string voicing, arpeggio pattern)
    let chords: [(i32, [i32; 4], [i32; 6]); 4] = [
        (38, [50, 57, 62, 66], [50, 57, 62, 66, 69, 62]), // D
        (35, [47, 54, 59, 62], [47, 54, 59, 62, 66, 59]), // Bm
        (31, [43, 55, 59, 62], [43, 50, 55, 59, 62, 55]), // G
        (33, [45, 52, 57, 61], [45, 52, 57, 61, 64, 57]), // A
    ];
    let mut strings = Part::new(p, 1, 15.0);
    let mut piano = Part::new(p, 2, 9.0);
    let mut flute = Part::new(p, 3, 14.0);
    let mut brass = Part::new(p, 4, 12.0);
    let scale = scale_from(62, &[0, 2, 4, 5, 7, 9, 11], 66, 86);
    let mut last = 74;
    for bar in 0..bars {
        let b = bar as f64 * 4.0;
        let (root, voicing, arp) = chords[bar % 4];
        let swell = 58 + ((bar % 4) as i32) * 6;
        // Strings from bar 1: one long chord per bar, legato.
        if bar >= entry(1, bars) {
            strings.chord(b, 4.05, &voicing, swell, 25.0);
        }
        // Piano: eighth-note arpeggio throughout.
        for e in 0..8 {
            let key = arp[e % arp.len()];
            piano.play(b + e as f64 * 0.5, 1.5, key, if e == 0 { 74 } else { 58 });
        }
        // Flute from bar 2: long notes, a breath every fourth bar.
        if bar >= entry(2, bars) && bar % 4 != 3 {
            let rhythm: &[(f64, f64)] = match bar % 4 {
                0 => &[(0.0, 1.5), (1.5, 0.5), (2.0, 2.0)],
                1 => &[(0.0, 1.0), (1.0, 1.0), (2.0, 1.5), (3.5, 0.5)],
                _ => &[(0.0, 3.0), (3.0, 1.0)],
            };
            melody(&mut flute, b, rhythm, &scale, &voicing, &mut last, 84);
        }
        // Low brass from bar 4: roots in half notes, a fifth above in the second half.
        if bar >= entry(4, bars) {
            brass.play(b, 2.0, root, 76);
            let up = if brass.coin(0.5) { 7 } else { 12 };
            brass.play(b + 2.0, 1.9, root + up, 70);
        }
    }
    vec![
        track(
            "Strings",
            "Strings",
            Patch::gm(48),
            strings.notes,
            vec![
                (Shape::HighPass, 60.0, 0.7),
                (Shape::HighShelf { gain_db: -2.0 }, 9000.0, 0.7),
            ],
            None,
            -6.0,
            0.0,
            (Some(-6.0), None),
        ),
        track(
            "Piano",
            "Piano",
            Patch::gm(0),
            piano.notes,
            vec![(Shape::HighPass, 70.0, 0.7)],
            comp(-22.0, 2.0, 20.0, 200.0, 2.0),
            -8.0,
            -0.25,
            (Some(-9.0), None),
        ),
        track(
            "Flute",
            "Winds",
            Patch::gm(73),
            flute.notes,
            vec![
                (Shape::HighPass, 200.0, 0.7),
                (Shape::Peak { gain_db: 1.5 }, 4000.0, 1.0),
            ],
            None,
            -3.0,
            0.2,
            (Some(-5.0), Some(-12.0)),
        ),
        track(
            "Trombones",
            "Brass",
            Patch::gm(57),
            brass.notes,
            vec![
                (Shape::HighPass, 40.0, 0.7),
                (Shape::Peak { gain_db: -2.5 }, 600.0, 1.0),
            ],
            comp(-20.0, 2.5, 20.0, 200.0, 2.0),
            -6.0,
            -0.35,
            (Some(-7.0), None),
        ),
    ]
}

/// Electronic funk: Am7 - D9 - Fmaj7 - E7 with sixteenth grooves.
fn neon(bars: usize) -> Vec<Track> {
    let p = PieceId::Neon;
    // (bass root, EP voicing, brass stab)
    let chords: [(i32, [i32; 4], [i32; 3]); 4] = [
        (33, [55, 60, 64, 67], [69, 72, 76]), // Am7
        (38, [54, 60, 64, 66], [66, 69, 74]), // D9
        (29, [53, 57, 60, 64], [65, 69, 72]), // Fmaj7
        (28, [52, 56, 62, 64], [64, 68, 71]), // E7
    ];
    let mut kick = Part::new(p, 1, 2.0);
    let mut kit_part = Part::new(p, 2, 3.0);
    let mut bass = Part::new(p, 3, 4.0);
    let mut ep = Part::new(p, 4, 6.0);
    let mut brass = Part::new(p, 5, 5.0);
    let mut lead = Part::new(p, 6, 6.0);
    let scale = scale_from(57, &[0, 3, 5, 7, 10], 64, 84);
    let mut last = 69;
    for bar in 0..bars {
        let b = bar as f64 * 4.0;
        let (root, voicing, stab) = chords[bar % 4];
        let intro = bar < entry(1, bars);
        for at in [0.0, 0.75, 2.5] {
            kick.play(b + at, 0.25, kit::KICK, if at == 0.0 { 118 } else { 100 });
        }
        for s in 0..16 {
            let at = s as f64 * 0.25;
            let accent = s % 4 == 2;
            let key = if s == 14 && bar % 2 == 1 {
                kit::OPEN_HAT
            } else {
                kit::CLOSED_HAT
            };
            kit_part.play(
                b + at,
                0.2,
                key,
                if accent { 96 } else { 52 + (s % 2) * 10 },
            );
        }
        if !intro {
            kit_part.play(b + 1.0, 0.3, kit::SNARE, 116);
            kit_part.play(b + 3.0, 0.3, kit::SNARE, 118);
            if kit_part.coin(0.4) {
                kit_part.play(b + 3.75, 0.2, kit::SIDE_STICK, 60);
            }
        }
        // Synth bass: a sixteenth funk line with ghost notes.
        let line: [(f64, i32, i32); 7] = [
            (0.0, 0, 110),
            (0.75, 12, 90),
            (1.5, 0, 70),
            (2.0, 10, 100),
            (2.5, 0, 105),
            (3.25, 7, 85),
            (3.5, 12, 95),
        ];
        for (at, interval, vel) in line {
            bass.play(b + at, 0.22, root + interval, vel);
        }
        // Electric piano: off-beat comping.
        for at in [0.5, 1.75, 2.5, 3.5] {
            ep.chord(b + at, 0.35, &voicing, 68, 4.0);
        }
        // Brass stabs every other bar from bar 2.
        if bar >= entry(2, bars) && bar % 2 == 0 {
            brass.chord(b + 1.5, 0.25, &stab, 105, 3.0);
            brass.chord(b + 3.5, 0.4, &stab, 98, 3.0);
        }
        // Saw lead from bar 4.
        if bar >= entry(4, bars) && bar % 4 != 3 {
            let rhythm: &[(f64, f64)] = match bar % 2 {
                0 => &[
                    (0.0, 0.5),
                    (0.75, 0.25),
                    (1.0, 1.0),
                    (2.5, 0.5),
                    (3.0, 0.75),
                ],
                _ => &[(0.5, 0.5), (1.0, 0.5), (1.5, 1.5), (3.25, 0.5)],
            };
            melody(&mut lead, b, rhythm, &scale, &voicing, &mut last, 92);
        }
    }
    let kit_patch = Patch::kit(Font::RedZeppelin);
    vec![
        track(
            "Kick",
            "Drums",
            kit_patch,
            kick.notes,
            vec![
                (Shape::Peak { gain_db: 4.0 }, 55.0, 1.0),
                (Shape::Peak { gain_db: -5.0 }, 300.0, 1.4),
            ],
            comp(-16.0, 4.0, 3.0, 60.0, 3.0),
            -2.0,
            0.0,
            (None, None),
        ),
        track(
            "Kit",
            "Drums",
            kit_patch,
            kit_part.notes,
            vec![
                (Shape::HighPass, 90.0, 0.7),
                (Shape::HighShelf { gain_db: 3.0 }, 7000.0, 0.7),
            ],
            comp(-14.0, 4.0, 5.0, 80.0, 2.0),
            -5.0,
            0.0,
            (Some(-18.0), None),
        ),
        track(
            "SynthBass",
            "Bass",
            Patch::gm(38),
            bass.notes,
            vec![
                (Shape::HighPass, 30.0, 0.7),
                (Shape::LowShelf { gain_db: 2.0 }, 90.0, 0.7),
            ],
            comp(-18.0, 5.0, 5.0, 80.0, 4.0),
            -4.0,
            0.0,
            (None, None),
        ),
        track(
            "EPiano",
            "Keys",
            Patch::gm(4),
            ep.notes,
            vec![
                (Shape::HighPass, 150.0, 0.7),
                (Shape::Peak { gain_db: 2.0 }, 1800.0, 1.0),
            ],
            comp(-20.0, 2.5, 10.0, 120.0, 2.0),
            -6.0,
            -0.4,
            (Some(-12.0), Some(-14.0)),
        ),
        track(
            "BrassStabs",
            "Brass",
            Patch::gm(61),
            brass.notes,
            vec![(Shape::HighPass, 180.0, 0.7)],
            None,
            -9.0,
            0.35,
            (Some(-9.0), None),
        ),
        track(
            "SawLead",
            "Synth",
            Patch::gm(81),
            lead.notes,
            vec![
                (Shape::HighPass, 200.0, 0.7),
                (Shape::HighShelf { gain_db: -3.0 }, 10_000.0, 0.7),
            ],
            comp(-18.0, 3.0, 5.0, 100.0, 2.0),
            -10.0,
            0.0,
            (Some(-10.0), Some(-4.0)),
        ),
    ]
}

/// Swing: an off-beat eighth (half a beat in) lands two thirds into its beat.
fn swung(beat: f64) -> f64 {
    if (beat.fract() - 0.5).abs() < 1e-9 {
        beat.floor() + 2.0 / 3.0
    } else {
        beat
    }
}

/// A straight rhythm `(at, beats)` swung: each onset and each end moved by [`swung`].
fn swing(rhythm: &[(f64, f64)]) -> Vec<(f64, f64)> {
    rhythm
        .iter()
        .map(|&(at, beats)| (swung(at), swung(at + beats) - swung(at)))
        .collect()
}

/// Acoustic jazz waltz in F, swung 3/4: brushes, a walking upright bass, nylon guitar comping on
/// one and the and of two, vibes on the head, a tenor sax solo, the two trading fours in the last
/// phrase, and an ending on the tonic.
fn willow(bars: usize) -> Vec<Track> {
    let p = PieceId::Willow;
    // (bass root, guitar voicing): Fmaj7 D7 Gm7 C7 Am7 D7 Gm7 C7.
    let chords: [(i32, [i32; 4]); 8] = [
        (41, [53, 57, 60, 64]), // Fmaj7
        (38, [50, 54, 57, 60]), // D7
        (43, [55, 58, 62, 65]), // Gm7
        (36, [52, 55, 58, 64]), // C7
        (45, [55, 60, 64, 69]), // Am7
        (38, [54, 57, 60, 62]), // D7
        (43, [53, 58, 62, 67]), // Gm7
        (36, [52, 58, 60, 64]), // C7
    ];
    let tonic = chords[0];
    let mut kick = Part::new(p, 1, 6.0);
    let mut kit_part = Part::new(p, 2, 8.0);
    let mut bass = Part::new(p, 3, 9.0);
    let mut guitar = Part::new(p, 4, 11.0);
    let mut vibes = Part::new(p, 5, 10.0);
    let mut sax = Part::new(p, 6, 16.0);
    let major = [0, 2, 4, 5, 7, 9, 11];
    let sax_scale = scale_from(53, &major, 58, 77);
    let vibes_scale = scale_from(53, &major, 67, 84);
    let (mut sax_last, mut vibes_last) = (65, 72);
    // The vibes play the head from bar 4, the sax solos from bar 8; in the last phrase (when
    // there is one after the solo's first) they trade fours.
    let head = entry(4, bars);
    let solo = entry(8, bars);
    let trading_from = if bars >= solo + 16 { bars - 8 } else { bars };
    for bar in 0..bars {
        let b = bar as f64 * 3.0;
        let last_bar = bar + 1 == bars;
        let (root, voicing) = if last_bar { tonic } else { chords[bar % 8] };
        let next_root = if bar + 2 == bars {
            tonic.0
        } else {
            chords[(bar + 1) % 8].0
        };
        let vibes_voicing = [voicing[1] + 12, voicing[2] + 12, voicing[3] + 12];
        let intro = bar < head;
        // Dynamics: the second half of each phrase builds; the solo sits a little higher.
        let lift = if bar % 8 >= 4 { 6 } else { 0 } + if bar >= solo { 4 } else { 0 };
        if last_bar {
            // Everyone on the tonic on one, held; a soft cymbal over a brush swirl.
            kick.play(b, 2.0, kit::KICK, 72);
            kit_part.play(b, 3.0, kit::CRASH, 70);
            kit_part.play(b, 3.0, kit::BRUSH_SWIRL, 56);
            bass.play(b, 2.9, root, 96);
            guitar.chord(b, 2.9, &voicing, 70, 30.0);
            vibes.chord(b, 2.9, &vibes_voicing, 72, 0.0);
            sax.play(b, 2.8, 69, 84);
            continue;
        }
        // Drums: a feathered kick on one (its own track: a split kick is a case), a bomb closing
        // each phrase; the ride's "ding, ding-a, ding", the foot hi-hat on two and three, a brush
        // swirl under the bar with taps and the odd slap.
        kick.play(b, 0.5, kit::KICK, 46 + lift / 2);
        kit_part.play(b, 2.9, kit::BRUSH_SWIRL, if intro { 60 } else { 50 });
        kit_part.play(b + 1.0, 0.4, kit::FOOT_HAT, 56);
        kit_part.play(b + 2.0, 0.4, kit::FOOT_HAT, 50);
        if !intro {
            if bar % 8 == 7 {
                kick.play(b + swung(2.5), 0.4, kit::KICK, 86);
            }
            for (at, v) in [(0.0, 84), (1.0, 72), (swung(1.5), 56), (2.0, 74)] {
                kit_part.play(b + at, 0.5, kit::RIDE, v + lift / 2);
            }
            kit_part.play(b + 1.0, 0.3, kit::BRUSH_TAP, 46);
            kit_part.play(b + 2.0, 0.3, kit::BRUSH_TAP, 52);
            if kit_part.coin(0.35) {
                let at = kit_part.pick(&[0.5, 1.5, 2.5]);
                kit_part.play(b + swung(at), 0.3, kit::BRUSH_SLAP, 72 + lift);
            }
            if bar % 8 == 0 {
                kit_part.play(b, 2.0, kit::CRASH, 66);
            }
        }
        // Bass: one dotted half a bar in the intro, then walking quarters: root, a chord tone, an
        // approach to the next root (a swung pickup now and then).
        if intro {
            bass.play(b, 2.8, root, 92);
        } else {
            let tone = bass.pick(&voicing[1..]);
            let chord_tone = root + (tone - root).rem_euclid(12);
            let approach = next_root + bass.pick(&[-1, 1, -5]);
            bass.play(b, 0.95, root, 96 + lift / 2);
            bass.play(b + 1.0, 0.95, chord_tone, 82);
            if bass.coin(0.25) {
                bass.play(b + 2.0, 0.6, approach, 84);
                bass.play(b + swung(2.5), 0.3, approach, 62);
            } else {
                bass.play(b + 2.0, 0.95, approach, 86);
            }
        }
        // Guitar: a slow strum per bar in the intro, then the waltz comp on one and two-and.
        if intro {
            guitar.chord(b, 2.8, &voicing, 66, 28.0);
        } else {
            guitar.chord(b, 0.9, &voicing, 62 + lift, 14.0);
            guitar.chord(b + swung(1.5), 0.8, &voicing, 54 + lift, 10.0);
        }
        // Who leads: the vibes on the head, the sax on the solo, trading fours at the end.
        let trading = bar >= trading_from;
        let sax_leads = bar >= solo && !(trading && bar % 8 < 4);
        let vibes_lead = bar >= head && !sax_leads;
        if vibes_lead {
            let rhythm: &[(f64, f64)] = match bar % 4 {
                0 => &[(0.0, 2.0), (2.0, 1.0)],
                1 => &[(0.0, 1.0), (1.0, 0.5), (1.5, 0.5), (2.0, 1.0)],
                2 => &[(0.0, 1.5), (1.5, 1.5)],
                _ => &[(0.0, 2.5)],
            };
            let rhythm = swing(rhythm);
            melody(
                &mut vibes,
                b,
                &rhythm,
                &vibes_scale,
                &voicing,
                &mut vibes_last,
                86 + lift,
            );
        } else if bar >= head {
            // Behind the sax: a soft chord on one every other bar, left to ring.
            if bar % 2 == 0 {
                vibes.chord(b, 2.5, &vibes_voicing, 54 + lift, 0.0);
            }
        }
        if sax_leads && bar % 8 != 7 {
            let rhythm: &[(f64, f64)] = match bar % 4 {
                0 => &[(0.0, 1.0), (1.0, 0.5), (1.5, 0.5), (2.0, 1.0)],
                1 => &[(0.5, 0.5), (1.0, 0.5), (1.5, 1.5)],
                2 => &[
                    (0.0, 0.5),
                    (0.5, 0.5),
                    (1.0, 0.5),
                    (1.5, 0.5),
                    (2.0, 0.5),
                    (2.5, 0.5),
                ],
                _ => &[(0.0, 2.5)],
            };
            let rhythm = swing(rhythm);
            melody(
                &mut sax,
                b,
                &rhythm,
                &sax_scale,
                &voicing,
                &mut sax_last,
                90 + lift,
            );
        }
    }
    let brushes = Patch::gm_kit(40);
    vec![
        track(
            "Kick",
            "Drums",
            brushes,
            kick.notes,
            vec![
                (Shape::HighPass, 30.0, 0.7),
                (Shape::Peak { gain_db: 2.5 }, 70.0, 1.0),
                (Shape::Peak { gain_db: -3.0 }, 400.0, 1.0),
            ],
            None,
            -1.0,
            0.0,
            (Some(-20.0), None),
        )
        .with_width(0.3),
        track(
            "Kit",
            "Drums",
            brushes,
            kit_part.notes,
            vec![
                (Shape::HighPass, 110.0, 0.7),
                (Shape::Peak { gain_db: -2.0 }, 500.0, 0.8),
                (Shape::HighShelf { gain_db: 1.5 }, 9000.0, 0.7),
            ],
            comp(-24.0, 1.8, 25.0, 300.0, 1.5),
            0.0,
            -0.05,
            (Some(-12.0), None),
        )
        .with_width(1.3),
        track(
            "Bass",
            "Bass",
            Patch::gm(32),
            bass.notes,
            vec![
                (Shape::HighPass, 38.0, 0.7),
                (Shape::LowShelf { gain_db: -1.5 }, 150.0, 0.7),
                (Shape::Peak { gain_db: 2.0 }, 800.0, 1.2),
            ],
            comp(-26.0, 2.5, 25.0, 250.0, 3.0),
            -5.0,
            0.12,
            (Some(-22.0), None),
        )
        .with_width(0.0),
        track(
            "Guitar",
            "Guitar",
            Patch::gm(24),
            guitar.notes,
            vec![
                (Shape::HighPass, 90.0, 0.7),
                (Shape::Peak { gain_db: -3.0 }, 280.0, 1.2),
                (Shape::HighShelf { gain_db: 2.0 }, 6000.0, 0.7),
            ],
            None,
            -5.0,
            -0.55,
            (Some(-9.0), None),
        )
        .with_width(0.6),
        track(
            "Vibes",
            "Vibes",
            Patch::gm(11),
            vibes.notes,
            vec![
                (Shape::HighPass, 160.0, 0.7),
                (Shape::Peak { gain_db: 1.5 }, 1800.0, 0.9),
            ],
            None,
            -2.0,
            0.5,
            (Some(-7.0), Some(-16.0)),
        )
        .with_width(1.5),
        track(
            "TenorSax",
            "Sax",
            Patch::gm(66),
            sax.notes,
            vec![
                (Shape::HighPass, 110.0, 0.7),
                (Shape::Peak { gain_db: -2.5 }, 450.0, 1.0),
                (Shape::Peak { gain_db: 2.0 }, 2200.0, 1.1),
                (Shape::HighShelf { gain_db: -2.0 }, 9000.0, 0.7),
            ],
            comp(-22.0, 2.0, 12.0, 180.0, 2.0),
            -4.0,
            -0.1,
            (Some(-6.0), Some(-13.0)),
        )
        .with_width(0.4),
    ]
}

/// Cinematic cue: Dm - Bb - F - C, a build from pad and ostinato to full percussion and brass.
fn ember(bars: usize) -> Vec<Track> {
    let p = PieceId::Ember;
    // (bass root, chord voicing for choir/pad/horns, ostinato cell)
    let chords: [(i32, [i32; 4], [i32; 4]); 4] = [
        (38, [57, 62, 65, 69], [50, 57, 62, 57]), // Dm
        (34, [58, 62, 65, 70], [46, 53, 58, 53]), // Bb
        (41, [57, 60, 65, 69], [53, 60, 65, 60]), // F
        (36, [55, 60, 64, 67], [48, 55, 60, 55]), // C
    ];
    let mut kick = Part::new(p, 1, 5.0);
    let mut kit_part = Part::new(p, 2, 6.0);
    let mut timpani = Part::new(p, 3, 7.0);
    let mut contrabass = Part::new(p, 4, 14.0);
    let mut sub = Part::new(p, 5, 3.0);
    let mut ostinato = Part::new(p, 6, 6.0);
    let mut violins = Part::new(p, 7, 16.0);
    let mut horns = Part::new(p, 8, 12.0);
    let mut trombones = Part::new(p, 9, 12.0);
    let mut choir = Part::new(p, 10, 18.0);
    let mut pad = Part::new(p, 11, 0.0);
    let mut arp = Part::new(p, 12, 2.0);
    let scale = scale_from(62, &[0, 2, 3, 5, 7, 8, 10], 69, 86);
    let mut last = 74;
    for bar in 0..bars {
        let b = bar as f64 * 4.0;
        let (root, voicing, cell) = chords[bar % 4];
        let drums_in = bar >= entry(2, bars);
        let full = bar >= entry(4, bars);
        let phrase_end = bar % 4 == 3;
        // Kick: a low hit on the bar in the build, a taiko figure once the drums are in.
        if !drums_in {
            if bar % 2 == 0 {
                kick.play(b, 1.0, kit::KICK, 96);
            }
        } else {
            for (at, vel) in [(0.0, 120), (1.5, 96), (2.0, 110), (3.5, 90)] {
                kick.play(b + at, 0.5, kit::KICK, vel);
            }
        }
        // Toms in eighths, a half-time snare and a crash on the phrase.
        if drums_in {
            for e in 0..8 {
                let at = e as f64 * 0.5;
                let tom = if e % 4 == 0 {
                    kit::TOM_FLOOR
                } else {
                    kit::TOM_LOW
                };
                let vel = if e % 2 == 0 { 98 } else { 70 };
                kit_part.play(b + at, 0.4, tom, vel);
            }
            kit_part.play(b + 2.0, 0.5, kit::SNARE, if full { 118 } else { 96 });
            if bar % 4 == 0 && full {
                kit_part.play(b, 2.0, kit::CRASH, 110);
            }
            if phrase_end {
                for i in 0..4 {
                    kit_part.play(b + 3.0 + i as f64 * 0.25, 0.25, kit::TOM_HIGH, 90 + i * 8);
                }
            }
        }
        // Timpani: the root on the bar, a roll into the next phrase.
        timpani.play(b, 2.0, root + 12, if drums_in { 100 } else { 80 });
        if phrase_end {
            for i in 0..8 {
                timpani.play(b + 2.0 + i as f64 * 0.25, 0.25, 45, 60 + i * 6);
            }
        }
        // Contrabasses: a whole note on the root, throughout.
        contrabass.play(b, 3.95, root, 84);
        // Synth sub: eighth pulses on the root once the drums are in.
        if drums_in {
            for e in 0..8 {
                sub.play(
                    b + e as f64 * 0.5,
                    0.4,
                    root,
                    if e % 2 == 0 { 100 } else { 80 },
                );
            }
        }
        // String ostinato in sixteenths, throughout.
        for s in 0..16 {
            let key = cell[s % 4] + if s >= 8 && bar % 2 == 1 { 12 } else { 0 };
            ostinato.play(
                b + s as f64 * 0.25,
                0.2,
                key,
                if s % 4 == 0 { 92 } else { 70 },
            );
        }
        // Violins from bar 3: a long line, a breath at the phrase's end.
        if bar >= entry(3, bars) && !phrase_end {
            let rhythm: &[(f64, f64)] = match bar % 4 {
                0 => &[(0.0, 2.0), (2.0, 2.0)],
                1 => &[(0.0, 3.0), (3.0, 1.0)],
                _ => &[(0.0, 4.0)],
            };
            melody(&mut violins, b, rhythm, &scale, &voicing, &mut last, 88);
        }
        // Horns and trombones from bar 4 (the late entry): swells in halves, roots in wholes.
        if full {
            horns.chord(b, 1.9, &voicing[..3], 86, 8.0);
            horns.chord(b + 2.0, 1.9, &voicing[1..], 92, 8.0);
            trombones.play(b, 3.9, root + 12, 90);
        }
        // Choir from bar 2: the chord held through the bar.
        if bar >= entry(2, bars) {
            choir.chord(b, 4.0, &voicing, 70 + (bar % 4) as i32 * 4, 20.0);
        }
        // Pad: the chord, throughout.
        pad.chord(b, 4.05, &voicing, 64, 0.0);
        // Pulse arpeggio from bar 1: eighths up the chord.
        if bar >= entry(1, bars) {
            for e in 0..8 {
                let key = voicing[e % 4] + 12;
                arp.play(
                    b + e as f64 * 0.5,
                    0.3,
                    key,
                    if e % 4 == 0 { 84 } else { 66 },
                );
            }
        }
    }
    let kit_patch = Patch::kit(Font::BlackPearl);
    vec![
        track(
            "Kick",
            "Drums",
            kit_patch,
            kick.notes,
            vec![
                (Shape::Peak { gain_db: 5.0 }, 50.0, 0.9),
                (Shape::Peak { gain_db: -4.0 }, 350.0, 1.2),
            ],
            comp(-18.0, 4.0, 8.0, 120.0, 3.0),
            -1.0,
            0.0,
            (Some(-14.0), None),
        ),
        track(
            "Kit",
            "Drums",
            kit_patch,
            kit_part.notes,
            vec![
                (Shape::HighPass, 60.0, 0.7),
                (Shape::Peak { gain_db: 3.0 }, 120.0, 1.0),
                (Shape::HighShelf { gain_db: -2.0 }, 8000.0, 0.7),
            ],
            comp(-20.0, 3.0, 10.0, 150.0, 3.0),
            -4.0,
            0.0,
            (Some(-8.0), None),
        )
        .with_width(1.2),
        track(
            "Timpani",
            "Drums",
            Patch::gm(47),
            timpani.notes,
            vec![(Shape::HighPass, 35.0, 0.7)],
            None,
            -6.0,
            -0.2,
            (Some(-6.0), None),
        ),
        track(
            "Contrabass",
            "Bass",
            Patch::gm(43),
            contrabass.notes,
            vec![
                (Shape::HighPass, 30.0, 0.7),
                (Shape::Peak { gain_db: -2.0 }, 250.0, 1.0),
            ],
            None,
            -5.0,
            0.15,
            (Some(-10.0), None),
        ),
        track(
            "SubSynth",
            "Bass",
            Patch::gm(38),
            sub.notes,
            vec![
                (Shape::HighPass, 28.0, 0.7),
                (Shape::HighShelf { gain_db: -6.0 }, 2000.0, 0.7),
            ],
            comp(-20.0, 4.0, 5.0, 100.0, 3.0),
            -9.0,
            0.0,
            (None, None),
        )
        .with_width(0.0),
        track(
            "Ostinato",
            "Strings",
            Patch::gm(48),
            ostinato.notes,
            vec![
                (Shape::HighPass, 80.0, 0.7),
                (Shape::Peak { gain_db: 2.0 }, 2500.0, 1.0),
            ],
            comp(-22.0, 2.0, 10.0, 150.0, 2.0),
            -6.0,
            -0.3,
            (Some(-8.0), None),
        ),
        track(
            "Violins",
            "Strings",
            Patch::gm(49),
            violins.notes,
            vec![
                (Shape::HighPass, 180.0, 0.7),
                (Shape::HighShelf { gain_db: -1.5 }, 10_000.0, 0.7),
            ],
            None,
            -5.0,
            0.3,
            (Some(-4.0), None),
        )
        .with_width(1.3),
        track(
            "Horns",
            "Brass",
            Patch::gm(60),
            horns.notes,
            vec![
                (Shape::HighPass, 90.0, 0.7),
                (Shape::Peak { gain_db: -2.0 }, 500.0, 1.0),
            ],
            comp(-20.0, 2.0, 20.0, 250.0, 2.0),
            -5.0,
            -0.25,
            (Some(-5.0), Some(-16.0)),
        ),
        track(
            "Trombones",
            "Brass",
            Patch::gm(57),
            trombones.notes,
            vec![(Shape::HighPass, 45.0, 0.7)],
            None,
            -8.0,
            0.25,
            (Some(-6.0), None),
        ),
        track(
            "Choir",
            "Choir",
            Patch::gm(52),
            choir.notes,
            vec![
                (Shape::HighPass, 120.0, 0.7),
                (Shape::Peak { gain_db: 1.5 }, 3000.0, 1.0),
            ],
            None,
            -6.0,
            0.0,
            (Some(-3.0), None),
        )
        .with_width(1.4),
        track(
            "Pad",
            "Synth",
            Patch::gm(89),
            pad.notes,
            vec![
                (Shape::HighPass, 100.0, 0.7),
                (Shape::HighShelf { gain_db: -3.0 }, 6000.0, 0.7),
            ],
            None,
            -12.0,
            0.0,
            (Some(-10.0), None),
        )
        .with_width(1.5),
        track(
            "Pulse",
            "Synth",
            Patch::gm(80),
            arp.notes,
            vec![
                (Shape::HighPass, 250.0, 0.7),
                (Shape::HighShelf { gain_db: -4.0 }, 7000.0, 0.7),
            ],
            None,
            -16.0,
            0.4,
            (Some(-12.0), Some(-6.0)),
        ),
    ]
}
