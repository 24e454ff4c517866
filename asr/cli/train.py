"""Train a model from a recipe config.

Usage:
    asr train --config recipes/synth/small.yaml
    asr train --config recipes/synth/small.yaml optim.max_steps=2000 train.exp_dir=exp/try
    asr train --config recipes/synth/small.yaml --resume      # continue a killed run
    torchrun --nproc_per_node 2 -m asr train --config ...    # data parallel (DDP)
"""

from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("--config", required=True, help="recipe YAML (sections data, model, optim, augment, train)")
    parser.add_argument("--resume", action="store_true", help="continue from exp_dir/last.pt if it exists")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value",
                        help="config overrides, values parsed as YAML")


def run(args) -> int:
    from asr.training.config import load_config
    from asr.training.trainer import train

    try:
        config = load_config(args.config, args.overrides)
        final = train(config, resume=args.resume)
    except (ValueError, OSError) as error:  # the library's errors for bad input are ValueErrors
        print(f"asr train: {_one_line(error)}", file=sys.stderr)
        return 2
    print(f"model: {final}")
    return 0


def _one_line(error: Exception) -> str:
    """The user's line of an error, also when a data-loading worker raised it.

    PyTorch re-raises a worker's exception as "Caught AudioError in DataLoader worker process 0."
    followed by the worker's traceback, whose last line is the original message.
    """
    lines = [line for line in str(error).strip().splitlines() if line.strip()] or [type(error).__name__]
    if lines[0].startswith("Caught ") and "DataLoader worker" in lines[0]:
        original = lines[-1]
        name, sep, message = original.partition(": ")
        return message if sep and name.replace(".", "").replace("_", "").isalnum() else original
    return lines[0]
