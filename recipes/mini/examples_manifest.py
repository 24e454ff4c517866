"""A manifest of the demo's example clips (examples/*.wav), with the texts they were spoken from.

Usage:
    python recipes/mini/examples_manifest.py --out data/mini/examples.jsonl

The texts come from ``examples/make_examples.py``, which made the clips, so ``asr eval`` can
score a model on them like on any other set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT))

from asr.training.manifest import write_manifest  # noqa: E402
from make_examples import CLIPS, HERE  # noqa: E402


def rows() -> list[dict]:
    """One manifest row per example clip: absolute path, seconds, text and the voice that spoke it."""
    return [{"audio_filepath": str((HERE / name).resolve()), "duration": round(sf.info(HERE / name).duration, 3),
             "text": text, "voice": voice} for name, (voice, text) in CLIPS.items()]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the manifest to write (JSONL)")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_manifest(args.out, rows())
    print(f"{args.out}: {len(CLIPS)} example clips")


if __name__ == "__main__":
    main()
