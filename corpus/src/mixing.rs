//! The console: renders every track of an arrangement, runs its channel strip (EQ, compressor,
//! fader, width, pan), feeds the reverb and delay sends, and sums tracks into stems and stems into
//! the mix. One render per (piece, bars, sample rate), kept for the life of the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::dsp::{self, Stereo, add_into, db_to_gain, silence};
use crate::instruments::render_part;
use crate::pieces::{Arrangement, FX_STEM, PieceId, TAIL_S, arrangement};

/// The clean mix's sample peak, in dBFS: every stem and the mix are scaled alike so the mix
/// peaks here (true peak stays under the -1 dBTP delivery limit, and a +2 dB master-gain case
/// still does not clip).
pub const MIX_PEAK_DBFS: f64 = -4.0;

/// A rendered, mixed session.
#[derive(Debug)]
pub struct Session {
    /// Which arrangement.
    pub piece: PieceId,
    /// How many bars of it.
    pub bars: usize,
    /// The rate it was rendered at, in Hz.
    pub sample_rate_hz: u32,
    /// Every track after its channel strip and fader: (track name, stem name, audio).
    pub tracks: Vec<(String, String, Stereo)>,
    /// The effect returns: ("Reverb" | "Delay", audio), bussed to [`FX_STEM`].
    pub returns: Vec<(String, Stereo)>,
    /// Frames in every file.
    pub len: usize,
    /// Frame at which the last bar ends (the tail follows).
    pub music_end: usize,
}

impl Session {
    /// The stems, in the order the arrangement names them, then FX: each the sum of its tracks.
    pub fn stems(&self) -> Vec<(String, Stereo)> {
        let mut out: Vec<(String, Stereo)> = Vec::new();
        for (_, stem, audio) in &self.tracks {
            match out.iter_mut().find(|(n, _)| n == stem) {
                Some((_, sum)) => add_into(sum, audio, 1.0),
                None => out.push((stem.clone(), audio.clone())),
            }
        }
        let mut fx = silence(self.len);
        for (_, audio) in &self.returns {
            add_into(&mut fx, audio, 1.0);
        }
        out.push((FX_STEM.to_string(), fx));
        out
    }

    /// The track of that name (after its fader).
    pub fn track(&self, name: &str) -> Option<&Stereo> {
        self.tracks.iter().find(|t| t.0 == name).map(|t| &t.2)
    }
}

/// Sums signals.
pub fn sum<'a>(parts: impl IntoIterator<Item = &'a Stereo>, len: usize) -> Stereo {
    let mut out = silence(len);
    for p in parts {
        add_into(&mut out, p, 1.0);
    }
    out
}

/// The session of `piece` over `bars` at `sample_rate_hz`, rendered once per process (a second
/// thread asking for it meanwhile waits for that render instead of repeating it).
pub fn session(piece: PieceId, bars: usize, sample_rate_hz: u32) -> Arc<Session> {
    type Cell = Arc<OnceLock<Arc<Session>>>;
    type Cache = Mutex<HashMap<(PieceId, usize, u32), Cell>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cell = CACHE
        .get_or_init(Default::default)
        .lock()
        .expect("cache lock")
        .entry((piece, bars, sample_rate_hz))
        .or_default()
        .clone();
    cell.get_or_init(|| Arc::new(render_session(piece, bars, sample_rate_hz)))
        .clone()
}

/// Renders a session afresh (no cache): the determinism test renders twice and compares.
pub fn render_session(piece: PieceId, bars: usize, sample_rate_hz: u32) -> Session {
    render(&arrangement(piece, bars), sample_rate_hz)
}

fn render(arr: &Arrangement, sample_rate_hz: u32) -> Session {
    let rate = f64::from(sample_rate_hz);
    let music_end = (arr.music_s * rate).round() as usize;
    let len = ((arr.music_s + TAIL_S) * rate).round() as usize;
    let mut reverb_send = silence(len);
    let mut delay_send = silence(len);
    let mut tracks = Vec::new();
    for t in &arr.tracks {
        let mut audio = render_part(t.patch, &t.notes, len, sample_rate_hz);
        dsp::eq(&mut audio, &t.eq, rate);
        if let Some(c) = t.comp {
            c.run(&mut audio, rate);
        }
        dsp::scale(&mut audio, db_to_gain(t.fader_db));
        // NOTE: width 1 is no processing at all, so the pieces mixed without it render as before.
        if t.width != 1.0 {
            dsp::width(&mut audio, t.width);
        }
        dsp::pan(&mut audio, t.pan);
        if let Some(db) = t.reverb_send_db {
            add_into(&mut reverb_send, &audio, db_to_gain(db));
        }
        if let Some(db) = t.delay_send_db {
            add_into(&mut delay_send, &audio, db_to_gain(db));
        }
        tracks.push((t.name.to_string(), t.stem.to_string(), audio));
    }
    let r = arr.returns;
    let mut reverb = dsp::reverb(&reverb_send, r.room, r.damp, r.predelay_ms, rate);
    dsp::scale(&mut reverb, db_to_gain(r.reverb_return_db));
    let delay_s = r.delay_beats * 60.0 / arr.piece.bpm();
    let mut delay = dsp::tempo_delay(&delay_send, delay_s, r.delay_feedback, rate);
    dsp::scale(&mut delay, db_to_gain(r.delay_return_db));
    let mut returns = vec![("Reverb".to_string(), reverb), ("Delay".to_string(), delay)];
    // Gain staging: one gain for everything, so the mix peaks at MIX_PEAK_DBFS.
    let mix = sum(
        tracks
            .iter()
            .map(|t| &t.2)
            .chain(returns.iter().map(|r| &r.1)),
        len,
    );
    let k = db_to_gain(MIX_PEAK_DBFS) / dsp::peak(&mix).max(1e-9);
    for t in tracks.iter_mut() {
        dsp::scale(&mut t.2, k);
    }
    for r in returns.iter_mut() {
        dsp::scale(&mut r.1, k);
    }
    Session {
        piece: arr.piece,
        bars: arr.bars,
        sample_rate_hz,
        tracks,
        returns,
        len,
        music_end,
    }
}
