"""Score the people dev set: our presets beside Whisper tiny.en and pocketsphinx, one run.

Usage:
    python recipes/people/prepare.py --out data/people
    python recipes/people/score.py                                  # presets fast live accurate, both peers
    python recipes/people/score.py --presets live --peers whisper

Every system hears the same 16 kHz samples, ours through ``model.transcribe`` with the preset's
options; hypotheses and references both go through :func:`asr.text.normalize_text`. The peers
are bench/peer.py's (a peer that is not installed is named and left out). Prints a Markdown
table of WER, CER and whole recordings right, per system and per speaker; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import peer  # noqa: E402
from asr.audio.io import load_audio  # noqa: E402
from asr.model.checkpoint import load_model  # noqa: E402
from asr.training.manifest import read_manifest  # noqa: E402
from asr.metrics import ErrorRate  # noqa: E402
from asr.decoding.presets import PRESETS, preset  # noqa: E402
from asr.text import normalize_text  # noqa: E402

PEERS = {"whisper": ("Whisper tiny.en (faster-whisper, int8, beam 5)", peer.WhisperTinyEn),
         "pocketsphinx": ("pocketsphinx", peer.PocketSphinx)}


def score(rows: list[dict], hypotheses: list[str]) -> tuple[ErrorRate, ErrorRate, int]:
    words, chars, exact = ErrorRate(), ErrorRate(), 0
    for row, hypothesis in zip(rows, hypotheses):
        reference, hypothesis = normalize_text(row["text"]), normalize_text(hypothesis)
        words.update(reference.split(), hypothesis.split())
        chars.update(reference, hypothesis)
        exact += reference == hypothesis
    return words, chars, exact


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=Path("data/people/dev.jsonl"), help="the recipe's manifest")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled one")
    parser.add_argument("--presets", nargs="*", default=["fast", "live", "accurate"], choices=list(PRESETS))
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS), help="default: both")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        rows = read_manifest(args.manifest)
    except ValueError as error:
        print(f"score.py: error: {error} (run recipes/people/prepare.py first)", file=sys.stderr)
        return 1
    audio = [load_audio(row["audio_filepath"]) for row in rows]
    systems: list[tuple[str, list[str]]] = []
    if args.presets:
        model = load_model(args.checkpoint) if args.checkpoint else load_model()
        for name in args.presets:
            systems.append((f"ours, `{name}`", [model.transcribe(a, options=preset(name)).text for a in audio]))
    for name in args.peers:
        label, make = PEERS[name]
        if not peer.available(name):
            print(f"({label} is not installed: left out)")
            continue
        recognizer = make()
        systems.append((label, [recognizer.transcribe(a) for a in audio]))

    speakers = sorted({row["speaker"] for row in rows})
    print(f"{args.manifest}: {len(rows)} recordings, {sum(r['duration'] for r in rows):.1f} s, {len(speakers)} speakers\n")
    print("| system | WER | CER | recordings right |\n|---|---|---|---|")
    for label, hypotheses in systems:
        words, chars, exact = score(rows, hypotheses)
        print(f"| {label} | {100 * words.rate:.1f} % | {100 * chars.rate:.1f} % | {exact}/{len(rows)} |")
    print("\nWER by speaker:\n")
    print("| system | " + " | ".join(speakers) + " |\n|---|" + "---|" * len(speakers))
    for label, hypotheses in systems:
        cells = []
        for speaker in speakers:
            picked = [(r, h) for r, h in zip(rows, hypotheses) if r["speaker"] == speaker]
            words, _, _ = score([r for r, _ in picked], [h for _, h in picked])
            cells.append(f"{100 * words.rate:.0f} % ({words.reference_length} words)")
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
