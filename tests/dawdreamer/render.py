"""Stemcheck in DawDreamer, a second real VST3 host (PyPI `dawdreamer`, a scriptable JUCE host).

Driven by `tests/tests/dawdreamer.rs`. Builds one engine with four generated stems (Drums, Bass,
Keys, Vox) and their master, which has Bass polarity-inverted (the known defect). Each signal
plays through its own Stemcheck VST3 instance; every instance's name is set through the plugin
state (nice-plug's persisted `stem-name` field inside JUCE's VST3 state), its role through the
Role parameter. The engine then renders unthrottled (DawDreamer renders as fast as it can and
re-activates every plugin at every render) several times in a row. Stemcheck writes one report
per render into $STEMCHECK_REPORT_DIR; this script prints one JSON line with what it did.

Usage: render.py BUNDLE.vst3 --renders N --seconds S
"""

import argparse
import base64  # noqa: F401  (JUCE's base64 is its own; see juce_base64_*)
import json
import struct
import sys
import time

import dawdreamer as daw
import numpy as np

SAMPLE_RATE_HZ = 48_000
BLOCK_FRAMES = 512
STEMS = ["Drums", "Bass", "Keys", "Vox"]
MASTER = "Mix"
INVERTED = "Bass"

# JUCE's MemoryBlock::toBase64Encoding alphabet: "<size>.<chars>", 6 bits per char, LSB first.
JUCE_B64 = ".ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"
# juce::AudioProcessor::copyXmlToBinary's magic ("VC2!").
JUCE_XML_MAGIC = 0x21324356


def juce_base64_decode(text):
    size_text, chars = text.split(".", 1)
    size = int(size_text)
    value = 0
    for i, c in enumerate(chars):
        value |= JUCE_B64.index(c) << (6 * i)
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def juce_base64_encode(data):
    value = int.from_bytes(data, "little")
    num_chars = (len(data) * 8 + 5) // 6
    return f"{len(data)}." + "".join(JUCE_B64[(value >> (6 * i)) & 63] for i in range(num_chars))


def with_stem_name(state, name):
    """JUCE's VST3 state blob with nice-plug's persisted `stem-name` set to `name`."""
    magic, length = struct.unpack_from("<II", state, 0)
    if magic != JUCE_XML_MAGIC:
        raise ValueError("not a JUCE XML state")
    xml = state[8 : 8 + length].rstrip(b"\0").decode("utf-8")
    start = xml.index("<IComponent>") + len("<IComponent>")
    end = xml.index("</IComponent>", start)
    component = json.loads(juce_base64_decode(xml[start:end]).rstrip(b"\0"))
    # nice-plug stores each persisted field as its own JSON text.
    component.setdefault("fields", {})["stem-name"] = json.dumps(name)
    encoded = juce_base64_encode(json.dumps(component).encode("utf-8"))
    xml = xml[:start] + encoded + xml[end:]
    body = xml.encode("utf-8") + b"\0"
    return struct.pack("<II", JUCE_XML_MAGIC, len(body)) + body


def generated_stems(seconds):
    """Four seeded, band-limited signals (stereo), like a drum bus, a bass, keys and a voice."""
    rng = np.random.default_rng(12)
    n = int(seconds * SAMPLE_RATE_HZ)
    t = np.arange(n) / SAMPLE_RATE_HZ

    def smoothed(x, taps):
        return np.convolve(x, np.ones(taps) / taps, mode="same")

    hits = (np.floor(t * 4) != np.floor((t - 1 / SAMPLE_RATE_HZ) * 4)).astype(float)
    env = np.convolve(hits, np.exp(-np.arange(4800) / 600.0))[:n]
    drums = 0.5 * env * rng.standard_normal(n)
    bass = 0.3 * smoothed(rng.standard_normal(n), 48) * 4 + 0.2 * np.sin(2 * np.pi * 55 * t)
    keys = 0.25 * smoothed(rng.standard_normal(n), 8) + 0.1 * np.sin(2 * np.pi * 440 * t)
    vox = 0.2 * smoothed(rng.standard_normal(n), 3) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    out = {}
    for name, mono in zip(STEMS, [drums, bass, keys, vox]):
        right = np.roll(mono, 7) * 0.9
        out[name] = np.clip(np.stack([mono, right]), -0.9, 0.9).astype(np.float32)
    return out


def role_value(plugin, role):
    """The normalised value of the Role parameter's `role` ("Stem" or "Master")."""
    for p in plugin.get_parameters_description():
        if p["name"] == "Role":
            index = p["index"]
            break
    else:
        raise KeyError("no Role parameter")
    # Auto, Stem, Master: three steps.
    return index, {"Stem": 0.5, "Master": 1.0}[role]


def main():
    args = argparse.ArgumentParser()
    args.add_argument("bundle")
    args.add_argument("--renders", type=int, default=3)
    args.add_argument("--seconds", type=float, default=8.0)
    args.add_argument("--scratch", default="/tmp")
    a = args.parse_args()

    stems = generated_stems(a.seconds)
    master = sum(-s if n == INVERTED else s for n, s in stems.items()).astype(np.float32)

    engine = daw.RenderEngine(SAMPLE_RATE_HZ, BLOCK_FRAMES)
    graph = []
    names_set = {}
    for name, audio in list(stems.items()) + [(MASTER, master)]:
        source = engine.make_playback_processor(f"src-{name}", audio)
        plugin = engine.make_plugin_processor(f"sc-{name}", a.bundle)
        state_path = f"{a.scratch}/state-{name}.bin"
        plugin.save_state(state_path)
        with open(state_path, "rb") as f:
            state = f.read()
        with open(state_path, "wb") as f:
            f.write(with_stem_name(state, name))
        plugin.load_state(state_path)
        index, value = role_value(plugin, "Master" if name == MASTER else "Stem")
        plugin.set_parameter(index, value)
        names_set[name] = plugin.get_parameter_text(index)
        graph.append((source, []))
        graph.append((plugin, [f"src-{name}"]))
    mix = engine.make_add_processor("out", [1.0] * (len(STEMS) + 1))
    graph.append((mix, [f"sc-{n}" for n in STEMS + [MASTER]]))
    engine.load_graph(graph)

    renders = []
    for i in range(a.renders):
        started = time.perf_counter()
        engine.render(a.seconds)
        wall = time.perf_counter() - started
        out = engine.get_audio()
        renders.append(
            {
                "index": i,
                "seconds": a.seconds,
                "wall_seconds": wall,
                "speed_x": a.seconds / wall if wall > 0 else None,
                "frames": int(out.shape[1]),
            }
        )
    # Let the core write the last render's report (it ends when no audio comes for a while).
    time.sleep(1.0)
    print(json.dumps({"renders": renders, "roles": names_set}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
