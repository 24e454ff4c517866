"""A copy of a manifest's audio as a phone or headset would have recorded it, for ``asr eval``.

Usage:
    python bench/channel_copy.py data/synth/test.jsonl exp/channels/test_8k                 # 8 kHz WAVs
    python bench/channel_copy.py data/synth/test.jsonl exp/channels/test_tel --channel telephone
    asr eval --manifest exp/channels/test_8k/manifest.jsonl --beam-size 5 --ctc-weight 0.3 --lm-weight 0.3

``8k`` writes each clip as a 16-bit WAV at 8 kHz (so :func:`asr.audio.load_audio` resamples it
back, exactly as it does a real 8 kHz recording); ``telephone`` writes 16 kHz WAVs through
:func:`asr.augment.telephone` (band-pass 300-3400 Hz and µ-law). The manifest keeps every other
field, so ``asr eval``'s per-voice rates still apply. Comparing it with the original manifest
separates what the channel costs from what the voice costs; the model card has the figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from asr import augment
from asr.audio import SAMPLE_RATE, AudioError, load_audio
from asr.manifest import read_manifest, write_manifest

CHANNELS = ("8k", "telephone")


def through_channel(samples: np.ndarray, channel: str) -> tuple[np.ndarray, int]:
    """16 kHz samples -> (samples, rate) as ``channel`` delivers them."""
    if channel == "8k":
        rate = augment.TELEPHONE_RATE
        return signal.resample_poly(samples, 1, SAMPLE_RATE // rate).astype(np.float32), rate
    return augment.telephone(samples), SAMPLE_RATE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", help="JSONL manifest with audio_filepath and text")
    parser.add_argument("out", type=Path, help="directory for audio/ and manifest.jsonl")
    parser.add_argument("--channel", choices=CHANNELS, default="8k", help="default: 8k")
    args = parser.parse_args(argv)
    try:
        rows = read_manifest(args.manifest)
        (args.out / "audio").mkdir(parents=True, exist_ok=True)
        copied = []
        for index, row in enumerate(rows):
            samples, rate = through_channel(load_audio(row["audio_filepath"]), args.channel)
            path = (args.out / "audio" / f"{index:06d}.wav").resolve()
            sf.write(path, np.clip(samples, -1.0, 1.0), rate, subtype="PCM_16")
            copied.append(row | {"audio_filepath": str(path)})
        write_manifest(args.out / "manifest.jsonl", copied)
    except (AudioError, OSError, ValueError) as error:
        print(f"channel_copy.py: error: {error}", file=sys.stderr)
        return 1
    print(f"{len(copied)} clips through the {args.channel} channel -> {args.out / 'manifest.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
