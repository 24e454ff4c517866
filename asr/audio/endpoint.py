"""The endpointer: cut a live stream of audio blocks into utterances at pauses.

The speller was trained on short clips that each hold one utterance with a
little silence around it, so a live stream has to be cut the same way before
it is decoded.  :class:`Endpointer` makes that cut as audio arrives.  It only
returns an utterance after ``MIN_PAUSE_SECONDS`` of silence, and it keeps
``MARGIN_SECONDS`` of lead-in and tail, like the margins of the training clips.
Speech that goes on too long without a pause is cut at its quietest frame.

It makes the same per-frame decision as :mod:`asr.audio.segment`: a frame is speech
when silero-vad hears speech in it (:mod:`asr.audio.vad`) or when its level is
``SPEECH_ABOVE_NOISE_DB`` above the noise floor.  Here the noise floor is a low
percentile of the last ``NOISE_WINDOW_SECONDS``, not of the whole recording,
which a live stream does not have.  A word said the moment capture starts has no quiet before it to
measure the floor by: when the stream's first ``MIN_FLOOR_SECONDS`` open no utterance, they are
decided again against that second's own floor (digital silence's when the stream is shorter, as for
a short file), so such a word is not lost; frames are still decided as they come, so the first
utterance's running transcripts start as early as before.  The detector runs on a 16 kHz copy of the
stream; the utterances keep the samples as captured.  This module is pure logic
over plain arrays, with no device and no threads, so it can be tested without a
sound card.  The capture loop that feeds it lives in :mod:`asr.apps.microphone`.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

import numpy as np

from asr.audio.io import SAMPLE_RATE, frame_level_db
from asr.audio.segment import (FRAME_SECONDS, MAX_SEGMENT_SECONDS, MIN_FLOOR_SECONDS, MIN_SPEECH_SECONDS,
                               SPEECH_ABOVE_NOISE_DB, detector_hears, level_threshold_db)
from asr.audio.vad import FRAME_SAMPLES, SILENCE_FLOOR_DB, SpeechDetector

NOISE_WINDOW_SECONDS = 20.0  # the noise floor is estimated over this much recent audio
NOISE_PERCENTILE = 5.0  # of recent frame levels; low, so that a long monologue doesn't raise the floor
MIN_PAUSE_SECONDS = 0.5  # this much silence after speech ends an utterance
MARGIN_SECONDS = 0.25  # silence kept before and after the speech, like the margins of training clips
_MEASURE = object()  # Endpointer._add_frame: run the detector on the frame


@dataclass
class Utterance:
    """One stretch of speech between pauses, as captured (not yet resampled)."""

    start: float  # seconds since capture began
    samples: np.ndarray  # (T,) float32 at ``sample_rate``
    sample_rate: int

    @property
    def duration(self) -> float:
        return self.samples.size / self.sample_rate

    @property
    def end(self) -> float:
        return self.start + self.duration


class Endpointer:
    """Cut a stream of audio blocks into utterances at pauses.

    Feed blocks of any size with :meth:`push`.  It returns the utterances that
    those blocks completed.  :meth:`flush` closes the utterance still open at
    the end of the stream.

    Args:
        sample_rate: rate of the blocks, in Hz.
        min_pause_seconds: silence that ends an utterance.
        max_utterance_seconds: longer speech without a pause is cut at its quietest frame
            (the speller was trained on clips of a few seconds).
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, min_pause_seconds: float = MIN_PAUSE_SECONDS,
                 max_utterance_seconds: float = MAX_SEGMENT_SECONDS):
        self.sample_rate = sample_rate
        self.frame = round(FRAME_SECONDS * sample_rate)  # samples per frame
        self.frame_seconds = self.frame / sample_rate
        self.pause_frames = max(1, round(min_pause_seconds / self.frame_seconds))
        self.margin_frames = round(MARGIN_SECONDS / self.frame_seconds)
        self.min_speech_frames = max(1, round(MIN_SPEECH_SECONDS / self.frame_seconds))
        self.max_frames = max(2 * self.pause_frames, round(max_utterance_seconds / self.frame_seconds))
        self._levels = collections.deque(maxlen=round(NOISE_WINDOW_SECONDS / self.frame_seconds))
        self._detector = SpeechDetector()
        self._vad_in_speech = False  # the detector's own hysteresis state
        self._resampler = None if sample_rate == SAMPLE_RATE else _stream_resampler(sample_rate)
        self._vad_carry = np.zeros(0, dtype=np.float32)  # 16 kHz samples short of a detector frame
        self._last_prob = 0.0
        self._carry = np.zeros(0, dtype=np.float32)  # samples short of a whole frame
        self._frames_seen = 0
        self._floor_frames = max(1, math.ceil(MIN_FLOOR_SECONDS / self.frame_seconds))
        # The stream's first frames and their speech probabilities, kept to decide them again against
        # their own noise floor if they open no utterance; None once that is settled.
        self._opening: list[tuple[np.ndarray, float | None]] | None = []
        self._opening_threshold: float | None = None  # their speech level, used while deciding them again
        self._utterances = 0  # returned so far
        self._before = collections.deque(maxlen=self.margin_frames)  # recent silent frames, for the lead-in
        self._frames: list[np.ndarray] | None = None  # the open utterance's frames, None between utterances
        self._frame_levels: list[float] = []
        self._start_frame = 0  # stream frame index of self._frames[0]
        self._first_speech = 0  # index in self._frames of the first speech frame
        self._last_speech = 0  # index in self._frames of the last speech frame, plus one

    @property
    def in_speech(self) -> bool:
        return self._frames is not None

    @property
    def seconds(self) -> float:
        """Audio endpointed so far (whole frames)."""
        return self._frames_seen * self.frame_seconds

    def threshold_db(self) -> float:
        if self._opening_threshold is not None:
            return self._opening_threshold  # the stream's first second, measured whole
        noise_floor = float(np.percentile(self._levels, NOISE_PERCENTILE)) if self._levels else SILENCE_FLOOR_DB
        return max(SILENCE_FLOOR_DB, noise_floor + SPEECH_ABOVE_NOISE_DB)

    def push(self, block: np.ndarray) -> list[Utterance]:
        """Add (T,) float32 samples; returns the utterances completed by them, in order."""
        samples = np.concatenate([self._carry, np.asarray(block, dtype=np.float32).reshape(-1)])
        whole = samples.size // self.frame * self.frame
        self._carry = samples[whole:]
        done = []
        for frame in samples[:whole].reshape(-1, self.frame):
            utterance = self._add_frame(frame)
            if utterance is not None:
                done.append(utterance)
            if self._opening is not None and len(self._opening) >= self._floor_frames:
                done += self._decide_opening_again()
        return done

    def _decide_opening_again(self) -> list[Utterance]:
        """The stream's first frames, when they opened no utterance, decided again against their own
        noise floor (digital silence's when there is less than ``MIN_FLOOR_SECONDS`` of them)."""
        opening, self._opening = self._opening, None
        if not opening or self._frames is not None or self._utterances:
            return []  # an utterance is open or has been: the running floor served
        levels = np.fromiter(self._levels, dtype=float)  # the opening's own: nothing else has come yet
        threshold = level_threshold_db(levels, NOISE_PERCENTILE)  # a file's rule, short files included
        if not np.any(levels > threshold):
            return []  # nothing there is speech by this floor either
        self._levels.clear()
        self._before.clear()
        self._frames_seen, self._vad_in_speech, self._opening_threshold = 0, False, threshold
        try:
            return [u for u in (self._add_frame(frame, prob) for frame, prob in opening) if u is not None]
        finally:
            self._opening_threshold = None

    def open_utterance(self) -> Utterance | None:
        """The utterance still in progress, from its lead-in to the latest frame; None between utterances.

        For a running (partial) transcript while the speaker goes on; the utterance stays open.
        """
        if self._frames is None:
            return None
        return Utterance(start=self._start_frame * self.frame_seconds, samples=np.concatenate(self._frames),
                         sample_rate=self.sample_rate)

    def flush(self) -> list[Utterance]:
        """End of stream: the open utterance, if it holds enough speech."""
        done = self._decide_opening_again() if self._opening is not None else []
        if self._frames is None:
            return done
        utterance = self._close(min(len(self._frames), self._last_speech + self.margin_frames))
        return done + ([utterance] if utterance is not None else [])

    def _add_frame(self, frame: np.ndarray, prob=_MEASURE) -> Utterance | None:
        """One frame in; ``prob``: its speech probability when it is known already (deciding it again)."""
        level = float(frame_level_db(frame[None])[0])
        self._levels.append(level)
        if prob is _MEASURE:
            prob = self._speech_probability(frame)
            if self._opening is not None:
                self._opening.append((frame, prob))
        if prob is not None:
            self._vad_in_speech = detector_hears(prob, self._vad_in_speech)
        speech = self._vad_in_speech or level > self.threshold_db()
        self._frames_seen += 1
        if self._frames is None:
            if not speech:
                self._before.append(frame)
                return None
            self._frames, self._frame_levels = list(self._before), [-120.0] * len(self._before)
            self._start_frame = self._frames_seen - 1 - len(self._before)
            self._first_speech = len(self._frames)
            self._before.clear()
        self._frames.append(frame)
        self._frame_levels.append(level)
        if speech:
            self._last_speech = len(self._frames)
        if len(self._frames) - self._last_speech >= self.pause_frames:
            return self._close(self._last_speech + self.margin_frames)
        if len(self._frames) >= self.max_frames:
            return self._cut_long()
        return None

    def _speech_probability(self, frame: np.ndarray) -> float | None:
        """silero-vad's probability for this frame: of the 16 kHz frame it completes, else the last one."""
        if not self._detector.available:
            return None
        if self._resampler is not None:
            frame = self._resampler.resample_chunk(frame)
        samples = np.concatenate([self._vad_carry, frame]) if self._vad_carry.size else frame
        whole = samples.size // FRAME_SAMPLES * FRAME_SAMPLES
        self._vad_carry = samples[whole:]
        if whole:
            self._last_prob = float(self._detector.probabilities(samples[:whole]).max())
        return self._last_prob

    def _close(self, end: int) -> Utterance | None:
        """End the open utterance after frame ``end``; the frames after it become the next lead-in."""
        frames, start, speech = self._frames, self._start_frame, self._last_speech - self._first_speech
        self._frames = None
        self._before.extend(frames[end:])
        if speech < self.min_speech_frames:  # a click or a cough of a frame or two, not words
            return None
        self._utterances += 1
        return Utterance(start=start * self.frame_seconds, samples=np.concatenate(frames[:end]),
                         sample_rate=self.sample_rate)

    def _cut_long(self) -> Utterance:
        """Speech too long without a pause: cut at the quietest frame of its second half, keep the rest open."""
        half = len(self._frames) // 2
        cut = half + int(np.argmin(self._frame_levels[half:]))
        self._utterances += 1
        utterance = Utterance(start=self._start_frame * self.frame_seconds, samples=np.concatenate(self._frames[:cut]),
                              sample_rate=self.sample_rate)
        self._frames, self._frame_levels = self._frames[cut:], self._frame_levels[cut:]
        self._start_frame += cut
        self._first_speech = 0
        self._last_speech = max(0, self._last_speech - cut)
        return utterance


def _stream_resampler(sample_rate: int):
    """soxr's streaming resampler from ``sample_rate`` to 16 kHz (float32 mono)."""
    import soxr

    return soxr.ResampleStream(sample_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
