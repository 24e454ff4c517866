"""Timestamps straight from attention: when was each character, and each word, spoken?

For output step ``u`` the attention row ``a_u`` (over encoder frames) says
where the speller was listening.  Speech is read left to right, so each
character gets a frame on the best monotonic path through the attention
matrix (the path of non-decreasing frames that maximises the summed log
weights): one stray row that glances at a later word can't drag every
character after it along, as clamping row peaks to be non-decreasing would.
The character's time is the attention-weighted centre of mass around its
frame, and the boundary between two characters lies halfway between their
times, unless a pause lies between them: no character reaches further than
two median character lengths from its own time.  A word spans its first character's start to its last character's
end.  No extra aligner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PEAK_RADIUS_FRAMES = 2  # the centre of mass is taken over the peak +- this many frames
MAX_CHAR_SPAN = 2.0  # a character reaches at most this many median character lengths from its time


@dataclass(frozen=True)
class WordTiming:
    word: str
    start: float  # seconds
    end: float  # seconds
    confidence: float  # geometric mean of the word's character probabilities, in [0, 1]


def character_times(attention: np.ndarray, frame_seconds: float, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """Start and end time in seconds of each output character.

    Args:
        attention: (U, T) weights of the U characters (no ``<eos>`` row) over T encoder frames.
        frame_seconds: seconds per encoder frame.
        duration: audio length in seconds; every time is clipped into [0, duration].
    Returns:
        starts (U,), ends (U,) with starts[u] <= ends[u] <= starts[u+1].
    """
    steps, frames = attention.shape
    if steps == 0:
        return np.zeros(0), np.zeros(0)
    peaks = monotonic_path(attention)
    centres = np.empty(steps)
    for u, peak in enumerate(peaks):
        lo, hi = max(0, peak - PEAK_RADIUS_FRAMES), min(frames, peak + PEAK_RADIUS_FRAMES + 1)
        window = attention[u, lo:hi]
        centres[u] = (np.arange(lo, hi) * window).sum() / max(window.sum(), 1e-9)
    centres = (np.maximum.accumulate(centres) + 0.5) * frame_seconds  # frame centre, monotonic
    boundaries = (centres[1:] + centres[:-1]) / 2
    half_char = np.median(np.diff(centres)) / 2 if steps > 1 else frame_seconds
    # A character lasts at most MAX_CHAR_SPAN typical characters: the first letter after a pause
    # starts near its own time, not halfway back into the pause.
    reach = MAX_CHAR_SPAN * half_char
    starts = np.maximum(np.concatenate([[centres[0] - half_char], boundaries]), centres - reach)
    ends = np.minimum(np.concatenate([boundaries, [centres[-1] + half_char]]), centres + reach)
    return np.clip(starts, 0, duration), np.clip(ends, 0, duration)


def monotonic_path(attention: np.ndarray) -> np.ndarray:
    """(U,) non-decreasing frame indices maximising the summed log attention of a (U, T) matrix.

    Dynamic programming in O(U * T): the best score of reaching frame t at step u is the row's
    log weight there plus the best score of any frame <= t at step u - 1 (a running maximum).
    """
    steps, frames = attention.shape
    log_weights = np.log(np.maximum(attention, 1e-10))
    positions = np.arange(frames)
    score, back = log_weights[0], np.empty((steps, frames), dtype=np.int64)
    for u in range(1, steps):
        best = np.maximum.accumulate(score)
        back[u] = np.maximum.accumulate(np.where(score >= best, positions, 0))  # where that best is
        score = log_weights[u] + best
    path = np.empty(steps, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for u in range(steps - 1, 0, -1):
        path[u - 1] = back[u][path[u]]
    return path


def word_timings(text: str, starts: np.ndarray, ends: np.ndarray, log_probs: np.ndarray) -> list[WordTiming]:
    """Group character timings and log-probabilities into words (split at spaces)."""
    words, current = [], []
    for i, char in enumerate(text):
        if char == " ":
            if current:
                words.append(current)
            current = []
        else:
            current.append(i)
    if current:
        words.append(current)
    return [
        WordTiming(text[idx[0]:idx[-1] + 1], float(starts[idx[0]]), float(ends[idx[-1]]),
                   float(np.exp(np.mean(log_probs[idx]))))
        for idx in words
    ]
