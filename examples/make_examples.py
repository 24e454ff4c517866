"""Regenerate the demo's bundled example clips (16 kHz mono 16-bit wav, each under 150 KB).

Usage:
    python examples/make_examples.py

One clip per synthesis engine of the training corpus.  ``espeak:en-us+m5`` is
a held-out voice: the model never heard it in training, so that clip shows how
it does on a new speaker.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "recipes" / "synth"))
sys.path.insert(0, str(HERE.parent))

import voices  # noqa: E402
from asr.audio.io import to_mono_16k, write_wav  # noqa: E402

CLIPS = {  # file name: (voice, text)
    "turn_on_the_lights.wav": ("piper:joe", "please turn on the kitchen lights"),
    "set_a_timer.wav": ("flite:slt", "set a timer for ten minutes"),
    "sea_shells.wav": ("espeak:en-us+m5", "she sells sea shells by the shore"),
}


def main() -> None:
    for name, (voice, text) in CLIPS.items():
        samples, rate = voices.synthesize(voice, text, speed=1.0, pitch=0.5)
        write_wav(HERE / name, to_mono_16k(samples, rate))
        print(f"{name}: {voice}: {text!r}")


if __name__ == "__main__":
    main()
