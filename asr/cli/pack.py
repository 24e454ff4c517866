"""Pack a checkpoint for inference: every weight in fp16 and no training state, for a smaller file.

Usage:
    asr pack exp/whisper_base/with_punctuation.pt exp/whisper_base/packed.pt

The packed file loads back into fp32, so it decodes as the original does (the bundle's
figures in checkpoints/README.md are measured on the packed file).  The output is written
atomically: a kill leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="the checkpoint to pack")
    parser.add_argument("out", type=Path, help="where to write the packed checkpoint")


def run(args: argparse.Namespace) -> int:
    from asr.model.checkpoint import CheckpointError, pack_checkpoint

    if args.out.resolve() == args.checkpoint.resolve():
        print("asr pack: the output must be another file than the checkpoint", file=sys.stderr)
        return 2
    try:
        pack_checkpoint(args.checkpoint, args.out)
    except CheckpointError as error:
        print(f"asr pack: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"asr pack: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
        return 1
    before, after = args.checkpoint.stat().st_size, args.out.stat().st_size
    print(f"{args.out}: {after / 1e6:.1f} MB (from {before / 1e6:.1f} MB)")
    return 0
