"""Finding speech, and cutting long audio at pauses into decodable segments.

Each 32 ms frame gets two measurements: its level (dBFS) and silero-vad's speech probability
(:mod:`asr.audio.vad`).  A frame is speech when the detector hears speech in it, *or* when its level
stands well above the recording's noise floor.  The detector catches soft and whispered speech
that a level threshold misses; the level keeps anything loud the detector might doubt (singing,
a shout, a clipped word).  So the detector decides where audio is cut, never on its own what is
thrown away: only stretches that are both quiet and not speech are skipped.

Short audio (up to ``max_seconds``) with any speech in it is decoded whole.  Longer audio is
cut at every pause of ``SENTENCE_PAUSE_SECONDS`` or more (once a segment holds
``SENTENCE_MIN_SECONDS``), and into segments of at most ``max_seconds`` that begin and end in
pauses: speech regions are packed together up to that length and each cut falls in the longest
pause available, so a sentence is not cut in two when a pause lies near.  Pure silence gives no
segment at all, so it transcribes to empty text instead of a hallucination.

The same frame rule drives the live endpointer (:mod:`asr.audio.endpoint`): files, ``asr listen``
and the demo find speech alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from asr.audio.io import SAMPLE_RATE, frame_level_db
from asr.audio.vad import FRAME_SAMPLES, FRAME_SECONDS, SILENCE_FLOOR_DB, SpeechDetector

SPEECH_ABOVE_NOISE_DB = 10.0  # a frame this far above the noise floor is speech by its level alone
NOISE_PERCENTILE = 10.0  # the noise floor: this percentile of the recording's frame levels
# A recording shorter than this is too short to hold its own noise floor (a single word, 0.15 s
# of it all speech): its floor is SILENCE_FLOOR_DB instead.
MIN_FLOOR_SECONDS = 1.0
# silero-vad's probabilities, with its own hysteresis: speech starts at VAD_THRESHOLD and goes on
# while the probability stays above VAD_NEG_THRESHOLD.
VAD_THRESHOLD = 0.5
VAD_NEG_THRESHOLD = 0.35
MIN_SPEECH_SECONDS = 0.15  # shorter bursts are clicks, not words
MIN_PAUSE_SECONDS = 0.3  # shorter gaps are within a phrase: never a place to cut
PAD_SECONDS = 0.3  # context kept on both sides of a segment (no more than half the pause)
# Longer audio is cut at pauses into pieces at most this long. Whisper's encoder takes 30 s, but
# the speller learnt on utterances of a few seconds: on the long-form dev set WER rose steadily
# with the longest piece allowed, from 8 s to 20 s (``bench/human.py --sets longform --max-segment-seconds S``; recipes/synth/RESULTS.md),
# and attention, so timing, wanders more the longer the piece.
MAX_SEGMENT_SECONDS = 10.0
# Long audio is also cut at every pause at least SENTENCE_PAUSE_SECONDS long, once the segment holds
# SENTENCE_MIN_SECONDS: the speller learnt on single sentences, and the long-form dev set's WER fell
# most with cuts at pauses of 0.6 s (against 0.5 and 1.0 s, and cuts only where a segment would grow
# past MAX_SEGMENT_SECONDS). A short soft sentence decoded alone, away from its louder neighbours,
# loses words (the soft-passage test recording), so a segment is not cut before it holds 2 s
# (recipes/synth/RESULTS.md). The live endpointer, likewise, ends an utterance at a 0.5-s pause.
SENTENCE_PAUSE_SECONDS = 0.6
SENTENCE_MIN_SECONDS = 2.0
# Whisper's encoder takes 30 s at most: no segment, padding included, is longer than this.
LONGEST_SEGMENT_SECONDS = 30.0 - 2 * PAD_SECONDS - 0.1


@dataclass
class FrameAnalysis:
    """Per-frame measurements of a whole input, the plan's only input (two floats a frame: 900 KB an hour)."""

    levels: np.ndarray  # (frames,) RMS level in dBFS
    probs: np.ndarray | None  # (frames,) silero-vad speech probability; None where it could not be loaded
    num_samples: int

    def speech(self) -> np.ndarray:
        """(frames,) bool: speech by the detector or by level (see the module docstring)."""
        threshold = level_threshold_db(self.levels)
        return speech_frames(self.probs, self.levels, threshold)


def level_threshold_db(levels: np.ndarray, percentile: float = NOISE_PERCENTILE) -> float:
    """The level above which a frame is speech on its own: the noise floor plus a margin, never below the floor.

    The noise floor is a low percentile of the recording's frame levels; a recording shorter than
    ``MIN_FLOOR_SECONDS`` may be speech from end to end, so its floor is digital silence's.
    """
    if levels.size * FRAME_SECONDS < MIN_FLOOR_SECONDS:
        return SILENCE_FLOOR_DB + SPEECH_ABOVE_NOISE_DB
    return max(SILENCE_FLOOR_DB, float(np.percentile(levels, percentile)) + SPEECH_ABOVE_NOISE_DB)


def speech_frames(probs: np.ndarray | None, levels: np.ndarray, threshold_db: float,
                  in_speech: bool = False) -> np.ndarray:
    """The frame rule, over a run of frames in order; ``in_speech``: the frame before them was speech."""
    loud = levels > threshold_db
    if probs is None:
        return loud
    speech = np.zeros(levels.size, dtype=bool)
    for i, (p, is_loud) in enumerate(zip(probs, loud)):
        in_speech = detector_hears(p, in_speech)
        speech[i] = in_speech or is_loud
    return speech


def detector_hears(prob: float, in_speech: bool) -> bool:
    """silero-vad's hysteresis: speech starts at VAD_THRESHOLD and goes on while above VAD_NEG_THRESHOLD."""
    return prob >= VAD_THRESHOLD or (in_speech and prob >= VAD_NEG_THRESHOLD)


def analyse(blocks: Iterable[np.ndarray], detector: SpeechDetector | None = None) -> FrameAnalysis:
    """Measure audio that arrives in blocks of any size, holding one block at a time.

    The last partial frame is zero-padded.  ``detector`` is reset first (a new one is made if None).
    """
    detector = detector or SpeechDetector()
    detector.reset()
    levels, probs, carry, total = [], [], np.zeros(0, dtype=np.float32), 0
    for block in blocks:
        total += block.size
        block = np.concatenate([carry, block]) if carry.size else block
        whole = block.size // FRAME_SAMPLES * FRAME_SAMPLES
        if whole:
            levels.append(frame_level_db(block[:whole].reshape(-1, FRAME_SAMPLES)))
            probs.append(detector.probabilities(block[:whole]))
        carry = block[whole:]
    if carry.size:
        last = np.pad(carry, (0, FRAME_SAMPLES - carry.size))
        levels.append(frame_level_db(last[None]))
        probs.append(detector.probabilities(last))
    levels = np.concatenate(levels) if levels else np.zeros(0)
    probs = None if not detector.available else (np.concatenate(probs) if probs else np.zeros(0, np.float32))
    return FrameAnalysis(levels, probs, total)


def plan(analysis: FrameAnalysis, max_seconds: float = MAX_SEGMENT_SECONDS,
         sample_rate: int = SAMPLE_RATE) -> list[tuple[int, int]]:
    """Sample ranges to decode: the whole input when short, pause-delimited segments when long, none for silence.

    ``max_seconds`` is capped at :data:`LONGEST_SEGMENT_SECONDS`.

    Returns:
        (start, end) sample indices, in order and non-overlapping.
    """
    max_seconds = min(max_seconds, LONGEST_SEGMENT_SECONDS)
    speech = analysis.speech()
    regions = speech_regions(speech)
    if not regions:
        return []
    if analysis.num_samples <= max_seconds * sample_rate:
        return [(0, analysis.num_samples)]  # short: keep the natural margins the model was trained with
    score = analysis.probs if analysis.probs is not None else analysis.levels
    segments = pack(regions, score, int(max_seconds / FRAME_SECONDS))
    frame = FRAME_SAMPLES * sample_rate // SAMPLE_RATE
    return [(s * frame, min(e * frame, analysis.num_samples)) for s, e in _pad(segments, speech.size)]


def speech_regions(speech: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) frame runs of speech, joined across pauses shorter than MIN_PAUSE_SECONDS, clicks dropped."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], speech.astype(np.int8), [0]])))
    regions: list[tuple[int, int]] = []
    min_gap = round(MIN_PAUSE_SECONDS / FRAME_SECONDS)
    for start, end in zip(edges[::2], edges[1::2]):
        if regions and start - regions[-1][1] < min_gap:
            regions[-1] = (regions[-1][0], int(end))
        else:
            regions.append((int(start), int(end)))
    return [(s, e) for s, e in regions if (e - s) * FRAME_SECONDS >= MIN_SPEECH_SECONDS]


def pack(regions: list[tuple[int, int]], score: np.ndarray, max_frames: int) -> list[tuple[int, int]]:
    """Join consecutive speech regions into segments of at most ``max_frames``, never across a pause of
    ``SENTENCE_PAUSE_SECONDS`` or more once the segment holds ``SENTENCE_MIN_SECONDS``.

    Where the length decides, the cut falls in the longest pause of the segment's second half; a
    region longer than ``max_frames`` with no pause at all is cut at its least speech-like frame
    (lowest ``score``) in the second half of the window.
    """
    segments = []
    i = 0
    while i < len(regions):
        start, end = regions[i]
        if end - start > max_frames:  # no pause to cut in
            window = score[start + max_frames // 2:start + max_frames]
            cut = start + max_frames // 2 + int(np.argmin(window))
            segments.append((start, cut))
            regions = regions[:i] + [(cut, end)] + regions[i + 1:]
            continue
        j = i  # the last region that fits
        at_pause = False  # whether the segment ends at a sentence's pause, not for its length
        while j + 1 < len(regions) and regions[j + 1][1] - start <= max_frames:
            if (regions[j + 1][0] - regions[j][1] >= SENTENCE_PAUSE_SECONDS / FRAME_SECONDS
                    and (regions[j][1] - start) * FRAME_SECONDS >= SENTENCE_MIN_SECONDS):
                at_pause = True
                break
            j += 1
        if j + 1 < len(regions) and not at_pause:  # more follows: end at the longest pause of the second half
            candidates = [k for k in range(i, j + 1) if regions[k][1] - start >= max_frames // 2] or [j]
            j = max(candidates, key=lambda k: regions[k + 1][0] - regions[k][1])
        segments.append((start, regions[j][1]))
        i = j + 1
    return segments


def _pad(segments: list[tuple[int, int]], num_frames: int) -> list[tuple[int, int]]:
    """Widen each segment by PAD_SECONDS on both sides, at most to the middle of the pause beside it."""
    pad = round(PAD_SECONDS / FRAME_SECONDS)
    padded = []
    for k, (start, end) in enumerate(segments):
        before = segments[k - 1][1] if k else -2 * pad
        after = segments[k + 1][0] if k + 1 < len(segments) else num_frames + 2 * pad
        padded.append((max(0, start - min(pad, (start - before) // 2)),
                       min(num_frames, end + min(pad, (after - end) // 2))))
    return padded


def split_on_pauses(samples: np.ndarray, max_seconds: float = MAX_SEGMENT_SECONDS) -> list[tuple[int, int]]:
    """:func:`plan` of a 16 kHz array held in memory."""
    return plan(analyse([np.asarray(samples, dtype=np.float32)]), max_seconds)
