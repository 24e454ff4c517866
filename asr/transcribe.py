"""Transcription: audio of any length in, text with attention timings out.

Short audio (up to ``max_segment_seconds``) is decoded whole.  Longer audio
is cut at pauses (:mod:`asr.segment`), the pieces are decoded in batches,
and their results are stitched with global timestamps.  Audio with no speech
at all gives empty text.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np
import torch

from asr.audio import SAMPLE_RATE, load_audio
from asr.decoding import DecodeOptions, DecodeResult, decode
from asr.segment import split_on_pauses

MAX_SEGMENT_SECONDS = 20.0


@dataclass
class Transcription:
    """The result for one audio input: the text and every segment's :class:`DecodeResult`.

    Segment times (``char_starts``, ``words``...) are already offset to the start of the input.
    """

    text: str
    segments: list[DecodeResult] = field(default_factory=list)
    offsets: list[float] = field(default_factory=list)  # start of each segment in the input, seconds
    duration: float = 0.0  # seconds

    @property
    def words(self):
        return [w for s in self.segments for w in s.words]

    @property
    def token_log_probs(self) -> np.ndarray:
        return np.concatenate([s.token_log_probs for s in self.segments]) if self.segments else np.zeros(0)

    @property
    def char_starts(self) -> np.ndarray:
        return np.concatenate([s.char_starts for s in self.segments]) if self.segments else np.zeros(0)

    @property
    def char_ends(self) -> np.ndarray:
        return np.concatenate([s.char_ends for s in self.segments]) if self.segments else np.zeros(0)

    @property
    def attention(self) -> np.ndarray:
        """(characters, encoder frames) for single-segment audio; see ``segments`` for long audio."""
        if len(self.segments) == 1:
            return self.segments[0].attention
        if not self.segments:
            return np.zeros((0, 0))
        raise ValueError("long audio has one attention matrix per segment: use .segments[i].attention")

    @property
    def nbest(self) -> list[tuple[str, float]]:
        if len(self.segments) == 1:
            return self.segments[0].nbest
        return [(self.text, float(sum(s.score for s in self.segments)))]

    @property
    def confidence(self) -> float:
        lp = self.token_log_probs
        return float(np.exp(lp.mean())) if lp.size else 1.0


def _options(options: DecodeOptions | None, overrides: dict) -> DecodeOptions:
    known = {f.name for f in fields(DecodeOptions)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown decoding option(s): {', '.join(sorted(unknown))}")
    return replace(options or DecodeOptions(), **overrides)


def _shift(result: DecodeResult, offset: float) -> DecodeResult:
    from asr.alignment import WordTiming

    return replace(result, char_starts=result.char_starts + offset, char_ends=result.char_ends + offset,
                   words=[WordTiming(w.word, w.start + offset, w.end + offset, w.confidence) for w in result.words])


def decode_pieces(model, pieces: list[np.ndarray], options: DecodeOptions, batch_size: int = 8) -> list[DecodeResult]:
    """Decode 16 kHz arrays in batches of similar length (less padding), results in input order."""
    order = sorted(range(len(pieces)), key=lambda i: pieces[i].size)
    results: list[DecodeResult | None] = [None] * len(pieces)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        lengths = torch.tensor([max(pieces[i].size, 1) for i in chunk])
        waveforms = torch.zeros(len(chunk), int(lengths.max()))
        for row, i in enumerate(chunk):
            waveforms[row, : pieces[i].size] = torch.from_numpy(pieces[i])
        for i, result in zip(chunk, decode(model, waveforms.to(model.device), lengths.to(model.device), options)):
            results[i] = result
    return results


def plan_segments(samples: np.ndarray, max_segment_seconds: float = MAX_SEGMENT_SECONDS) -> list[tuple[int, int]]:
    """Sample ranges to decode: the whole clip when short, pause-delimited pieces when long, none for silence."""
    segments = split_on_pauses(samples, max_seconds=max_segment_seconds)
    if not segments:
        return []
    if samples.size <= max_segment_seconds * SAMPLE_RATE:
        return [(0, samples.size)]  # short: keep the natural margins the model was trained with
    return segments


@torch.no_grad()
def transcribe(model, audio, options: DecodeOptions | None = None, batch_size: int = 8,
               **overrides) -> Transcription:
    """Transcribe one input.

    Args:
        model: a loaded :class:`asr.model.LAS` (see :func:`asr.load_model`).
        audio: a path, encoded bytes, or a float array of 16 kHz mono samples.
        options: decoding options; keyword overrides such as ``beam_size=5`` or
            ``ctc_weight=0.3`` are applied on top.
        batch_size: segments of long audio decoded together.
    Raises:
        asr.audio.AudioError: the input is not usable audio.
    """
    options = _options(options, overrides)
    samples = load_audio(audio)
    duration = samples.size / SAMPLE_RATE
    was_training = model.training
    model.eval()
    try:
        ranges = plan_segments(samples)
        results = decode_pieces(model, [samples[s:e] for s, e in ranges], options, batch_size)
    finally:
        model.train(was_training)
    offsets = [s / SAMPLE_RATE for s, _ in ranges]
    segments = [_shift(r, off) for r, off in zip(results, offsets)]
    text = " ".join(s.text for s in segments if s.text)
    return Transcription(text=text, segments=segments, offsets=offsets, duration=duration)
