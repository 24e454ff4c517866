"""Training throughput: seconds of training audio per wall-clock second, for one config on this machine.

Usage:
    python bench/train_speed.py                                    # recipes/synth/small.yaml, 30 timed steps
    python bench/train_speed.py --steps 60 train.threads=1         # key=value overrides, as asr train takes
    python bench/train_speed.py --config my.yaml --steps 5 --warmup-steps 1

Runs :class:`asr.training.trainer.Trainer` on the config's training data in a temporary
experiment directory, with dev evaluation and periodic checkpoints switched
off, and batches in shuffled order as in every epoch after the first (the
first epoch's SortaGrad order, shortest first, would time only the shortest
utterances).  It trains ``--warmup-steps`` steps first (allocator caches, the first
data-loader worker), then times ``--steps`` more: wall clock from the start
to the end of ``Trainer.fit``, so data loading, augmentation and the one
final checkpoint write are included, as in a real run.  Audio counts without
padding, after speed perturbation.  Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from asr.training.config import load_config
from asr.training.trainer import Trainer

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "recipes" / "synth" / "small.yaml"
NEVER = 10**9  # a step count no benchmark reaches: switches off periodic evaluation and checkpoints


def measure_training(config_path, overrides: list[str], steps: int, warmup_steps: int) -> dict:
    """Throughput of ``steps`` training steps after ``warmup_steps`` untimed ones."""
    with tempfile.TemporaryDirectory(prefix="train_speed_") as tmp:
        config = load_config(str(config_path), [
            f"train.exp_dir={tmp}", 'data.dev_manifest=""', f"train.eval_every={NEVER}",
            f"train.checkpoint_every={NEVER}", "data.sortagrad=false", f"optim.max_steps={warmup_steps}",
            *overrides])
        trainer = Trainer(config)
        try:
            if warmup_steps:
                trainer.fit()
            audio_before, steps_before = trainer.trained_seconds, trainer.step
            config.optim.max_steps = steps_before + steps  # the trainer reads its config each fit()
            started = time.perf_counter()
            trainer.fit()
            wall = time.perf_counter() - started
        finally:
            trainer.writer.close()
        audio = trainer.trained_seconds - audio_before
        timed = trainer.step - steps_before
        return {
            "config": str(config_path), "overrides": overrides, "device": str(trainer.device),
            "threads": torch.get_num_threads(), "steps": timed, "warmup_steps": warmup_steps,
            "audio_s": audio, "wall_s": wall, "audio_per_step_s": audio / max(timed, 1),
            "audio_s_per_s": audio / wall,
            "train_hours": round(sum(float(r["duration"]) for r in trainer.train_rows) / 3600, 2),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides, as for asr train (e.g. data.train_manifests=[x.jsonl])")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help=f"training config (default: {DEFAULT_CONFIG.relative_to(REPO)})")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps (default: 30)")
    parser.add_argument("--warmup-steps", type=int, default=3, help="untimed steps first (default: 3)")
    args = parser.parse_args(argv)
    # The trainer's own messages ("initialised from ...") go to stderr: stdout holds the JSON alone,
    # so that `train_speed.py > result.json` is a JSON file whatever the config does.
    with contextlib.redirect_stdout(sys.stderr):
        result = measure_training(args.config, args.overrides, args.steps, args.warmup_steps)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
