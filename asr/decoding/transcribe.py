"""Transcription: audio of any length in, text with attention timings out.

Short audio (up to ``MAX_SEGMENT_SECONDS``) is decoded whole.  Longer audio
is cut at pauses (:mod:`asr.audio.segment`), the pieces are decoded in batches,
and their results are stitched with global timestamps.  Audio with no speech
at all gives empty text.

Inputs are read in blocks (:mod:`asr.audio.blocks`) in two passes: the
first measures every 32 ms frame (its level and silero-vad's speech
probability) and plans the segments, the second cuts them out.
:func:`transcribe_many` batches the segments of many inputs together, so
memory holds a few batches of segments whatever the length or number of
the inputs.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, fields, replace
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from asr.decoding.alignment import WordTiming
from asr.audio.io import SAMPLE_RATE, AudioError, AudioWarning, level_for_decoding, load_audio
from asr.audio.blocks import open_audio
from asr.decoding.search import DecodeOptions, DecodeResult, decode
from asr.decoding.presets import DEFAULT_PRESET, preset, usable
from asr.audio.segment import MAX_SEGMENT_SECONDS, analyse, plan
from asr.audio.vad import SpeechDetector

SORT_POOL_BATCHES = 4  # segments are pooled this many batches deep and sorted by length, to pad less


@dataclass
class Transcription:
    """The result for one audio input: the text and every segment's :class:`DecodeResult`.

    ``text`` is the written form (:mod:`asr.decoding.written`): numerals, and capitals and punctuation
    when the checkpoint has a punctuator; ``raw_text`` is the speller's own lower-case words, as
    each segment's ``DecodeResult.text`` is.  Segment times (``char_starts``, ``words``...) are
    already offset to the start of the input.
    """

    text: str
    segments: list[DecodeResult] = field(default_factory=list)
    offsets: list[float] = field(default_factory=list)  # start of each segment in the input, seconds
    duration: float = 0.0  # seconds
    raw_text: str | None = None  # the speller's words; None: the same as text
    written: list[list[WordTiming]] | None = None  # each segment's written tokens; None: its raw words
    warnings: list[str] = field(default_factory=list)  # one line each: a file that ends early

    def __post_init__(self):
        if self.raw_text is None:
            self.raw_text = self.text

    @property
    def segment_words(self) -> list[list[WordTiming]]:
        """Each segment's written tokens, timed by the spoken words they stand for."""
        return self.written if self.written is not None else [s.words for s in self.segments]

    @property
    def segment_texts(self) -> list[str]:
        """Each segment's written text."""
        return [" ".join(w.word for w in words) for words in self.segment_words]

    @property
    def words(self) -> list[WordTiming]:
        """The written tokens ("10", "2020", "p.m."), with start, end and confidence."""
        return [w for words in self.segment_words for w in words]

    @property
    def raw_words(self) -> list[WordTiming]:
        """The speller's own words, with start, end and confidence."""
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
        """The speller's alternatives, (raw text, score) best first (see :func:`asr.decoding.written.write_text`)."""
        if len(self.segments) == 1:
            return self.segments[0].nbest
        return [(self.raw_text, float(sum(s.score for s in self.segments)))]

    @property
    def confidence(self) -> float:
        lp = self.token_log_probs
        return float(np.exp(lp.mean())) if lp.size else 1.0


def _options(model, options: DecodeOptions | None, overrides: dict) -> DecodeOptions:
    known = {f.name for f in fields(DecodeOptions)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown decoding option(s): {', '.join(sorted(unknown))}")
    return replace(options or default_options(model), **overrides)


def default_options(model) -> DecodeOptions:
    """What the Python API decodes with when given no options: the preset ``asr transcribe`` uses."""
    return usable(preset(DEFAULT_PRESET["python"]), model)


def _shift(result: DecodeResult, offset: float) -> DecodeResult:
    return replace(result, char_starts=result.char_starts + offset, char_ends=result.char_ends + offset,
                   words=[WordTiming(w.word, w.start + offset, w.end + offset, w.confidence) for w in result.words])


def piece_options(options: DecodeOptions, decoded_whole: bool) -> DecodeOptions:
    """How a piece is decoded: audio decoded whole gets ``options``' encoder context of silence and
    their VTLN warps; a piece cut from longer audio is decoded once, unwarped, with ``piece_context``
    of the recording around it instead of silence (silence and the warps each cost the soft-passage
    test words, and silence made the Kokoro long-form set worse: recipes/synth/RESULTS.md).
    """
    return options if decoded_whole else replace(options, encoder_context=0.0, warp_factors=())


def heard_ranges(model, ranges: list[tuple[int, int]], num_samples: int,
                 options: DecodeOptions) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The sample ranges a recording's pieces are read with, and each one's (before, after) margins:
    pieces cut from longer audio widened by ``options.piece_context`` (a pretrained listener's),
    audio decoded whole as it is."""
    if options.piece_context and ranges != [(0, num_samples)] and getattr(model, "pretrained", False):
        from asr.model.whisper import WINDOW_SECONDS

        return widened(ranges, num_samples, options.piece_context, model.margin_step, WINDOW_SECONDS * SAMPLE_RATE)
    return ranges, [(0, 0)] * len(ranges)


def widened(ranges: list[tuple[int, int]], num_samples: int, seconds: float, step: int,
            longest: int | None = None) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Each sample range widened by ``seconds`` of the audio around it (less at the audio's ends, and
    never past ``longest`` samples in all), and the (before, after) samples each gained, multiples
    of ``step``."""
    reach = int(seconds * SAMPLE_RATE) // step * step
    heard, margins = [], []
    for start, end in ranges:
        room = reach if longest is None else max(longest - (end - start), 0) // 2 // step * step
        before, after = min(reach, room, start) // step * step, min(reach, room, num_samples - end) // step * step
        heard.append((start - before, end + after))
        margins.append((before, after))
    return heard, margins


def decode_pieces(model, pieces: list[np.ndarray], options: DecodeOptions, batch_size: int = 8,
                  stop=None, margins: list[tuple[int, int]] | None = None) -> list[DecodeResult]:
    """Decode 16 kHz arrays in batches of similar length (less padding), results in input order.

    Each piece is first brought to the level decoding expects (:func:`asr.audio.io.level_for_decoding`),
    so a quiet microphone and a loud file of the same speech decode alike, and its soft passages
    are raised towards the rest.  ``stop``: see :func:`asr.decoding.search.decode`.  ``margins``:
    (before, after) samples of each piece that are only the audio around it, heard by the encoder
    and not decoded (see ``DecodeOptions.piece_context``).
    """
    margins = margins or [(0, 0)] * len(pieces)
    pieces = [level_for_decoding(piece, *around) for piece, around in zip(pieces, margins)]
    order = sorted(range(len(pieces)), key=lambda i: pieces[i].size)
    results: list[DecodeResult | None] = [None] * len(pieces)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        lengths = torch.tensor([max(pieces[i].size, 1) for i in chunk])
        waveforms = torch.zeros(len(chunk), int(lengths.max()))
        for row, i in enumerate(chunk):
            waveforms[row, : pieces[i].size] = torch.from_numpy(pieces[i])
        around = torch.tensor([margins[i] for i in chunk], dtype=torch.long)
        for i, result in zip(chunk, decode(model, waveforms.to(model.device), lengths.to(model.device), options,
                                         stop=stop, margins=around.to(model.device) if around.any() else None)):
            results[i] = result
    return results


@dataclass
class _Job:
    """One input on its way through :func:`transcribe_many`."""

    ranges: list[tuple[int, int]]  # sample ranges to decode
    num_samples: int
    results: list[DecodeResult | None]
    warnings: list[str] = field(default_factory=list)  # the reader's, filled in as the audio is read

    @property
    def done(self) -> bool:
        return all(r is not None for r in self.results)

    @property
    def decoded_whole(self) -> bool:
        """Whether the input is decoded in one piece, not cut at its pauses."""
        return self.ranges == [(0, self.num_samples)]

    def finish(self, model=None, itn: bool = True) -> Transcription:
        """The input's :class:`Transcription`, written with ``model``'s punctuator if it has one."""
        from asr.decoding.written import write_segments

        offsets = [s / SAMPLE_RATE for s, _ in self.ranges]
        segments = [_shift(r, off) for r, off in zip(self.results, offsets)]
        raw_text = " ".join(word for s in segments for word in s.text.split())  # one space between words
        written = write_segments([s.words for s in segments], getattr(model, "punctuator", None), itn)
        text = " ".join(w.word for words in written for w in words)
        return Transcription(text=text, segments=segments, offsets=offsets, duration=self.num_samples / SAMPLE_RATE,
                             raw_text=raw_text, written=written, warnings=self.warnings)


def transcribe_many(model, sources: Iterable, options: DecodeOptions | None = None, batch_size: int = 8,
                    keep_attention: bool = True, on_planned: Callable[[float], None] | None = None,
                    on_decoded: Callable[[float], None] | None = None, itn: bool = True,
                    max_segment_seconds: float = MAX_SEGMENT_SECONDS,
                    stop=None) -> Iterator[tuple[int, Transcription | AudioError]]:
    """Transcribe many inputs, batching segments across them.

    Args:
        model: a loaded :class:`asr.model.las.LAS`.
        sources: paths, encoded bytes, 16 kHz arrays, or ``(name, source)`` pairs
            (the name is what error messages call the input).
        options: decoding options (default: :func:`default_options`, the ``accurate`` preset).
        batch_size: segments decoded together.
        keep_attention: keep each segment's attention matrix; without it the results
            hold only timings, which is what bounds memory on hour-long inputs.
        on_planned: called with an input's duration in seconds once it has been measured.
        on_decoded: called with the seconds of audio each step finished (decoded, or skipped as silence).
        itn: write numbers as numerals in ``text`` (see :mod:`asr.decoding.written`); ``raw_text`` is never changed.
        max_segment_seconds: longer inputs are cut at pauses into segments at most this long.
        stop: a callable checked while decoding; once it returns true, decoding is abandoned with
            :class:`asr.decoding.search.DecodingStopped` (a running transcript whose audio has grown).
    Yields:
        ``(index, Transcription)`` or ``(index, AudioError)`` per input, in input order.
    """
    options = options or default_options(model)
    detector = SpeechDetector()  # one per call, reset for each input
    pool_size = batch_size * SORT_POOL_BATCHES
    jobs: dict[int, _Job | AudioError] = {}
    pool: list[tuple[int, int, np.ndarray, tuple[int, int]]] = []  # (input, segment, samples, margins) to decode
    next_out = 0

    def decode_pool():
        groups: dict[DecodeOptions, list[int]] = {}
        for i, (index, _, _, _) in enumerate(pool):
            whole = isinstance(jobs[index], _Job) and jobs[index].decoded_whole
            groups.setdefault(piece_options(options, whole), []).append(i)
        results = [None] * len(pool)
        for group_options, chosen in groups.items():  # one group when the options have no context or warps
            for i, result in zip(chosen, decode_pieces(model, [pool[i][2] for i in chosen], group_options,
                                                       batch_size, stop, [pool[i][3] for i in chosen])):
                results[i] = result
        for (index, k, piece, (before, after)), result in zip(pool, results):
            job = jobs[index]
            if isinstance(job, _Job):  # not an input that failed after its first segments
                job.results[k] = result if keep_attention else replace(
                    result, attention=np.zeros((len(result.tokens), 0), dtype=np.float32))
            if on_decoded:
                on_decoded((piece.size - before - after) / SAMPLE_RATE)
        pool.clear()

    def finished():
        nonlocal next_out
        while next_out in jobs and (isinstance(jobs[next_out], AudioError) or jobs[next_out].done):
            job = jobs.pop(next_out)
            yield next_out, job if isinstance(job, AudioError) else job.finish(model, itn)
            next_out += 1

    was_training = model.training
    model.eval()
    try:
        for index, source in enumerate(sources):
            name, source = source if isinstance(source, tuple) else (None, source)
            try:
                audio = open_audio(source, name)
                analysis = analyse(audio, detector)
                num_samples = analysis.num_samples
                if num_samples == 0:
                    raise AudioError(f"{audio.name}: contains no audio samples")
                ranges = plan(analysis, max_segment_seconds)
                jobs[index] = _Job(ranges, num_samples, [None] * len(ranges), audio.warnings)
                if on_planned:
                    on_planned(num_samples / SAMPLE_RATE)
                if on_decoded:  # the silence between segments needs no decoding
                    on_decoded((num_samples - sum(e - s for s, e in ranges)) / SAMPLE_RATE)
                heard, margins = heard_ranges(model, ranges, num_samples, options)
                for k, piece in enumerate(audio.slices(heard)):
                    pool.append((index, k, piece, margins[k]))
                    if len(pool) >= pool_size:
                        decode_pool()
            except AudioError as error:
                jobs[index] = error
            yield from finished()
        if pool:
            decode_pool()
        yield from finished()
    finally:
        model.train(was_training)


def transcribe(model, audio, options: DecodeOptions | None = None, batch_size: int = 8, itn: bool = True,
               max_segment_seconds: float = MAX_SEGMENT_SECONDS, stop=None, **overrides) -> Transcription:
    """Transcribe one input.

    Args:
        model: a loaded :class:`asr.model.las.LAS` (see :func:`asr.load_model`).
        audio: a path, encoded bytes, or a float array of 16 kHz mono samples.
        options: decoding options (default: the preset ``asr transcribe`` uses, :func:`default_options`);
            keyword overrides such as ``beam_size=5`` or ``ctc_weight=0.3`` are applied on top.
        batch_size: segments of long audio decoded together.
        itn: write numbers as numerals in ``text`` ("10 minutes"); ``raw_text`` keeps the spoken form.
        max_segment_seconds: audio longer than this is cut at pauses into segments at most this long
            (never longer than Whisper's 30-s window, whatever is asked).
        stop: a callable checked while decoding: once it returns true the transcription is
            abandoned (a running transcript whose audio has grown since).
    Raises:
        asr.audio.io.AudioError: the input is not usable audio.
        asr.decoding.search.DecodingStopped: ``stop()`` returned true.
    """
    options = _options(model, options, overrides)
    if not isinstance(audio, (str, bytes, bytearray, os.PathLike)):
        audio = load_audio(audio)  # arrays and tensors: downmix and validate as before
    (_, result), = transcribe_many(model, [audio], options, batch_size, itn=itn,
                                   max_segment_seconds=max_segment_seconds, stop=stop)
    if isinstance(result, AudioError):
        raise result
    for message in result.warnings:
        warnings.warn(message, AudioWarning, stacklevel=2)
    return result
