"""Finding speech (silero-vad and level), cutting audio at pauses, and reading it in blocks."""

import numpy as np
import pytest
import soundfile as sf

import asr.audio.blocks
import asr.audio.vad
from asr.audio.io import SAMPLE_RATE, AudioError, load_audio
from asr.audio.blocks import open_audio
from asr.audio.segment import (MAX_SEGMENT_SECONDS, PAD_SECONDS, SENTENCE_MIN_SECONDS, SENTENCE_PAUSE_SECONDS, analyse,
                               plan, split_on_pauses)
from asr.audio.vad import SpeechDetector
from conftest import speak


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
    assert split_on_pauses(np.zeros(5 * SAMPLE_RATE, dtype=np.float32)) == []


def test_segments_cover_the_speech_in_order_without_overlap():
    samples = _bursts(SPEECH, 12.0)
    segments = split_on_pauses(samples, max_seconds=4.0)
    assert all(s < e for s, e in segments)
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(segments, segments[1:]))
    for start, end in SPEECH:  # every burst lies inside one segment
        assert any(s <= start * SAMPLE_RATE and end * SAMPLE_RATE <= e for s, e in segments), (start, end)


def test_regions_are_packed_up_to_max_seconds_and_cut_in_the_longest_pause():
    # Pauses of 1.0, 0.5, 1.4 and 0.5 s. The first 6.5 s window ends at 7.0 s; of the pauses in its
    # second half (4.5-5.0 and 6.5-7.9 s) the cut takes the longer, and what follows fits whole.
    spans = [(0.5, 2.0), (3.0, 4.5), (5.0, 6.5), (7.9, 9.5), (10.0, 12.0)]
    samples = _bursts(spans, 13.0)
    segments = [(s / SAMPLE_RATE, e / SAMPLE_RATE) for s, e in split_on_pauses(samples, max_seconds=6.5)]
    assert len(segments) == 2
    assert 6.5 <= segments[0][1] <= segments[1][0] <= 7.9
    assert segments[0][0] <= 0.5 and segments[1][1] >= 12.0
    assert all(e - s <= 6.5 + 2 * PAD_SECONDS for s, e in segments)


def test_long_audio_is_cut_at_every_sentence_pause_once_a_segment_holds_a_sentence():
    # Sentences of 3.5 s between pauses of 0.8 s: each is its own segment, though two would fit in
    # 10 s. A 1-s phrase is kept with what follows it, across the same pause: decoded alone it would
    # lose the context of its neighbours. Pauses of 0.4 s never cut (speech within a sentence).
    spans = [(0.5, 4.0), (4.8, 8.3), (9.1, 12.6), (13.4, 14.4), (15.2, 17.0), (17.4, 19.0)]
    samples = _bursts(spans, 20.0)
    segments = [(s / SAMPLE_RATE, e / SAMPLE_RATE) for s, e in split_on_pauses(samples)]
    assert SENTENCE_PAUSE_SECONDS <= 0.8 and SENTENCE_MIN_SECONDS <= 3.5
    assert len(segments) == 4, segments
    for (start, end), segment in zip([(0.5, 4.0), (4.8, 8.3), (9.1, 12.6), (13.4, 19.0)], segments):
        assert segment[0] <= start and end <= segment[1], segments


def test_speech_without_pauses_is_cut_to_at_most_max_seconds():
    samples = _bursts([(0.2, 29.8)], 30.0)
    segments = split_on_pauses(samples, max_seconds=8.0)
    assert len(segments) >= 4
    pad = 2 * PAD_SECONDS * SAMPLE_RATE  # segments keep a margin either side
    assert all(e - s <= 8.0 * SAMPLE_RATE + pad for s, e in segments)
    assert segments[0][0] <= 0.2 * SAMPLE_RATE and segments[-1][1] >= 29.8 * SAMPLE_RATE


def test_no_segment_outgrows_whispers_30_second_window_whatever_is_asked():
    samples = _bursts([(0.1, 44.9)], 45.0)  # speech without a pause
    for asked in (30.0, 60.0):
        segments = split_on_pauses(samples, max_seconds=asked)
        assert all(e - s < 30.0 * SAMPLE_RATE for s, e in segments)
        assert segments[0][0] == 0 and segments[-1][1] == samples.size


@pytest.mark.parametrize("seconds", [0.15, 0.3, 0.6])
def test_a_clip_of_one_short_word_is_decoded_not_skipped_as_silence(seconds):
    """A clip that is speech from end to end ("oh", 0.15 s) has no quiet frames to measure a noise
    floor by, and silero-vad may not be sure of so little speech: it is still decoded."""
    word = _bursts([(0.0, seconds)], seconds) * 0.5  # about -25 dBFS, like a recorded word
    assert split_on_pauses(word) == [(0, word.size)]
    assert split_on_pauses(np.zeros(word.size, np.float32)) == []  # and digital silence still is not
    faint = np.random.default_rng(0).normal(0, 3e-4, word.size).astype(np.float32)  # -70 dBFS of hiss
    assert split_on_pauses(faint) == []


def test_short_audio_is_decoded_whole_and_long_audio_in_pieces():
    short = _bursts(SPEECH[:3], 8.0)  # three bursts, under MAX_SEGMENT_SECONDS
    assert split_on_pauses(short) == [(0, short.size)]
    long = np.concatenate([_bursts(SPEECH, 12.0)] * 3)
    pieces = split_on_pauses(long)
    assert len(pieces) >= 36.0 / MAX_SEGMENT_SECONDS
    assert all(e - s <= (MAX_SEGMENT_SECONDS + 2 * PAD_SECONDS) * SAMPLE_RATE for s, e in pieces)


@pytest.mark.parametrize("block", [480, 1000, 7, 16_000 * 5])
def test_analysis_in_blocks_equals_analysis_whole(block):
    samples = _bursts(SPEECH, 12.0)
    blocks = (samples[i:i + block] for i in range(0, samples.size, block))
    streamed, whole = analyse(blocks), analyse([samples])
    assert streamed.num_samples == samples.size
    np.testing.assert_allclose(streamed.levels, whole.levels)
    np.testing.assert_allclose(streamed.probs, whole.probs, atol=1e-6)
    assert plan(streamed, 4.0) == plan(whole, 4.0)


class _CountingModel:
    """silero-vad's model, counting the frames it is run on."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def __call__(self, *args):
        self.calls += 1
        return self.model(*args)

    def reset_states(self):
        self.model.reset_states()


def test_an_hour_of_silence_is_skipped_without_running_the_detector():
    detector = SpeechDetector()
    detector._model = counting = _CountingModel(detector._model)
    hour = np.random.default_rng(0).normal(0, 1e-4, 3600 * SAMPLE_RATE).astype(np.float32)  # -80 dBFS hiss
    blocks = (hour[i:i + 10 * SAMPLE_RATE] for i in range(0, hour.size, 10 * SAMPLE_RATE))
    analysis = analyse(blocks, detector)
    assert analysis.num_samples == hour.size and plan(analysis) == []
    assert counting.calls < 100  # of 112,500 frames


def test_detectors_share_the_model_but_not_the_stream():
    samples = _bursts(SPEECH, 12.0)
    frames = samples[: samples.size // 512 * 512]
    alone = SpeechDetector().probabilities(frames)
    first, second = SpeechDetector(), SpeechDetector()
    assert first._model.session is second._model.session
    half = frames.size // 1024 * 512
    interleaved = [first.probabilities(frames[:half]), second.probabilities(frames[::-1].copy()),
                   first.probabilities(frames[half:])]
    np.testing.assert_allclose(np.concatenate([interleaved[0], interleaved[2]]), alone, atol=1e-6)


def test_without_the_detector_speech_is_found_by_level_and_said_once(monkeypatch, capsys):
    monkeypatch.setattr(asr.audio.vad, "_warned", False)
    monkeypatch.setattr(asr.audio.vad, "_shared", None)
    monkeypatch.setattr(asr.audio.vad, "_silero_model", lambda: (_ for _ in ()).throw(ImportError("no silero_vad")))
    samples = _bursts(SPEECH, 12.0)
    assert analyse([samples]).probs is None
    assert split_on_pauses(samples, max_seconds=4.0)
    split_on_pauses(samples, max_seconds=4.0)
    assert capsys.readouterr().err.count("silero-vad could not be loaded") == 1


@pytest.fixture(scope="module")
def soft_recording(tmp_path_factory):
    """Sentences spoken by espeak-ng over steady room noise, every other one 20 dB softer, one whispered.

    Returns (samples, [(start, end, text, soft)]) with the speech spans in seconds.
    """
    folder = tmp_path_factory.mktemp("soft")
    texts = ["the weather is nice today", "please call my mother tomorrow", "turn off the radio",
             "what time is it now", "open the front door please", "i would like a cup of coffee",
             "she sells sea shells by the shore", "the train leaves at noon", "good morning to you",
             "the children are playing in the garden", "we need more milk and bread",
             "my phone is on the kitchen table"]
    rng = np.random.default_rng(0)
    parts, spans, t = [], [], 0.0
    for i, text in enumerate(texts):
        voice = "en-us+whisper" if i == 4 else "en-us"
        speech = speak(text, folder / f"{i}.wav", voice=voice)
        voiced = np.flatnonzero(np.abs(speech) > 1e-3)
        speech = speech[voiced[0]:voiced[-1] + 1] * (0.05 if i % 2 else 0.5)  # -20 dB: odd sentences
        pause = rng.uniform(0.5, 1.5)
        parts += [np.zeros(int(pause * SAMPLE_RATE), np.float32), speech]
        spans.append((t + pause, t + pause + speech.size / SAMPLE_RATE, text, bool(i % 2)))
        t += pause + speech.size / SAMPLE_RATE
    samples = np.concatenate(parts + [np.zeros(SAMPLE_RATE // 2, np.float32)])
    samples += rng.normal(0, 3e-3, samples.size).astype(np.float32)  # noise 15 dB under the soft passages
    return samples, spans


def test_soft_and_whispered_passages_lie_inside_segments(soft_recording):
    samples, spans = soft_recording
    assert samples.size > MAX_SEGMENT_SECONDS * SAMPLE_RATE  # long enough to be cut
    segments = [(s / SAMPLE_RATE, e / SAMPLE_RATE) for s, e in split_on_pauses(samples)]
    assert len(segments) >= 2
    for start, end, text, _ in spans:  # every sentence whole inside one segment: kept, and never cut
        assert any(s <= start and end <= e for s, e in segments), text


@pytest.mark.slow
def test_the_words_of_soft_passages_are_transcribed(soft_recording, tmp_path):
    """Every sentence, soft or loud, has words in the transcript, and segments start and end in pauses."""
    import asr

    samples, spans = soft_recording
    path = tmp_path / "soft.wav"
    sf.write(path, samples, SAMPLE_RATE)
    result = asr.load_model().transcribe(path)
    assert len(result.segments) >= 2
    words = result.raw_words if hasattr(result, "raw_words") else result.words
    for start, end, text, soft in spans:
        heard = {w.word for w in words if start - 0.3 <= (w.start + w.end) / 2 <= end + 0.3}
        assert len(heard & set(text.split())) >= len(text.split()) // 2, (text, soft, sorted(heard))
    for offset, segment in zip(result.offsets, result.segments):  # every segment starts and ends in a pause
        for edge in (offset, offset + segment.duration):
            assert not any(start < edge < end for start, end, _, _ in spans), edge
    for segment in result.segments:  # and no word is timed across a segment's edge
        assert all(segment.char_starts[0] <= w.start <= w.end <= segment.char_ends[-1] for w in segment.words)
        assert segment.words[-1].end <= result.duration


def test_slices_of_a_file_read_in_small_blocks_are_the_exact_ranges(tmp_path, monkeypatch):
    samples = _bursts(SPEECH, 12.0)
    path = tmp_path / "speech.wav"
    sf.write(path, samples, SAMPLE_RATE, subtype="FLOAT")
    monkeypatch.setattr(asr.audio.blocks, "BLOCK_SECONDS", 0.37)  # ranges straddle many blocks
    ranges = split_on_pauses(samples, max_seconds=4.0)
    pieces = list(open_audio(path).slices(ranges))
    assert len(pieces) == len(ranges)
    for piece, (start, end) in zip(pieces, ranges):
        np.testing.assert_array_equal(piece, samples[start:end])


def test_slices_may_overlap_their_neighbours(tmp_path, monkeypatch):
    samples = _bursts(SPEECH, 12.0)
    path = tmp_path / "speech.wav"
    sf.write(path, samples, SAMPLE_RATE, subtype="FLOAT")
    monkeypatch.setattr(asr.audio.blocks, "BLOCK_SECONDS", 0.37)
    ranges = [(0, 40_000), (24_000, 90_000), (70_000, 100_000), (99_000, samples.size)]  # each with its neighbour's edge
    pieces = list(open_audio(path).slices(ranges))
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
