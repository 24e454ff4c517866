"""Running transcripts: the utterance so far, cut mid-word, decoded as a microphone shows it.

Usage:
    python bench/running.py                                   # the Asterisk dev half, fast and running
    python bench/running.py --presets fast running live --limit 20
    python bench/running.py --manifest data/synth/test_natural.jsonl --fractions 0.3 0.5 0.7 0.9

``asr listen`` and the demo decode the utterance still being spoken about every 0.6 s and show it
in grey until the pause settles the line. That audio stops wherever the speaker is, often inside a
word, and a decoder that does not know where its audio ends runs on past it ("followed by by by
by"). Each clip of ``--manifest`` (2.5-8 s by default) is cut at each of ``--fractions`` of its length and
decoded with each preset through ``model.transcribe`` (one thread). Prints, per preset: how many
of those transcripts run on (a word three times in a row), how many words they hold against the
words of the reference cut at the same fraction, their WER against that cut reference (a rough
figure: a word cut in two counts as wrong), and the decoding seconds per second of audio.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import torch

from asr.audio.io import SAMPLE_RATE, load_audio
from asr.decoding.presets import PRESETS, describe, preset, usable
from asr.metrics import ErrorRate
from asr.model.checkpoint import default_checkpoint, load_model
from asr.text import normalize_text
from asr.training.manifest import read_manifest

RUNS_ON = re.compile(r"\b(\w+)( \1\b){2,}")  # a word three times in a row


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=Path("data/asterisk/dev.jsonl"),
                        help="a dev manifest (default: the Asterisk dev half, recipes/asterisk/prepare.py)")
    parser.add_argument("--presets", nargs="+", default=["fast", "running"], choices=list(PRESETS))
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.5, 0.75])
    parser.add_argument("--limit", type=int, default=40, help="clips to use (default: %(default)s)")
    parser.add_argument("--seconds", type=float, nargs=2, default=[2.5, 8.0], metavar=("MIN", "MAX"),
                        help="the clips' lengths (default: 2.5 8, a phrase or a sentence)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled one")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(args.checkpoint or default_checkpoint()).eval()
    low, high = args.seconds
    rows = [r for r in read_manifest(args.manifest) if low <= r.get("duration", 0) <= high][: args.limit]
    if not rows:
        parser.exit(1, f"{args.manifest}: no clips of {low:g}-{high:g} s\n")
    audio = {r["audio_filepath"]: load_audio(r["audio_filepath"]) for r in rows}
    cuts = [(r, f) for r in rows for f in args.fractions]
    print(f"{args.manifest}: {len(rows)} clips of {low:g}-{high:g} s, each cut at {', '.join(map(str, args.fractions))} "
          f"of its length ({len(cuts)} running transcripts per preset); one thread.\n")
    print("| preset | decoding | run on | words / reference words so far | WER against the reference so far | RTF |")
    print("|---|---|---|---|---|---|")
    for name in args.presets:
        options = usable(preset(name), model)
        runs_on, words, reference_words, errors, seconds, heard = 0, 0, 0, ErrorRate(), 0.0, 0.0
        for row, fraction in cuts:
            samples = audio[row["audio_filepath"]]
            so_far = samples[: int(samples.size * fraction)]
            start = time.perf_counter()
            text = normalize_text(model.transcribe(so_far, options=options, itn=False).raw_text)
            seconds += time.perf_counter() - start
            heard += so_far.size / SAMPLE_RATE
            reference = normalize_text(row["text"]).split()
            reference = reference[: round(len(reference) * fraction)]
            runs_on += bool(RUNS_ON.search(text))
            words += len(text.split())
            reference_words += len(reference)
            errors.update(reference, text.split())
        print(f"| `{name}` | {describe(name)} | {runs_on} of {len(cuts)} | {words} / {reference_words} | "
              f"{errors.rate:.1%} | {seconds / max(heard, 1e-9):.3f} |", flush=True)


if __name__ == "__main__":
    main()
