"""The long-form dev set: held-out-voice utterances joined into 20-60 s recordings.

Usage:
    python recipes/synth/longform.py --manifest data/synth/test_natural.jsonl --out data/synth
    python recipes/synth/longform.py --manifest data/synth/test_natural.jsonl --out data/synth --seed 7

Each recording is one voice of ``--manifest`` (the held-out Kokoro speakers of ``test_natural``)
reading its utterances one after another, as a person talks on:

- every clip is first brought to one speech level (the 90th percentile of its 30-ms frame
  levels at ``SPEECH_LEVEL_DBFS``), and its silent margins trimmed to ``MARGIN_SECONDS``;
- between clips, a pause drawn from ``PAUSE_SECONDS`` (0.3-1.5 s);
- in two recordings of three, one passage of one to three consecutive clips (never the whole
  recording) is spoken ``SOFT_DB`` (15-25 dB) softer than the rest;
- a faint pink-noise floor (``FLOOR_DBFS``) runs under the whole recording, so that pauses are
  a quiet room rather than digital silence.

The recordings' lengths are drawn from 20-60 s; a voice's last clips that cannot make 20 s join
its previous recording when that stays within 60 s, and are left out otherwise.  The output is
a pure function of the input manifest and ``--seed``.  Writes ``OUT/audio/longform/*.wav`` and
``OUT/longform.jsonl``: ``audio_filepath``, ``duration``, ``text``, ``voice``, and ``parts``,
each clip's source ``audio_filepath``, ``start`` and ``end`` in the recording (seconds),
``text`` and ``gain_db`` (0, or the soft passage's gain), which ``bench/human.py`` scores by.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

import librosa
import numpy as np

from asr.audio.io import SAMPLE_RATE, AudioError, load_audio, write_wav
from asr.audio.augment import colored_noise
from asr.training.manifest import ManifestError, read_manifest, write_manifest

RECORDING_SECONDS = (20.0, 60.0)
PAUSE_SECONDS = (0.3, 1.5)
SOFT_DB = (-25.0, -15.0)
SOFT_SHARE = 2 / 3  # recordings with a soft passage
SOFT_CLIPS = (1, 3)  # consecutive clips in the soft passage
SPEECH_LEVEL_DBFS = -20.0  # the 90th percentile of a clip's frame levels is set here
FLOOR_DBFS = -60.0  # RMS of the pink noise under the whole recording
FRAME_SECONDS = 0.030
TRIM_BELOW_DB = 40.0  # frames this far below a clip's loudest are its margins
MARGIN_SECONDS = 0.1  # of a clip's margin kept on each side


def level_and_trim(samples: np.ndarray) -> np.ndarray:
    """The clip at the common speech level, its quiet margins cut to ``MARGIN_SECONDS``."""
    frame = int(FRAME_SECONDS * SAMPLE_RATE)
    levels = 20 * np.log10(librosa.feature.rms(y=samples, frame_length=frame, hop_length=frame, center=False)[0] + 1e-6)
    loud = np.flatnonzero(levels > levels.max() - TRIM_BELOW_DB)
    margin = int(MARGIN_SECONDS * SAMPLE_RATE)
    start, end = max(0, loud[0] * frame - margin), min(samples.size, (loud[-1] + 1) * frame + margin)
    gain_db = SPEECH_LEVEL_DBFS - np.percentile(levels, 90)
    return samples[start:end] * np.float32(10 ** (gain_db / 20))


def pack(seconds: list[float], rng: random.Random) -> list[list[tuple[int, float]]]:
    """Clips of these lengths, in order, into recordings of 20-60 s: lists of (clip, pause before it)."""
    recordings, current, length, target = [], [], 0.0, rng.uniform(*RECORDING_SECONDS)
    for index, clip_seconds in enumerate(seconds):
        pause = rng.uniform(*PAUSE_SECONDS) if current else 0.0
        full = length + pause + clip_seconds > RECORDING_SECONDS[1]
        if current and (full or (length >= RECORDING_SECONDS[0] and length + pause + clip_seconds > target)):
            recordings.append(current)
            current, length, target, pause = [], 0.0, rng.uniform(*RECORDING_SECONDS), 0.0
        current.append((index, pause))
        length += pause + clip_seconds
    if length >= RECORDING_SECONDS[0]:
        recordings.append(current)
    elif recordings and current:  # too short alone: the previous recording takes it if it fits
        pause = rng.uniform(*PAUSE_SECONDS)
        before = sum(p + seconds[i] for i, p in recordings[-1])
        if before + pause + length <= RECORDING_SECONDS[1]:
            recordings[-1] += [(current[0][0], pause)] + current[1:]
    return recordings


def render(clips: list[np.ndarray], pauses: list[float], rng: random.Random,
           np_rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """One recording's samples and each clip's (start, end, gain_db), times in seconds."""
    gains = [0.0] * len(clips)
    if len(clips) > 1 and rng.random() < SOFT_SHARE:
        length = rng.randint(SOFT_CLIPS[0], min(SOFT_CLIPS[1], len(clips) - 1))
        first = rng.randrange(len(clips) - length + 1)
        soft_db = round(rng.uniform(*SOFT_DB), 1)
        gains[first:first + length] = [soft_db] * length
    pieces, spans, at = [], [], 0
    for samples, pause, gain_db in zip(clips, pauses, gains):
        pieces += [np.zeros(int(pause * SAMPLE_RATE), np.float32), samples * np.float32(10 ** (gain_db / 20))]
        at += pieces[-2].size
        spans.append((round(at / SAMPLE_RATE, 3), round((at + samples.size) / SAMPLE_RATE, 3), gain_db))
        at += samples.size
    audio = np.concatenate(pieces)
    audio += colored_noise(audio.size, 1.0, np_rng) * np.float32(10 ** (FLOOR_DBFS / 20))
    return np.clip(audio, -1.0, 1.0), spans


def build(manifest: Path, out: Path, seed: int) -> list[dict]:
    """Write the recordings and their manifest; returns its rows."""
    by_voice = defaultdict(list)
    for row in read_manifest(manifest):
        if row["text"].strip():
            by_voice[row.get("voice", "?")].append(row)
    rng, np_rng = random.Random(seed), np.random.default_rng(seed)
    rows = []
    for voice in sorted(by_voice):
        sources = sorted(by_voice[voice], key=lambda r: r["audio_filepath"])
        rng.shuffle(sources)
        clips = [level_and_trim(load_audio(r["audio_filepath"])) for r in sources]
        for recording in pack([c.size / SAMPLE_RATE for c in clips], rng):
            picked = [sources[i] for i, _ in recording]
            audio, spans = render([clips[i] for i, _ in recording], [p for _, p in recording], rng, np_rng)
            path = (out / "audio" / "longform" / f"longform-{len(rows):03d}.wav").resolve()
            write_wav(path, audio)
            parts = [{"audio_filepath": r["audio_filepath"], "start": start, "end": end, "text": r["text"],
                      "gain_db": gain_db} for r, (start, end, gain_db) in zip(picked, spans)]
            rows.append({"audio_filepath": str(path), "duration": round(audio.size / SAMPLE_RATE, 3),
                         "text": " ".join(p["text"] for p in parts), "voice": voice, "parts": parts})
    write_manifest(out / "longform.jsonl", rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=Path("data/synth/test_natural.jsonl"),
                        help="the clips to join (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("data/synth"),
                        help="writes OUT/longform.jsonl and OUT/audio/longform/ (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1234, help="seed of every draw (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        rows = build(args.manifest, args.out, args.seed)
    except (ManifestError, AudioError, OSError) as error:
        print(f"longform.py: error: {error}", file=sys.stderr)
        return 1
    if not rows:
        print(f"longform.py: error: {args.manifest} has too little audio for one {RECORDING_SECONDS[0]:.0f}-s "
              "recording", file=sys.stderr)
        return 1
    seconds = [r["duration"] for r in rows]
    soft = sum(any(p["gain_db"] for p in r["parts"]) for r in rows)
    print(f"{args.out / 'longform.jsonl'}: {len(rows)} recordings, {sum(seconds) / 60:.1f} min, "
          f"{min(seconds):.0f}-{max(seconds):.0f} s, {sum(len(r['parts']) for r in rows)} clips, "
          f"{soft} with a soft passage")
    return 0


if __name__ == "__main__":
    sys.exit(main())
