"""Timestamps straight from attention: when was each character, and each word, spoken?

For output step ``u`` the attention row ``a_u`` (over encoder frames) says
where the speller was listening.  We take the attention-weighted centre of
mass around the row's peak as the character's time, force the sequence of
times to be non-decreasing (speech is read left to right), and put the
boundary between two characters halfway between their times.  A word spans
its first character's start to its last character's end.  No extra aligner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PEAK_RADIUS_FRAMES = 2  # the centre of mass is taken over the peak +- this many frames


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
    peaks = attention.argmax(axis=1)
    centres = np.empty(steps)
    for u, peak in enumerate(peaks):
        lo, hi = max(0, peak - PEAK_RADIUS_FRAMES), min(frames, peak + PEAK_RADIUS_FRAMES + 1)
        window = attention[u, lo:hi]
        centres[u] = (np.arange(lo, hi) * window).sum() / max(window.sum(), 1e-9)
    centres = (np.maximum.accumulate(centres) + 0.5) * frame_seconds  # frame centre, monotonic
    boundaries = (centres[1:] + centres[:-1]) / 2
    half_char = np.median(np.diff(centres)) / 2 if steps > 1 else frame_seconds
    starts = np.concatenate([[centres[0] - half_char], boundaries])
    ends = np.concatenate([boundaries, [centres[-1] + half_char]])
    return np.clip(starts, 0, duration), np.clip(ends, 0, duration)


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
