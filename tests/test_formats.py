"""Output formats: every format parses with a real parser and keeps its timing promises."""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from asr.decoding.alignment import word_timings
from asr.decoding.search import DecodeResult
from asr.decoding.alignment import WordTiming
from asr.apps.formats import MAX_CUE_CHARACTERS, MAX_CUE_SECONDS, render, subtitle_cues, timestamped_line, to_dict
from asr.files import AtomicWriter, write_atomic
from asr.training.manifest import read_manifest
from asr.decoding.transcribe import Transcription

CUE_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d)[,.](\d\d\d) --> (\d\d):(\d\d):(\d\d)[,.](\d\d\d)$")


def _segment(words: list[tuple[str, float, float]], offset: float, duration: float) -> DecodeResult:
    """A decoded segment whose characters are spread evenly over the given (word, start, end) times (global)."""
    text = " ".join(w for w, _, _ in words)
    starts, ends = [], []
    for i, (word, start, end) in enumerate(words):
        edges = np.linspace(start, end, len(word) + 1)
        starts += list(edges[:-1])
        ends += list(edges[1:])
        if i + 1 < len(words):  # the space runs to the next word
            starts.append(end)
            ends.append(words[i + 1][1])
    starts, ends = np.array(starts), np.array(ends)
    log_probs = np.full(len(text), np.log(0.9))
    return DecodeResult(text=text, tokens=list(range(len(text))), token_log_probs=log_probs,
                        attention=np.zeros((len(text), 0)), char_starts=starts, char_ends=ends,
                        words=word_timings(text, starts, ends, log_probs), score=-1.5,
                        nbest=[(text, -1.5), (text + "s", -2.5)], duration=duration)


def _transcription(segments: list[tuple[float, float, list]], duration: float) -> Transcription:
    """segments: (offset, length, [(word, start, end), ...]) with global times."""
    decoded = [_segment(words, offset, length) for offset, length, words in segments]
    return Transcription(text=" ".join(s.text for s in decoded), segments=decoded,
                         offsets=[offset for offset, _, _ in segments], duration=duration)


TWO_SEGMENTS = _transcription([
    (0.0, 6.0, [("the", 0.3, 0.5), ("quick", 0.55, 0.9), ("brown", 1.0, 1.4), ("fox", 1.5, 1.8),
                ("jumps", 3.2, 3.6), ("over", 3.7, 4.0), ("the", 4.05, 4.2), ("lazy", 4.3, 4.7),
                ("dog", 4.8, 5.9)]),
    (6.0, 3.0, [("hello", 6.2, 6.6), ("world", 6.7, 8.99)]),
], duration=9.0)


def _written(transcription: Transcription, text: str) -> Transcription:
    """``transcription`` with ``text`` as its written form, one written token per spoken word."""
    tokens = iter(text.split())
    written = [[WordTiming(next(tokens), w.start, w.end, w.confidence) for w in s.words]
               for s in transcription.segments]
    return Transcription(text=text, segments=transcription.segments, offsets=transcription.offsets,
                         duration=transcription.duration, raw_text=transcription.raw_text, written=written)


SENTENCES = _written(_transcription([(0.0, 5.2, [(w, 0.35 * i, 0.35 * i + 0.3) for i, w in enumerate(
    "it was cold we went home and made tea then we slept until noon".split())])], duration=5.2),
    "It was cold. We went home and made tea, then we slept until noon.")


def _parse_cues(text: str, separator: str) -> list[tuple[float, float, str]]:
    """A strict SRT/VTT reader: every cue is a timing line followed by one text line."""
    cues = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = CUE_LINE.match(line)
        if match:
            assert separator in line, line
            h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, match.groups())
            cues.append((h1 * 3600 + m1 * 60 + s1 + ms1 / 1000, h2 * 3600 + m2 * 60 + s2 + ms2 / 1000, lines[i + 1]))
    return cues


def _ffprobe_cues(path) -> list[tuple[float, float]]:
    """Cue (start, end) as ffmpeg's subtitle demuxer reads the file."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_packets", str(path)],
                           capture_output=True, text=True, check=True)
    packets = json.loads(probe.stdout)["packets"]
    return [(float(p["pts_time"]), float(p["pts_time"]) + float(p["duration_time"])) for p in packets]


def _assert_well_formed(cues, duration):
    assert cues
    for start, end, *_ in cues:
        assert 0 <= start < end <= duration + 1e-3
    for (_, end, *_), (start, *_) in zip(cues, cues[1:]):
        assert end <= start + 1e-3  # ordered, non-overlapping


def test_json_carries_text_words_characters_and_nbest():
    document = json.loads(render(TWO_SEGMENTS, "json", "talk.wav"))
    assert document["source"] == "talk.wav"
    assert document["text"] == "the quick brown fox jumps over the lazy dog hello world"
    assert [w["word"] for w in document["words"]] == document["text"].split()
    assert all(0 <= w["start"] <= w["end"] <= 9.0 and 0 <= w["confidence"] <= 1 for w in document["words"])
    for segment in document["segments"]:
        assert "".join(c["char"] for c in segment["characters"]) == segment["text"]
        assert segment["nbest"][0]["text"] == segment["text"]
    assert document["segments"][1]["start"] == 6.0
    assert document["nbest"][0]["text"] == document["text"]


def test_json_keeps_the_written_and_the_raw_text():
    document = json.loads(render(SENTENCES, "json", "talk.wav"))
    assert document["text"] == SENTENCES.text and document["raw_text"] == SENTENCES.raw_text
    assert [w["word"] for w in document["words"]] == SENTENCES.text.split()
    (segment,) = document["segments"]
    assert segment["text"] == SENTENCES.text and segment["raw_text"] == SENTENCES.raw_text
    assert "".join(c["char"] for c in segment["characters"]) == segment["raw_text"]  # what attention timed
    row = json.loads(render(SENTENCES, "jsonl", "talk.wav"))
    assert row["text"] == SENTENCES.text and row["raw_text"] == SENTENCES.raw_text


def test_txt_is_one_line_per_segment():
    assert render(TWO_SEGMENTS, "txt", "x") == "the quick brown fox jumps over the lazy dog\nhello world\n"
    assert render(SENTENCES, "txt", "x") == SENTENCES.text + "\n"


def test_timestamps_are_whisper_lines_per_segment():
    assert render(TWO_SEGMENTS, "txt", "x", timestamps=True) == (
        "[00:00.000 --> 00:06.000] the quick brown fox jumps over the lazy dog\n"
        "[00:06.000 --> 00:09.000] hello world\n")
    assert timestamped_line(3725.5, 3730.0204, "later") == "[01:02:05.500 --> 01:02:10.020] later"
    assert render(Transcription(text="", duration=3.0), "txt", "x", timestamps=True) == ""


def test_cues_end_at_sentence_ends_and_a_long_one_at_its_comma():
    texts = [c.text for c in subtitle_cues(SENTENCES)]
    assert texts == ["It was cold.", "We went home and made tea,", "then we slept until noon."]
    _assert_well_formed([(c.start, c.end) for c in subtitle_cues(SENTENCES)], SENTENCES.duration)
    unpunctuated = [c.text for c in subtitle_cues(_transcription([(0.0, 5.2, [(w.word, w.start, w.end)
                                                                               for w in SENTENCES.raw_words])], 5.2))]
    assert unpunctuated[0] == "it was cold we went home and made tea then"  # no sentence end to go by


@pytest.mark.parametrize("format, separator", [("srt", ","), ("vtt", ".")])
def test_subtitles_are_ordered_non_overlapping_and_inside_the_audio(format, separator, tmp_path):
    text = render(TWO_SEGMENTS, format, "talk.wav")
    if format == "vtt":
        assert text.startswith("WEBVTT\n\n")
    cues = _parse_cues(text, separator)
    _assert_well_formed(cues, TWO_SEGMENTS.duration)
    assert " ".join(c[2] for c in cues) == TWO_SEGMENTS.text  # every word once, in order
    if shutil.which("ffprobe"):
        path = tmp_path / f"talk.{format}"
        path.write_text(text)
        probed = _ffprobe_cues(path)
        assert len(probed) == len(cues)
        _assert_well_formed(probed, TWO_SEGMENTS.duration)


def test_cues_break_at_pauses_segments_and_length_limits():
    cues = subtitle_cues(TWO_SEGMENTS)
    texts = [c.text for c in cues]
    assert "the quick brown fox" in texts  # the 1.4 s pause after "fox" ends a cue
    assert texts[-1] == "hello world"  # a new segment starts a new cue
    assert all(c.end - c.start <= MAX_CUE_SECONDS + 1e-9 for c in cues)
    assert all(len(c.text) <= MAX_CUE_CHARACTERS for c in cues)
    words = [(f"word{i}", 0.3 * i, 0.3 * i + 0.25) for i in range(60)]  # 18 s of speech without a pause
    long = subtitle_cues(_transcription([(0.0, 18.5, words)], duration=18.5))
    assert len(long) > 3
    assert all(c.end - c.start <= MAX_CUE_SECONDS and len(c.text) <= MAX_CUE_CHARACTERS for c in long)


def test_cues_stay_valid_when_words_have_no_length_at_the_end_of_the_audio():
    squeezed = _transcription([(0.0, 2.0, [("a", 1.0, 1.0), ("b", 2.0, 2.0)])], duration=2.0)
    _assert_well_formed([(c.start, c.end) for c in subtitle_cues(squeezed)], 2.0)


def test_empty_transcription_gives_empty_outputs():
    empty = Transcription(text="", duration=3.0)
    assert render(empty, "txt", "x") == "\n"
    assert render(empty, "srt", "x") == ""
    assert render(empty, "vtt", "x") == "WEBVTT\n\n"
    assert json.loads(render(empty, "json", "x"))["words"] == []


def test_jsonl_line_is_a_manifest_row(tmp_path):
    manifest = tmp_path / "hyp.jsonl"
    manifest.write_text(render(TWO_SEGMENTS, "jsonl", str(tmp_path / "talk.wav"), reference="the reference"))
    (row,) = read_manifest(manifest)
    assert row["text"] == TWO_SEGMENTS.text and row["reference"] == "the reference"
    assert row["duration"] == 9.0 and len(row["words"]) == 11


def test_to_dict_rounds_times_to_milliseconds():
    word = to_dict(TWO_SEGMENTS)["words"][1]
    assert word["start"] == round(word["start"], 3)


def test_atomic_writer_replaces_only_on_success(tmp_path):
    path = tmp_path / "out" / "talk.txt"
    write_atomic(path, "first\n")
    assert path.read_text() == "first\n"
    assert oct(os.stat(path).st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode
    with pytest.raises(RuntimeError):
        with AtomicWriter(path) as writer:
            writer.write("half a transcr")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "first\n"
    assert os.listdir(path.parent) == ["talk.txt"]  # no temporary file left behind


def test_atomic_path_gives_each_writer_its_own_temp_file_and_cleans_up(tmp_path):
    from asr.audio.io import load_audio, write_wav
    from asr.files import atomic_path

    path = tmp_path / "clip.wav"
    with atomic_path(path) as first, atomic_path(path) as second:  # e.g. two listen sessions saving at once
        assert first != second and first.parent == second.parent == tmp_path
        assert not path.exists()
        first.write_bytes(b"one")
        second.write_bytes(b"two")
    assert path.read_bytes() == b"one"  # the last to finish (the outer one) wins, whole
    write_wav(path, np.zeros(1600, dtype=np.float32))
    with pytest.raises(ValueError):
        write_wav(path, np.zeros((2, 2, 2), dtype=np.float32))  # soundfile refuses 3-d arrays
    assert load_audio(path).size == 1600  # the earlier file is untouched
    assert os.listdir(tmp_path) == ["clip.wav"]
