"""Finding speech and pauses by frame energy, to cut long audio into decodable pieces.

The speller was trained on utterances of a few seconds; attention over an
hour of frames would be slow and would lose its place.  So long audio is cut
at pauses into segments of at most ``max_seconds``, each decoded on its own,
and the results stitched with their offsets.  Pure silence yields no segment
at all, so it transcribes to empty text instead of a hallucination.
"""

from __future__ import annotations

import numpy as np

from asr.audio import SAMPLE_RATE

FRAME_SECONDS = 0.030
# Below this (dBFS) a frame is silence whatever the recording; speech peaking at -40 dBFS is above it.
SILENCE_FLOOR_DB = -60.0
SPEECH_ABOVE_NOISE_DB = 10.0  # speech frames are this far above the noise floor estimate
MIN_SPEECH_SECONDS = 0.15  # shorter bursts are clicks, not words
PAD_SECONDS = 0.15  # context kept on both sides of each segment
# Longer audio is cut at pauses into pieces at most this long: the length the speller was trained
# on is a few seconds, and Whisper's encoder takes at most 30.
MAX_SEGMENT_SECONDS = 20.0


def frame_energy_db(samples: np.ndarray, frame: int) -> np.ndarray:
    """RMS level in dBFS of consecutive, non-overlapping frames."""
    usable = samples[: samples.size // frame * frame].reshape(-1, frame)
    if samples.size % frame:
        usable = np.concatenate([usable, np.pad(samples[usable.size:], (0, frame - samples.size % frame))[None]])
    # einsum sums the squares frame by frame without a squared copy of the block
    power = np.einsum("ij,ij->i", usable, usable).astype(np.float64) / frame
    return 10 * np.log10(power + 1e-12)


def speech_frames(energy_db: np.ndarray) -> np.ndarray:
    """Boolean speech decision per frame: above an absolute floor and above the noise floor."""
    if energy_db.size == 0:
        return np.zeros(0, dtype=bool)
    noise_floor = np.percentile(energy_db, 10)
    threshold = max(SILENCE_FLOOR_DB, noise_floor + SPEECH_ABOVE_NOISE_DB)
    return energy_db > threshold


def split_on_pauses(samples: np.ndarray, max_seconds: float = 20.0, min_pause_seconds: float = 0.25,
                    sample_rate: int = SAMPLE_RATE) -> list[tuple[int, int]]:
    """Cut audio into speech segments of at most ``max_seconds``.

    Returns:
        (start, end) sample indices, in order and non-overlapping. Empty for silence.
    """
    frame = int(FRAME_SECONDS * sample_rate)
    return segments_from_energy(frame_energy_db(samples, frame), samples.size, max_seconds, min_pause_seconds,
                                sample_rate)


def stream_energy_db(blocks, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """:func:`frame_energy_db` of audio that arrives in blocks of any size, holding one block at a time.

    Returns:
        the per-frame levels (exactly those of the concatenated blocks) and the total sample count.
    """
    frame = int(FRAME_SECONDS * sample_rate)
    levels, carry, total = [], np.zeros(0, dtype=np.float32), 0
    for block in blocks:
        total += block.size
        block = np.concatenate([carry, block]) if carry.size else block
        whole = block.size // frame * frame
        if whole:
            levels.append(frame_energy_db(block[:whole], frame))
        carry = block[whole:]
    if carry.size:
        levels.append(frame_energy_db(carry, frame))  # the last partial frame, zero padded
    return (np.concatenate(levels) if levels else np.zeros(0)), total


def segments_from_energy(energy_db: np.ndarray, num_samples: int, max_seconds: float = 20.0,
                         min_pause_seconds: float = 0.25, sample_rate: int = SAMPLE_RATE) -> list[tuple[int, int]]:
    """The segments of :func:`split_on_pauses`, from frame levels alone.

    Long audio is planned from its levels (one number per 30 ms frame, 480 KB for an
    hour), so the samples themselves never need to be in memory at once.
    """
    frame = int(FRAME_SECONDS * sample_rate)
    speech = speech_frames(energy_db)
    regions = _runs(speech, min_gap=int(min_pause_seconds / FRAME_SECONDS))
    regions = [(s, e) for s, e in regions if (e - s) * FRAME_SECONDS >= MIN_SPEECH_SECONDS]
    max_frames = int(max_seconds / FRAME_SECONDS)
    pad = int(PAD_SECONDS / FRAME_SECONDS)
    segments = []
    for start, end in regions:
        while end - start > max_frames:  # a long stretch without a pause: cut at its quietest frame
            window = energy_db[start:start + max_frames]
            cut = start + max_frames // 2 + int(np.argmin(window[max_frames // 2:]))
            segments.append((start, cut))
            start = cut
        segments.append((start, end))
    padded = []
    for i, (start, end) in enumerate(segments):
        lo = max(start - pad, padded[-1][1] if padded else 0)
        hi = min(end + pad, segments[i + 1][0] if i + 1 < len(segments) else len(speech))
        padded.append((lo, hi))
    return [(int(s * frame), int(min(e * frame, num_samples))) for s, e in padded]


def _runs(flags: np.ndarray, min_gap: int) -> list[tuple[int, int]]:
    """Runs of True, merging runs separated by fewer than ``min_gap`` False frames."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    runs = list(zip(edges[::2], edges[1::2]))
    merged: list[tuple[int, int]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] < min_gap:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((int(start), int(end)))
    return merged
