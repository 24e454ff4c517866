"""How long audio is cut and levelled: WER by longest segment and with soft-passage levelling on or off.

Usage:
    python bench/segmenting.py                                   # the espeak-ng soft-passage recording
    python bench/segmenting.py --manifest data/synth/longform.jsonl --every 3
    python bench/segmenting.py --max-seconds 10 15 20 30 --preset live

The soft-passage recording is made here with espeak-ng: twelve sentences over steady room noise,
every other one 20 dB softer and one whispered, 31 s in all (the recording of the slow test in
tests/test_segment.py). The long-form manifest is the synth recipe's (recipes/synth/longform.py).
Scored on the speller's words (``raw_text``) through asr.text.normalize_text.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asr  # noqa: E402
import asr.decoding.transcribe  # noqa: E402
from asr.audio.io import SAMPLE_RATE, load_audio  # noqa: E402
from asr.metrics import edit_distance  # noqa: E402
from asr.audio.segment import MAX_SEGMENT_SECONDS  # noqa: E402
from asr.text import normalize_text  # noqa: E402

SENTENCES = ["the weather is nice today", "please call my mother tomorrow", "turn off the radio",
             "what time is it now", "open the front door please", "i would like a cup of coffee",
             "she sells sea shells by the shore", "the train leaves at noon", "good morning to you",
             "the children are playing in the garden", "we need more milk and bread",
             "my phone is on the kitchen table"]


def soft_recording() -> tuple[np.ndarray, str]:
    """The soft-passage recording and its transcript."""
    rng = np.random.default_rng(0)
    parts = []
    with tempfile.TemporaryDirectory() as folder:
        for i, text in enumerate(SENTENCES):
            path = Path(folder) / f"{i}.wav"
            voice = "en-us+whisper" if i == 4 else "en-us"
            subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(path), text], check=True)
            speech = load_audio(path)
            voiced = np.flatnonzero(np.abs(speech) > 1e-3)
            speech = speech[voiced[0]:voiced[-1] + 1] * (0.05 if i % 2 else 0.5)
            parts += [np.zeros(int(rng.uniform(0.5, 1.5) * SAMPLE_RATE), np.float32), speech]
    samples = np.concatenate(parts + [np.zeros(SAMPLE_RATE // 2, np.float32)])
    samples += rng.normal(0, 3e-3, samples.size).astype(np.float32)
    return samples, " ".join(SENTENCES)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, default=None, help="a JSONL manifest (default: the soft recording)")
    parser.add_argument("--every", type=int, default=1, help="score every Nth row of the manifest")
    parser.add_argument("--max-seconds", type=float, nargs="+", default=[10, 15, 20, 30],
                        help="longest segment choices to compare")
    parser.add_argument("--preset", default="live", help="decoding preset")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled model")
    args = parser.parse_args(argv)

    if args.manifest is None:
        samples, text = soft_recording()
        inputs, references = [samples], [text]
    else:
        rows = [json.loads(line) for line in args.manifest.read_text().splitlines() if line.strip()][::args.every]
        inputs, references = [row["audio_filepath"] for row in rows], [row["text"] for row in rows]
    model = asr.load_model(args.checkpoint)
    options = asr.preset(args.preset)
    levelling = asr.decoding.transcribe.level_passages
    runs = [(seconds, True) for seconds in args.max_seconds] + [(MAX_SEGMENT_SECONDS, False)]
    print(f"{len(inputs)} input(s), {args.preset} preset")
    print("| longest segment | soft passages raised | WER % | segments | seconds |")
    print("|---|---|---|---|---|")
    for seconds, level in runs:
        asr.decoding.transcribe.level_passages = levelling if level else (lambda piece: piece)
        start, errors, words, segments = time.perf_counter(), 0, 0, 0
        results = asr.decoding.transcribe.transcribe_many(model, inputs, options, max_segment_seconds=seconds)
        for (_, result), reference in zip(results, references):
            ref, hyp = normalize_text(reference).split(), normalize_text(result.raw_text).split()
            errors, words, segments = errors + edit_distance(ref, hyp), words + len(ref), segments + len(result.segments)
        print(f"| {seconds:g} s | {'yes' if level else 'no'} | {100 * errors / words:.1f} | {segments} | "
              f"{time.perf_counter() - start:.0f} |", flush=True)
    asr.decoding.transcribe.level_passages = levelling


if __name__ == "__main__":
    main()
