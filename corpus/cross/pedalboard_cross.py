#!/usr/bin/env python3
"""Cross-check: the corpus's clean deliveries with master-bus processing from another code base.

The accuracy corpus (`cargo bench -p stemcheck-corpus --bench accuracy`) mixes with the corpus's
own EQ, compressor, limiter and reverb (`corpus/src/dsp.rs`). A model of a cause that only fits
those would pass the corpus and fail on real deliveries. This script takes the corpus's clean
deliveries (real instruments, one per piece), runs their mix through Spotify's `pedalboard`
(JUCE's compressor, limiter, shelving and peaking filters, Freeverb reverb, delay), writes the mix
back as 24-bit WAV next to the untouched stems and asks the checker for the cause. It is held-out
material: none of the analysis's thresholds were set on it.

    pip install pedalboard numpy
    cargo build --release -p stemcheck-cli --bins --examples
    python3 corpus/cross/pedalboard_cross.py [--filter SUBSTRING] [--keep DIR]

A case is right when every expected kind is there as a warning or an error (a gain also within
0.1 dB) and no other warning or error is (true peak excepted: processing may raise it).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from pedalboard import (
    Compressor,
    Delay,
    Gain,
    HighpassFilter,
    HighShelfFilter,
    Limiter,
    LowShelfFilter,
    Pedalboard,
    PeakFilter,
    Reverb,
)
from pedalboard.io import AudioFile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WRITE = os.path.join(ROOT, "target", "release", "examples", "write")
CHECK = os.path.join(ROOT, "target", "release", "stemcheck")

# The clean deliveries, one per piece (names as `write` lists them).
PIECES = ["harbor", "lantern", "neon", "willow", "ember"]

# Kinds any processed mix may raise besides its cause.
TOLERATED = {"true-peak"}

# A fitted gain counts as right within this many dB (the corpus's tolerance).
GAIN_TOLERANCE_DB = 0.1


def variants():
    """(name, expected kinds (any one of each inner tuple), gain_db or None, processing)."""
    out = []
    dyn = ("master-bus-dynamics",)
    # A compressor that turned no block down by this much (dB) is its make-up gain to anyone
    # listening: the bus gain is the right name for it then.
    MIN_OBSERVABLE_REDUCTION_DB = 1.0
    eq = ("master-bus-eq",)
    for thr, ratio, attack, release, makeup in [
        (-20, 2, 10, 150, 2),
        (-24, 4, 5, 100, 5),
        (-16, 3, 30, 300, 3),
        (-30, 1.5, 20, 200, 3),
        (-22, 3, 50, 500, 0),
        (-15, 2.5, 30, 100, 1),
    ]:
        out.append(
            (
                f"comp{thr}dB-{ratio}to1-{attack}ms-{release}ms",
                [dyn, ("observable", MIN_OBSERVABLE_REDUCTION_DB, makeup)],
                None,
                lambda mix, sr, t=thr, r=ratio, a=attack, rl=release, m=makeup: Pedalboard(
                    [
                        Compressor(threshold_db=t, ratio=r, attack_ms=a, release_ms=rl),
                        Gain(gain_db=m),
                    ]
                )(mix, sr),
            )
        )
    for thr, release in [(-3, 100), (-6, 60), (-1, 200)]:
        out.append(
            (
                f"limit{thr}dB-{release}ms",
                [dyn],
                None,
                lambda mix, sr, t=thr, rl=release: Pedalboard(
                    [Gain(gain_db=2), Limiter(threshold_db=t, release_ms=rl)]
                )(mix, sr),
            )
        )
    for name, plugin in [
        ("hishelf8k+3", lambda: HighShelfFilter(cutoff_frequency_hz=8000, gain_db=3, q=0.707)),
        ("hishelf5k-3", lambda: HighShelfFilter(cutoff_frequency_hz=5000, gain_db=-3, q=0.707)),
        ("loshelf120+3", lambda: LowShelfFilter(cutoff_frequency_hz=120, gain_db=3, q=0.707)),
        ("loshelf200-2", lambda: LowShelfFilter(cutoff_frequency_hz=200, gain_db=-2, q=0.707)),
        ("peak300-3", lambda: PeakFilter(cutoff_frequency_hz=300, gain_db=-3, q=1.0)),
        ("peak2500+2", lambda: PeakFilter(cutoff_frequency_hz=2500, gain_db=2, q=1.0)),
        ("hipass40", lambda: HighpassFilter(cutoff_frequency_hz=40)),
        ("loshelf80+4", lambda: LowShelfFilter(cutoff_frequency_hz=80, gain_db=4, q=0.707)),
        ("hishelf12k-4", lambda: HighShelfFilter(cutoff_frequency_hz=12000, gain_db=-4, q=0.707)),
        ("peak800-2q2", lambda: PeakFilter(cutoff_frequency_hz=800, gain_db=-2, q=2.0)),
    ]:
        out.append((f"eq-{name}", [eq], None, lambda mix, sr, p=plugin: Pedalboard([p()])(mix, sr)))
    for db in [-3.0, -1.0, 0.5, 1.5]:
        out.append(
            (
                f"gain{db:+}dB",
                [("master-bus-gain",)],
                db,
                lambda mix, sr, d=db: Pedalboard([Gain(gain_db=d)])(mix, sr),
            )
        )
    # A mastering chain: EQ, compressor, limiter. Both causes are real; either named is right,
    # nothing else may be.
    out.append(
        (
            "chain-eq-comp-limit",
            [dyn + eq],
            None,
            lambda mix, sr: Pedalboard(
                [
                    HighShelfFilter(cutoff_frequency_hz=6000, gain_db=2),
                    Compressor(threshold_db=-20, ratio=2.5, attack_ms=15, release_ms=200),
                    Gain(gain_db=3),
                    Limiter(threshold_db=-2, release_ms=80),
                ]
            )(mix, sr),
        )
    )
    # A reverb or a delay return fed by the dry stems (not by the delivered FX stem) that no
    # stem carries, at a level under the mix (RMS, re the mix): a missing return.
    for name, plugin, level_db in [
        ("reverb-16dB", lambda: Reverb(room_size=0.7, damping=0.5, wet_level=1.0, dry_level=0.0), -16),
        ("reverb-24dB", lambda: Reverb(room_size=0.5, damping=0.3, wet_level=1.0, dry_level=0.0), -24),
        ("delay-18dB", lambda: Delay(delay_seconds=0.32, feedback=0.3, mix=1.0), -18),
        ("hall-20dB", lambda: Reverb(room_size=0.9, damping=0.2, wet_level=1.0, dry_level=0.0, width=1.0), -20),
    ]:
        out.append(
            (
                f"return-{name}",
                [("missing-fx-return", "missing-content")],
                None,
                lambda mix, sr, dry, p=plugin, l=level_db: mix
                + at_level(Pedalboard([p()])(dry, sr), mix, l),
            )
        )
    return out


def rms(a):
    return float(np.sqrt(np.mean(np.square(a, dtype=np.float64))))


def at_level(wet, mix, level_db):
    """`wet` scaled so that its RMS is `level_db` under the mix's."""
    return wet * (rms(mix) / max(rms(wet), 1e-12) * 10.0 ** (level_db / 20.0))


def most_gain_reduction_db(before, after, makeup_db):
    """The deepest gain reduction over ~20 ms blocks, in dB (the processed mix against the mix
    at the make-up gain): what a compressor did that anyone could observe."""
    block = 960
    n = before.shape[1] // block
    energy = lambda a: np.square(a[:, : n * block], dtype=np.float64).sum(0).reshape(n, block).sum(1)
    b, a = energy(before) * 10.0 ** (makeup_db / 10.0), energy(after)
    loud = b > 1e-6 * b.max()
    return float(-10.0 * np.log10(a[loud] / b[loud]).min())


def full_scale_runs(audio):
    """Whether two samples in a row sit at full scale (what the checker calls clipping)."""
    at = np.abs(audio) >= 1.0 - 2.0**-22
    return bool(np.any(at[:, 1:] & at[:, :-1]))


def read(path):
    with AudioFile(path) as f:
        return f.read(f.frames), f.samplerate


def write(path, audio, sr):
    with AudioFile(path, "w", sr, audio.shape[0], bit_depth=24) as f:
        f.write(np.clip(audio, -1.0, 1.0 - 2.0**-23).astype(np.float32))


def clean_case(piece):
    listed = subprocess.run([WRITE], capture_output=True, text=True).stdout + subprocess.run(
        [WRITE], capture_output=True, text=True
    ).stderr
    for line in listed.split():
        if line.strip() == f"clean/{piece}/48k-24bit":
            return line.strip()
    sys.exit(f"no clean case for {piece} in `write`'s list")


def judge(report, expected, gain_db, tolerated):
    findings = [
        f
        for f in report.get("findings", [])
        if f.get("severity") in ("warning", "error") and f.get("kind") not in TOLERATED | tolerated
    ]
    kinds = {f["kind"] for f in findings}
    wanted = set().union(*[set(e) for e in expected])
    missing = [e for e in expected if not kinds.intersection(e)]
    if gain_db is not None and not missing:
        values = [f.get("value") for f in findings if f["kind"] == "master-bus-gain"]
        if not any(v is not None and abs(v - gain_db) <= GAIN_TOLERANCE_DB for v in values):
            return "wrong value", findings
    extra = kinds - wanted
    if extra:
        return "wrong cause", findings
    if missing:
        return "missed", findings
    return "right", findings


def setup(doc, prefix):
    """A check's command line (`--filter`, `--keep`, described by the first line of `doc`), the
    tools it needs, and the folder it works in (a temporary one unless kept)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--filter", default="", help="only cases whose name holds this")
    ap.add_argument("--keep", default=None, help="keep the deliveries in this folder")
    args = ap.parse_args()
    for tool in (WRITE, CHECK):
        if not os.path.exists(tool):
            sys.exit(f"{tool} is missing: cargo build --release -p stemcheck-cli --bins --examples")
    return args, args.keep or tempfile.mkdtemp(prefix=prefix)


def clean_delivery(work, piece):
    """The piece's clean delivery in `work` (written once), and its mix's file name."""
    clean = os.path.join(work, piece, "clean")
    if not os.path.isdir(clean):
        subprocess.run([WRITE, clean_case(piece), clean], check=True, capture_output=True)
    return clean, next(n for n in os.listdir(clean) if n.endswith("_Mix.wav"))


def main():
    args, work = setup(__doc__, "stemcheck-cross-")
    jobs = []
    for piece in PIECES:
        clean, mix_name = clean_delivery(work, piece)
        mix, sr = read(os.path.join(clean, mix_name))
        # The dry stems (what a return's sends would feed): every stem but the FX returns.
        dry = sum(
            read(os.path.join(clean, n))[0]
            for n in os.listdir(clean)
            if n.endswith(".wav") and n != mix_name and "FX" not in n
        )
        for name, expected, gain_db, process in variants():
            case = f"{piece}/{name}"
            if args.filter not in case:
                continue
            d = os.path.join(work, piece, name)
            os.makedirs(d, exist_ok=True)
            for n in os.listdir(clean):
                if n.endswith(".wav") and n != mix_name:
                    shutil.copyfile(os.path.join(clean, n), os.path.join(d, n))
            processed = process(mix.copy(), sr, dry) if name.startswith("return") else process(mix.copy(), sr)
            expected = list(expected)
            for e in [e for e in expected if e[0] == "observable"]:
                expected.remove(e)
                if most_gain_reduction_db(mix, processed, e[2]) < e[1]:
                    expected = [("master-bus-dynamics", "master-bus-gain")]
            write(os.path.join(d, mix_name), processed, sr)
            # A mix the processing drove into full scale is clipped: saying so is right.
            tolerated = {"clipping"} if full_scale_runs(processed) else set()
            jobs.append((case, d, lambda r, e=expected, g=gain_db, t=tolerated: judge(r, e, g, t)))

    check_all(jobs, 40)
    if not args.keep:
        shutil.rmtree(work)


def check_all(jobs, width):
    """Checks every delivery of `jobs` ((case, folder, judge of its JSON report)) on two
    threads, prints one line per case (its status and its warnings and errors) and the counts."""

    def run(job):
        case, d, judged = job
        out = os.path.join(d, "report.json")
        subprocess.run([CHECK, "check", d, "--json", out], capture_output=True)
        with open(out) as f:
            return case, judged(json.load(f))

    counts = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for case, (status, findings) in pool.map(run, jobs):
            counts[status] = counts.get(status, 0) + 1
            said = "; ".join(
                f"{f['kind']}"
                + (f" {','.join(f['stems'])}" if f.get("stems") else "")
                + (f" {f['value']:+.2f}" if isinstance(f.get("value"), (int, float)) else "")
                for f in findings
            )
            print(f"{status:12} {case:{width}} {said}")
    print("\n" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + f" of {len(jobs)}")


if __name__ == "__main__":
    main()
