"""How accuracy depends on input level: the same clips rescaled to several peak levels.

Usage:
    python bench/level_robustness.py                                   # 40 en-us+m5 test clips, greedy
    python bench/level_robustness.py --voice flite:rms --levels -6 -30 -40 -45 -50
    python bench/level_robustness.py --manifest data/asterisk/test.jsonl --voice all --utterances 60

A microphone is often much quieter than the training clips (peaks at -18..-1 dBFS in the synth
recipe). Each clip is scaled so its peak sits at each ``--levels`` value (dBFS) and transcribed
the way every front end does (``model.transcribe``: silence planning, level normalisation,
decoding). Prints CER per level and how many clips came out empty (taken for silence); asserts
nothing.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from asr.audio import load_audio
from asr.checkpoint import default_checkpoint, load_model
from asr.manifest import read_manifest
from asr.metrics import ErrorRate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", default="data/synth/test.jsonl", help="clips with transcripts")
    parser.add_argument("--voice", default="espeak:en-us+m5", help="only this voice ('all' for every clip)")
    parser.add_argument("--utterances", type=int, default=40, help="the first N clips of that voice")
    parser.add_argument("--levels", type=float, nargs="+", default=[-6, -20, -30, -40, -45, -50],
                        help="peak levels in dBFS")
    parser.add_argument("--checkpoint", default=None, help="default: the bundled one")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [r for r in read_manifest(args.manifest) if args.voice == "all" or r.get("voice") == args.voice]
    rows = rows[: args.utterances]
    if not rows:
        print(f"level_robustness.py: error: no clips of voice {args.voice!r} in {args.manifest}", file=sys.stderr)
        return 1
    model = load_model(args.checkpoint or default_checkpoint())
    clips = [load_audio(r["audio_filepath"]) for r in rows]
    clip_count = f"{len(rows)} clip" + ("" if len(rows) == 1 else "s")
    print(f"{clip_count} of {args.voice} from {args.manifest}, greedy, {args.threads} thread(s)")
    for label, level in [("as recorded", None)] + [(f"peak {db:g} dBFS", db) for db in args.levels]:
        errors, empty = ErrorRate(), 0
        for row, clip in zip(rows, clips):
            scaled = clip if level is None else clip / max(np.abs(clip).max(), 1e-9) * np.float32(10 ** (level / 20))
            text = model.transcribe(scaled.astype(np.float32)).text
            empty += not text
            errors.update(row["text"], text)
        print(f"  {label:>16}: CER {100 * errors.rate:5.1f} %   empty {empty}/{len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
