#!/usr/bin/env python3
"""Cross-check: a stem's own defect under the master's processing from another code base.

A real delivery's mix almost always went through a master compressor, limiter or EQ that the
stems lack; a stem's mistake (a flipped polarity, a fader moved after the mix, a plugin's
latency) then sits beside that processing. This script takes the corpus's clean deliveries (one
per piece), runs their mix through one of Spotify's `pedalboard` processors (a compressor, a
bell cut, a limiter driven 2 dB), puts one defect in the piece's second non-FX stem (polarity
inverted, 3 dB hot, 48 samples late) and asks the checker (36 cases). A case is right when both
causes are named (the stem's on that stem, the master's as dynamics or EQ) and no other warning
or error is (true peak always tolerated; clipping where the processing drove the mix into full
scale). Written as held-out material; the analysis's eleventh round was worked on it (the README
says which rules and values came from it), so it is development material now.

    pip install pedalboard numpy
    cargo build --release -p stemcheck-cli --bins --examples
    python3 corpus/cross/pedalboard_pairs.py [--filter SUBSTRING] [--keep DIR]
"""

import os
import shutil

import numpy as np
from pedalboard import Compressor, Gain, Limiter, PeakFilter, Pedalboard

from pedalboard_cross import (
    PIECES,
    TOLERATED,
    check_all,
    clean_delivery,
    full_scale_runs,
    read,
    setup,
    write,
)

# The master's processing: name, the kind it must be named as, the processor.
PROCESSING = [
    (
        "comp-20dB-2to1",
        "master-bus-dynamics",
        lambda: Pedalboard([Compressor(threshold_db=-20, ratio=2, attack_ms=10, release_ms=150), Gain(gain_db=2)]),
    ),
    ("eq-peak300-3", "master-bus-eq", lambda: Pedalboard([PeakFilter(cutoff_frequency_hz=300, gain_db=-3, q=1.0)])),
    ("limit-3dB", "master-bus-dynamics", lambda: Pedalboard([Gain(gain_db=2), Limiter(threshold_db=-3, release_ms=100)])),
]

# The stem's defect: name, the kind it must be named as, what it does to the stem's samples.
LATE_SAMPLES = 48
DEFECTS = [
    ("inverted", "stem-polarity", lambda a: -a),
    ("plus3dB", "stem-gain", lambda a: a * 10.0 ** (3.0 / 20.0)),
    (
        f"late{LATE_SAMPLES}",
        "stem-offset",
        lambda a: np.concatenate([np.zeros((a.shape[0], LATE_SAMPLES), dtype=a.dtype), a[:, :-LATE_SAMPLES]], axis=1),
    ),
]


def judge(report, stem, stem_kind, bus_kind, tolerated):
    """right, missed or wrong cause, and the warnings and errors."""
    findings = [
        f
        for f in report.get("findings", [])
        if f.get("severity") in ("warning", "error") and f.get("kind") not in TOLERATED | tolerated
    ]
    on_stem = any(f["kind"] == stem_kind and f.get("stems") == [stem] for f in findings)
    on_bus = any(f["kind"] == bus_kind for f in findings)
    extra = [
        f for f in findings if not (f["kind"] == stem_kind and f.get("stems") == [stem]) and f["kind"] != bus_kind
    ]
    if extra:
        return "wrong cause", findings
    if not (on_stem and on_bus):
        return "missed", findings
    return "right", findings


def main():
    args, work = setup(__doc__, "stemcheck-pairs-")
    jobs = []
    for piece in PIECES:
        clean, mix_name = clean_delivery(work, piece)
        stems = sorted(n for n in os.listdir(clean) if n.endswith(".wav") and n != mix_name)
        target = [n for n in stems if "FX" not in n][1]
        stem = target[: -len(".wav")].split("_", 1)[1]
        mix, sr = read(os.path.join(clean, mix_name))
        for proc_name, bus_kind, processor in PROCESSING:
            processed = processor()(mix.copy(), sr)
            tolerated = {"clipping"} if full_scale_runs(processed) else set()
            for defect_name, stem_kind, defect in DEFECTS:
                case = f"{piece}/{proc_name}+{stem}-{defect_name}"
                if args.filter not in case:
                    continue
                d = os.path.join(work, piece, f"{proc_name}+{defect_name}")
                os.makedirs(d, exist_ok=True)
                for n in stems:
                    shutil.copyfile(os.path.join(clean, n), os.path.join(d, n))
                audio, _ = read(os.path.join(clean, target))
                write(os.path.join(d, target), defect(audio), sr)
                write(os.path.join(d, mix_name), processed, sr)
                jobs.append(
                    (case, d, lambda r, s=stem, k=stem_kind, b=bus_kind, t=tolerated: judge(r, s, k, b, t))
                )

    check_all(jobs, 44)
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
