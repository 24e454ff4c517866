"""Cutting audio at pauses, and reading it in blocks with the same result as reading it whole."""

import numpy as np
import pytest
import soundfile as sf

import asr.audio_blocks
from asr.audio import SAMPLE_RATE, AudioError, load_audio
from asr.audio_blocks import open_audio
from asr.segment import FRAME_SECONDS, frame_energy_db, segments_from_energy, split_on_pauses, stream_energy_db
from asr.transcribe import plan_from_energy, plan_segments


def _bursts(spans: list[tuple[float, float]], total: float, seed: int = 0) -> np.ndarray:
    """Faint noise, with speech-like noise over the (start, end) spans in seconds.

    The "speech" is loud noise modulated at a syllable rate of 4 Hz, dipping 20 dB
    between syllables for well under a pause's length, as real speech does.
    """
    rng = np.random.default_rng(seed)
    samples = rng.normal(0, 1e-4, int(total * SAMPLE_RATE)).astype(np.float32)
    for start, end in spans:
        lo, hi = int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)
        syllables = 0.55 + 0.45 * np.cos(2 * np.pi * 4.0 * np.arange(hi - lo) / SAMPLE_RATE)
        samples[lo:hi] = rng.normal(0, 0.1, hi - lo) * syllables
    return samples


SPEECH = [(0.5, 2.0), (3.0, 6.5), (7.0, 7.6), (9.0, 11.0)]


def test_silence_gives_no_segments():
    assert split_on_pauses(np.zeros(5 * SAMPLE_RATE, dtype=np.float32)) == []
    assert plan_segments(np.zeros(5 * SAMPLE_RATE, dtype=np.float32)) == []


def test_segments_cover_the_speech_in_order_without_overlap():
    samples = _bursts(SPEECH, 12.0)
    segments = split_on_pauses(samples, max_seconds=4.0)
    assert all(s < e for s, e in segments)
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(segments, segments[1:]))
    for start, end in SPEECH:  # every burst lies inside one segment
        assert any(s <= start * SAMPLE_RATE and end * SAMPLE_RATE <= e for s, e in segments), (start, end)
    assert len(segments) == len(SPEECH)


def test_speech_without_pauses_is_cut_to_at_most_max_seconds():
    samples = _bursts([(0.2, 29.8)], 30.0)
    segments = split_on_pauses(samples, max_seconds=8.0)
    assert len(segments) >= 4
    pad = 2 * 0.15 * SAMPLE_RATE  # segments keep a margin either side
    assert all(e - s <= 8.0 * SAMPLE_RATE + pad for s, e in segments)
    assert segments[0][0] <= 0.2 * SAMPLE_RATE and segments[-1][1] >= 29.8 * SAMPLE_RATE


def test_short_audio_is_decoded_whole_and_long_audio_in_pieces():
    short = _bursts(SPEECH, 12.0)
    assert plan_segments(short) == [(0, short.size)]
    long = np.concatenate([short] * 3)
    assert len(plan_segments(long)) == 3 * len(SPEECH)


@pytest.mark.parametrize("block", [480, 1000, 7, 16_000 * 5])
def test_streamed_levels_equal_whole_levels(block):
    samples = _bursts(SPEECH, 12.0)
    blocks = (samples[i:i + block] for i in range(0, samples.size, block))
    levels, total = stream_energy_db(blocks)
    assert total == samples.size
    np.testing.assert_allclose(levels, frame_energy_db(samples, int(FRAME_SECONDS * SAMPLE_RATE)))
    assert segments_from_energy(levels, total, max_seconds=4.0) == split_on_pauses(samples, max_seconds=4.0)
    assert plan_from_energy(levels, total) == plan_segments(samples)


def test_slices_of_a_file_read_in_small_blocks_are_the_exact_ranges(tmp_path, monkeypatch):
    samples = _bursts(SPEECH, 12.0)
    path = tmp_path / "speech.wav"
    sf.write(path, samples, SAMPLE_RATE, subtype="FLOAT")
    monkeypatch.setattr(asr.audio_blocks, "BLOCK_SECONDS", 0.37)  # ranges straddle many blocks
    ranges = split_on_pauses(samples, max_seconds=4.0)
    pieces = list(open_audio(path).slices(ranges))
    assert len(pieces) == len(ranges)
    for piece, (start, end) in zip(pieces, ranges):
        np.testing.assert_array_equal(piece, samples[start:end])


def test_blocks_downmix_and_resample_like_load_audio(tmp_path):
    rng = np.random.default_rng(1)
    stereo = rng.normal(0, 0.1, (3 * 44_100, 2)).astype(np.float32)
    path = tmp_path / "stereo.flac"
    sf.write(path, stereo, 44_100)
    whole = load_audio(path)
    streamed = np.concatenate(list(open_audio(path)))
    assert abs(streamed.size - whole.size) <= 2
    n = min(streamed.size, whole.size)
    assert np.corrcoef(streamed[:n], whole[:n])[0, 1] > 0.99


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"", "file is empty"),
    (b"this is not audio at all\n" * 10, "not a readable audio file"),
])
def test_bad_files_raise_one_line_audio_errors(tmp_path, content, message):
    path = tmp_path / "input.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioError, match=message) as caught:
        audio = open_audio(path)
        list(audio)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_empty_stdin_is_an_audio_error():
    with pytest.raises(AudioError, match="empty input"):
        open_audio(b"")
