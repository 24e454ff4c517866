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
    from asr.manifest import ManifestError
    from asr.train import load_config, train

    try:
        config = load_config(args.config, args.overrides)
        final = train(config, resume=args.resume)
    except (ValueError, FileNotFoundError, ManifestError) as error:
        print(f"asr train: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"model: {final}")
    return 0
