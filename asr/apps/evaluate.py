"""Scoring a model on a manifest: CER and WER, per-utterance hypotheses, the worst alignments.

    report = evaluate(model, read_manifest("data/synth/test.jsonl"), DecodeOptions(beam_size=5))
    report.cer, report.wer
    write_hypotheses(report, "exp/eval/test/hypotheses.jsonl")
    save_worst_plots(report, "exp/eval/test/worst")

References go through :func:`asr.text.normalize_text` before scoring, as
training targets do, and so do hypotheses: they are scored in the written form
users get (:mod:`asr.decoding.written`: numerals, and capitals and punctuation when the
checkpoint has a punctuator), which normalisation maps back onto spoken words,
so a formatting change can't move the error rates.  CER and WER are corpus
rates: total edit distance over total reference length, so long utterances
weigh more than short ones.
Utterances are decoded in batches of similar duration; any longer than
:data:`asr.decoding.transcribe.MAX_SEGMENT_SECONDS` go through :func:`asr.decoding.transcribe.transcribe`,
which cuts them at pauses as it does for users.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asr.audio.io import SAMPLE_RATE, load_audio
from asr.decoding.search import DecodeOptions, DecodeResult
from asr.files import atomic_path, write_atomic
from asr.training.manifest import write_manifest
from asr.metrics import edit_distance
from asr.text import normalize_text
from asr.decoding.transcribe import MAX_SEGMENT_SECONDS, decode_pieces, transcribe
from asr.decoding.written import write_segments

# Manifest fields copied into each hypothesis row when present, and reported one rate per value.
# text_source is what kind of text was read (the synth recipe's fortune sentences, word strings, phrases).
PASSED_THROUGH_FIELDS = ("voice", "speaker", "text_source")


class EvalError(ValueError):
    """A manifest that can't be scored; the message is one line for the user."""


@dataclass
class UtteranceScore:
    id: str
    reference: str  # normalised
    hypothesis: str  # normalised
    char_errors: int
    word_errors: int
    duration: float  # seconds of audio
    fields: dict = field(default_factory=dict)  # audio_filepath and PASSED_THROUGH_FIELDS from the manifest
    written: str | None = None  # the hypothesis as users read it, when it differs from ``hypothesis``

    @property
    def cer(self) -> float:
        return self.char_errors / max(len(self.reference), 1)

    @property
    def wer(self) -> float:
        return self.word_errors / max(len(self.reference.split()), 1)

    def to_row(self) -> dict:
        row = {"id": self.id, "reference": self.reference, "hypothesis": self.hypothesis,
               "cer": round(self.cer, 6), "wer": round(self.wer, 6), "duration": self.duration}
        if self.written is not None:
            row["written"] = self.written
        return {**row, **self.fields}


@dataclass
class Alignment:
    """What an alignment plot needs: the audio and one attention row per hypothesis character."""

    samples: np.ndarray  # (N,) 16 kHz
    label: str  # one character per attention row ("?" for <unk>)
    attention: np.ndarray  # (U, T) over the whole utterance
    frame_seconds: float


@dataclass
class EvalReport:
    utterances: list[UtteranceScore]  # in manifest order
    worst: list[tuple[UtteranceScore, Alignment]]  # highest CER first
    options: DecodeOptions
    decode_seconds: float  # wall-clock time spent loading and decoding

    @property
    def cer(self) -> float:
        return _rate(self.utterances, "char")

    @property
    def wer(self) -> float:
        return _rate(self.utterances, "word")

    @property
    def audio_seconds(self) -> float:
        return float(sum(u.duration for u in self.utterances))

    def breakdown(self, name: str) -> dict[str, dict]:
        """CER, WER and counts per value of a passed-through field (e.g. per voice)."""
        groups: dict[str, list[UtteranceScore]] = {}
        for u in self.utterances:
            if name in u.fields:
                groups.setdefault(str(u.fields[name]), []).append(u)
        return {key: {"utterances": len(us), "cer": _rate(us, "char"), "wer": _rate(us, "word")}
                for key, us in sorted(groups.items())}

    def summary(self) -> dict:
        us = self.utterances
        summary = {
            "utterances": len(us), "hours": round(self.audio_seconds / 3600, 4),
            "cer": self.cer, "wer": self.wer,
            "char_errors": sum(u.char_errors for u in us), "reference_chars": sum(len(u.reference) for u in us),
            "word_errors": sum(u.word_errors for u in us),
            "reference_words": sum(len(u.reference.split()) for u in us),
            "decode_seconds": round(self.decode_seconds, 2),
            "real_time_factor": round(self.decode_seconds / max(self.audio_seconds, 1e-9), 4),
            # JSON has no infinity: an infinite oov_penalty (lexicon words only) is written as the string "inf".
            "options": {k: "inf" if v == math.inf else v for k, v in asdict(self.options).items()},
        }
        for name in PASSED_THROUGH_FIELDS:
            if any(name in u.fields for u in us):
                summary[f"by_{name}"] = self.breakdown(name)
        return summary


def _rate(utterances: list[UtteranceScore], unit: str) -> float:
    if unit == "char":
        return sum(u.char_errors for u in utterances) / max(sum(len(u.reference) for u in utterances), 1)
    return sum(u.word_errors for u in utterances) / max(sum(len(u.reference.split()) for u in utterances), 1)


def check_audio(rows: list[dict]) -> None:
    """Fail before decoding anything, not an hour in, when audio files are missing."""
    missing = [row["audio_filepath"] for row in rows if not os.path.isfile(row["audio_filepath"])]
    if missing:
        raise EvalError(f"{len(missing)} of {len(rows)} audio files in the manifest are missing, "
                        f"e.g. {missing[0]}")


def score(row: dict, hypothesis: str, index: int, duration: float) -> UtteranceScore:
    """Score one hypothesis, in written or spoken form, against the row's text; both are normalised."""
    reference = normalize_text(str(row["text"]))
    written = " ".join(hypothesis.split())
    hypothesis = normalize_text(hypothesis)
    utt_id = str(row.get("id") or Path(row["audio_filepath"]).stem or index)
    fields = {"audio_filepath": row["audio_filepath"]}
    fields.update({name: row[name] for name in PASSED_THROUGH_FIELDS if name in row})
    return UtteranceScore(utt_id, reference, hypothesis, edit_distance(reference, hypothesis),
                          edit_distance(reference.split(), hypothesis.split()), round(duration, 3), fields,
                          written if written != hypothesis else None)


def evaluate(model, rows: list[dict], options: DecodeOptions = DecodeOptions(), batch_size: int = 16,
             worst: int = 5, progress: bool = False, itn: bool = True) -> EvalReport:
    """Decode every manifest row and score it against its normalised text.

    Args:
        model: a loaded :class:`asr.model.las.LAS`, on the device to decode on.
        rows: manifest rows (``audio_filepath``, ``duration``, ``text``, optional ``id``/``voice``).
        options: decoding options (greedy, beam, joint CTC).
        batch_size: utterances decoded together; rows are grouped by duration to limit padding.
        worst: how many of the highest-CER utterances keep their audio and attention for plotting.
        progress: draw a progress bar on stderr.
        itn: score the hypotheses with numerals written (as users get them), normalised back;
            False scores the speller's words.
    Raises:
        asr.audio.io.AudioError: an audio file is unreadable (the message names it).
    """
    started = time.time()
    punctuator = getattr(model, "punctuator", None)
    order = sorted(range(len(rows)), key=lambda i: _seconds(rows[i]))
    scores: list[UtteranceScore | None] = [None] * len(rows)
    heap: list[tuple] = []  # the `worst` highest (cer, errors) so far; smallest on top
    errors = reference_chars = 0
    was_training = model.training
    model.eval()
    bar = tqdm(total=len(rows), unit="utt", desc="eval", disable=not progress, file=sys.stderr)
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            audio = {i: load_audio(rows[i]["audio_filepath"]) for i in chunk}
            short = [i for i in chunk if audio[i].size <= MAX_SEGMENT_SECONDS * SAMPLE_RATE]
            pieces = {i: [(0.0, r)] for i, r in zip(short, decode_pieces(model, [audio[i] for i in short],
                                                                          options, batch_size))}
            for i in chunk:
                if i not in pieces:  # long: cut at pauses like any user's long recording
                    result = transcribe(model, audio[i], options, batch_size)
                    pieces[i] = list(zip(result.offsets, result.segments))
            for i in chunk:
                written = write_segments([r.words for _, r in pieces[i]], punctuator, itn)
                text = " ".join(w.word for words in written for w in words)
                scores[i] = s = score(rows[i], text, i, audio[i].size / SAMPLE_RATE)
                errors, reference_chars = errors + s.char_errors, reference_chars + len(s.reference)
                key = (s.cer, s.char_errors, -i)
                if worst > 0 and (len(heap) < worst or key > heap[0][:3]):
                    entry = (*key, _alignment(model, audio[i], pieces[i]))
                    (heapq.heappush if len(heap) < worst else heapq.heapreplace)(heap, entry)
            bar.update(len(chunk))
            bar.set_postfix(CER=f"{errors / max(reference_chars, 1):.1%}")
    finally:
        bar.close()
        model.train(was_training)
    ranked = sorted(heap, reverse=True)
    return EvalReport(scores, [(scores[-entry[2]], entry[3]) for entry in ranked], options, time.time() - started)


def _seconds(row: dict) -> float:
    """The manifest's duration, used only to group similar lengths; a bad value just groups badly."""
    try:
        return float(row["duration"])
    except (TypeError, ValueError):
        return 0.0


def _alignment(model, samples: np.ndarray, pieces: list[tuple[float, DecodeResult]]) -> Alignment:
    """One attention matrix over the whole utterance; segments of long audio sit at their offsets."""
    tokens = model.vocabulary.tokens
    frame_seconds = model.frame_seconds
    if len(pieces) == 1 and pieces[0][0] == 0.0:
        result = pieces[0][1]
        label = "".join(tokens[t] if len(tokens[t]) == 1 else "?" for t in result.tokens)
        return Alignment(samples, label, result.attention, frame_seconds)
    total = math.ceil(samples.size / SAMPLE_RATE / frame_seconds) + 1
    rows, label = [], []
    for offset, result in pieces:
        if not result.tokens:
            continue
        if label:  # the space transcribe() puts between segments attends nowhere
            label.append(" ")
            rows.append(np.zeros((1, total), np.float32))
        first = min(int(round(offset / frame_seconds)), total)
        width = min(result.attention.shape[1], total - first)
        block = np.zeros((len(result.tokens), total), np.float32)
        block[:, first:first + width] = result.attention[:, :width]
        rows.append(block)
        label += [tokens[t] if len(tokens[t]) == 1 else "?" for t in result.tokens]
    attention = np.concatenate(rows) if rows else np.zeros((0, total), np.float32)
    return Alignment(samples, "".join(label), attention, frame_seconds)


def write_hypotheses(report: EvalReport, path) -> Path:
    """One JSON line per utterance, in manifest order, written atomically."""
    write_manifest(path, [u.to_row() for u in report.utterances])
    return Path(path)


def write_summary(report: EvalReport, path, **context) -> Path:
    """The totals as JSON (atomically), plus any ``context`` such as the manifest and checkpoint."""
    path = Path(path)
    write_atomic(path, json.dumps({**context, **report.summary()}, indent=2) + "\n")
    return path


def save_worst_plots(report: EvalReport, directory) -> list[Path]:
    """Spectrogram-and-attention PNGs of the worst utterances, ``01_<id>.png`` for the worst.

    Plots left in ``directory`` by an earlier evaluation are removed first, so
    the folder always shows this report's worst.
    """
    import matplotlib.pyplot as plt

    from asr.plotting import alignment_figure

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("[0-9][0-9]*_*.png"):
        old.unlink()
    paths = []
    for rank, (utterance, alignment) in enumerate(report.worst, 1):
        title = (f"{utterance.id}: CER {utterance.cer:.1%}, WER {utterance.wer:.1%}\n"
                 f"ref: {_clip(utterance.reference)}\nhyp: {_clip(utterance.hypothesis)}")
        figure = alignment_figure(alignment.samples, alignment.label, alignment.attention,
                                  alignment.frame_seconds, title=title)
        path = directory / f"{rank:02d}_{re.sub(r'[^A-Za-z0-9._-]+', '_', utterance.id)}.png"
        try:
            with atomic_path(path) as tmp:
                figure.savefig(tmp, format="png", dpi=100)
        finally:
            plt.close(figure)
        paths.append(path)
    return paths


def _clip(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
