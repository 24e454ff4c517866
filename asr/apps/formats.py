"""Output formats for transcriptions: txt, json, jsonl, srt and vtt.

Every writer takes a :class:`asr.decoding.transcribe.Transcription` and returns text:
its written form (:mod:`asr.decoding.written`), and in json and jsonl the speller's own
``raw_text`` too.  Times are seconds from the start of the input, rounded to
milliseconds.  txt has one line per segment (segments are cut at pauses), or
with ``timestamps`` Whisper's ``[00:00.000 --> 00:04.020] text`` per segment.
Subtitle cues are cut from the attention timings of the written tokens: a new
cue starts at a segment boundary, after a sentence's end, after a pause, or
when the cue would grow past ``MAX_CUE_SECONDS`` or ``MAX_CUE_CHARACTERS``;
a cue cut for length ends at its last comma instead when that is in its second half.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

FORMATS = ("txt", "json", "jsonl", "srt", "vtt")
MAX_CUE_SECONDS = 5.0  # a cue longer than this is hard to read along with
MAX_CUE_CHARACTERS = 42  # one subtitle line, the usual broadcast limit
CUE_PAUSE_SECONDS = 0.8  # a silence this long between words ends the cue
MIN_CUE_SECONDS = 0.5  # short cues are stretched into the following silence, where there is room
SENTENCE_END_MARKS = ".?!"  # a written token ending in one of these ends a sentence, and its cue
CLAUSE_END_MARKS = ",;:"  # where a cue too long to go on may end instead of at its last word


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float  # seconds
    text: str


def _ms(seconds: float) -> float:
    return round(float(seconds), 3)


def to_dict(transcription, name: str | None = None) -> dict:
    """The JSON document: written and raw text, written words, segments with character times, the n-best.

    ``characters`` follow each segment's ``raw_text``, the speller's output that attention timed;
    the n-best lists are the speller's alternatives.
    """
    segments = []
    for i, (segment, offset, text) in enumerate(zip(transcription.segments, transcription.offsets,
                                                     transcription.segment_texts)):
        segments.append({
            "id": i,
            "start": _ms(offset),
            "end": _ms(offset + segment.duration),
            "text": text,
            "raw_text": segment.text,
            "confidence": _ms(segment.confidence),
            "score": _ms(segment.score),  # log-probability, length-normalised for beam search
            "warp": segment.warp,  # vocal-tract warp factor it was decoded with (1.0 unless --vtln)
            # characters[i] is raw_text[i], with its attention time and probability
            "characters": [{"char": c, "start": _ms(s), "end": _ms(e), "confidence": _ms(math.exp(lp))}
                           for c, s, e, lp in zip(segment.text, segment.char_starts, segment.char_ends,
                                                  segment.token_log_probs)],
            "nbest": [{"text": text, "score": _ms(score)} for text, score in segment.nbest],
        })
    document = {"source": name} if name is not None else {}
    document.update({
        "text": transcription.text,
        "raw_text": transcription.raw_text,
        "duration": _ms(transcription.duration),
        "confidence": _ms(transcription.confidence),
        "words": _words(transcription),
        "segments": segments,
        "nbest": [{"text": text, "score": _ms(score)} for text, score in transcription.nbest],
    })
    return document


def _words(transcription) -> list[dict]:
    return [{"word": w.word, "start": _ms(w.start), "end": _ms(w.end), "confidence": _ms(w.confidence)}
            for w in transcription.words]


def to_txt(transcription, timestamps: bool = False) -> str:
    """One line per segment with speech; with ``timestamps``, each starts ``[MM:SS.mmm --> MM:SS.mmm]``."""
    lines = [(offset, offset + segment.duration, text) for segment, offset, text
             in zip(transcription.segments, transcription.offsets, transcription.segment_texts) if text]
    if timestamps:
        return "".join(f"{timestamped_line(start, end, text)}\n" for start, end, text in lines)
    return "".join(f"{text}\n" for _, _, text in lines) or "\n"


def timestamped_line(start: float, end: float, text: str) -> str:
    """Whisper's verbose line: ``[00:00.000 --> 00:04.020] text``, hours shown only past the first."""
    return f"[{_clock(start)} --> {_clock(end)}] {text}"


def _clock(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return (f"{hours:02d}:" if hours else "") + f"{minutes:02d}:{secs:02d}.{millis:03d}"


def to_json(transcription, name: str | None = None) -> str:
    return json.dumps(to_dict(transcription, name)) + "\n"  # compact: an hour of character times is large


def to_jsonl_row(transcription, name: str, reference: str | None = None) -> str:
    """One manifest line (``audio_filepath``, ``duration``, ``text``...), so the output is itself a manifest."""
    row = {"audio_filepath": name, "duration": _ms(transcription.duration), "text": transcription.text,
           "raw_text": transcription.raw_text, "confidence": _ms(transcription.confidence),
           "words": _words(transcription)}
    if reference is not None:
        row["reference"] = reference
    return json.dumps(row) + "\n"


def subtitle_cues(transcription) -> list[Cue]:
    """Group the written tokens' attention timings into ordered, non-overlapping cues inside the audio."""
    groups: list[list] = []
    for words in transcription.segment_words:
        current: list = []
        for word in words:
            if current and current[-1].word.endswith(tuple(SENTENCE_END_MARKS)):
                groups.append(current)
                current = []
            while current and _breaks(current, word):
                cut = _clause_end(current)
                groups.append(current[:cut])
                current = current[cut:]
            current.append(word)
        if current:
            groups.append(current)  # a segment boundary always ends a cue
    cues: list[Cue] = []
    duration = transcription.duration
    for i, words in enumerate(groups):
        start = max(words[0].start, cues[-1].end if cues else 0.0)
        next_start = groups[i + 1][0].start if i + 1 < len(groups) else duration
        end = min(max(words[-1].end, start + MIN_CUE_SECONDS), max(next_start, words[-1].end), duration)
        if end <= start:  # a word squeezed against the previous cue or the end: give it a millisecond
            start = max(cues[-1].end if cues else 0.0, end - 0.001)
        cues.append(Cue(start, end, " ".join(w.word for w in words)))
    return cues


def _clause_end(current: list) -> int:
    """Where a cue that must end goes: after its last clause mark in its second half, else after all of it."""
    for i in range(len(current) - 1, len(current) // 2 - 1, -1):
        if i + 1 < len(current) and current[i].word.endswith(tuple(CLAUSE_END_MARKS)):
            return i + 1
    return len(current)


def _breaks(current: list, word) -> bool:
    length = sum(len(w.word) + 1 for w in current) + len(word.word)
    return (word.start - current[-1].end >= CUE_PAUSE_SECONDS or word.end - current[0].start > MAX_CUE_SECONDS
            or length > MAX_CUE_CHARACTERS)


def _timestamp(seconds: float, separator: str) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(transcription) -> str:
    return "".join(f"{i}\n{_timestamp(c.start, ',')} --> {_timestamp(c.end, ',')}\n{c.text}\n\n"
                   for i, c in enumerate(subtitle_cues(transcription), 1))


def to_vtt(transcription) -> str:
    return "WEBVTT\n\n" + "".join(f"{_timestamp(c.start, '.')} --> {_timestamp(c.end, '.')}\n{c.text}\n\n"
                                  for c in subtitle_cues(transcription))


def render(transcription, format: str, name: str, reference: str | None = None, timestamps: bool = False) -> str:
    """The text of ``transcription`` in one of :data:`FORMATS` (``timestamps``: txt lines start with their times)."""
    if format == "txt":
        return to_txt(transcription, timestamps)
    if format == "json":
        return to_json(transcription, name)
    if format == "jsonl":
        return to_jsonl_row(transcription, name, reference)
    if format == "srt":
        return to_srt(transcription)
    if format == "vtt":
        return to_vtt(transcription)
    raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
