"""Reading audio: every common format, rate and channel count becomes 16 kHz mono; bad input is one clear line."""

import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio.io import (AudioError, DECODE_PEAK_DBFS, MAX_DECODE_GAIN_DB, MAX_PASSAGE_BOOST_DB, SAMPLE_RATE, level_passages,
                       level_for_decoding, load_audio, normalize_level)
from asr.model.features import FeatureConfig, FrontEnd, SpecAugment


def _tone(rate: int, seconds: float = 1.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([mono, 0.5 * mono], axis=1) if channels == 2 else mono


@pytest.mark.parametrize("suffix, rate, channels", [
    ("wav", 8000, 1), ("wav", 44100, 2), ("flac", 22050, 2), ("ogg", 48000, 1), ("mp3", 44100, 2)])
def test_formats_rates_and_channels(tmp_path, suffix, rate, channels):
    path = tmp_path / f"tone.{suffix}"
    if suffix == "mp3":  # libsndfile may lack an mp3 encoder: make it with ffmpeg
        wav = tmp_path / "tone.wav"
        sf.write(wav, _tone(rate, channels=channels), rate)
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), str(path)], check=True)
    else:
        sf.write(path, _tone(rate, channels=channels), rate)
    samples = load_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(samples.size / SAMPLE_RATE - 1.0) < 0.1  # mp3 adds a little padding
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / samples.size - 440) < 5  # still a 440 Hz tone


def test_arrays_are_downmixed_and_resampled():
    stereo = _tone(8000, channels=2).astype(np.float32)
    assert load_audio(stereo, sample_rate=8000).shape == (SAMPLE_RATE,)
    assert load_audio(stereo.T.copy(), sample_rate=8000).shape == (SAMPLE_RATE,)  # channels first
    assert load_audio((stereo * 32767).astype(np.int16), sample_rate=8000).max() <= 1.0


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "file is empty"),
    (lambda p: p.write_text("just some text, not audio\n" * 50), "not a readable audio file"),
    (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(20)), "not a readable audio file"),
])
def test_bad_files_raise_one_line(tmp_path, make, message):
    path = tmp_path / "input.wav"
    make(path)
    with pytest.raises(AudioError, match=message) as caught:
        load_audio(path)
    assert "\n" not in str(caught.value)


def test_non_finite_samples_are_rejected():
    with pytest.raises(AudioError, match="NaN"):
        load_audio(np.array([0.0, np.nan, 0.1], dtype=np.float32))


def test_spec_augment_only_in_training():
    config = FeatureConfig()
    augment = SpecAugment(config)
    feats = torch.randn(2, 200, config.n_mels)
    lengths = torch.tensor([200, 150])
    augment.eval()
    assert torch.equal(augment(feats, lengths), feats)
    augment.train()
    torch.manual_seed(0)
    masked = augment(feats, lengths)
    assert (masked == 0).any() and not torch.equal(masked, feats)


def test_front_end_features_ignore_padding():
    frontend = FrontEnd(FeatureConfig()).eval()
    waves = torch.randn(2, 16000) * 0.1
    waves[1, 9000:] = 0.0
    feats, frames = frontend(waves, torch.tensor([16000, 9000]))
    alone, alone_frames = frontend(waves[1:, :9000], torch.tensor([9000]))
    assert int(frames[1]) == int(alone_frames[0])
    torch.testing.assert_close(feats[1, : int(frames[1])], alone[0])
    assert (feats[1, int(frames[1]):] == 0).all()


def test_level_is_normalised_from_the_robust_peak():
    speech_like = (0.01 * np.sin(np.arange(16000) / 3)).astype(np.float32)  # a -40 dBFS peak
    with_click = speech_like.copy()
    with_click[100] = 1.0  # one full-scale sample must not decide the gain
    with_offset = speech_like + np.float32(0.2)  # a DC offset 20 times the speech
    for samples in (speech_like, with_click, 30 * speech_like, with_offset):
        out = normalize_level(samples)
        assert out.dtype == np.float32
        assert abs(out.mean()) < 1e-3
        assert 20 * np.log10(np.percentile(np.abs(out), 99.9)) == pytest.approx(DECODE_PEAK_DBFS, abs=0.1)
    assert np.array_equal(normalize_level(np.zeros(800, np.float32)), np.zeros(800, np.float32))
    assert normalize_level(np.zeros(0, np.float32)).size == 0
    faint = 1e-7 * speech_like / speech_like.max()  # far below any speech: capped, not raised to full scale
    assert np.abs(normalize_level(faint)).max() == pytest.approx(1e-7 * 10 ** (MAX_DECODE_GAIN_DB / 20), rel=1e-3)


def _syllables(seconds: float, level: float, rng) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (level * rng.standard_normal(t.size) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


def _db(samples: np.ndarray) -> float:
    return 10 * np.log10(np.mean(samples.astype(np.float64) ** 2))


def test_a_piece_spoken_at_one_level_is_left_as_it_is():
    rng = np.random.default_rng(0)
    samples = np.concatenate([_syllables(2.0, 0.1, rng), 1e-4 * rng.standard_normal(8000).astype(np.float32),
                              _syllables(3.0, 0.1, rng)])
    assert np.array_equal(level_passages(samples), samples)


def test_a_soft_passage_is_raised_towards_the_rest_and_a_pause_is_not():
    rng = np.random.default_rng(1)
    noise = lambda seconds: 1e-3 * rng.standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32)  # noqa: E731
    loud, soft, pause = _syllables(3.0, 0.1, rng), _syllables(3.0, 0.01, rng), noise(4.0)
    samples = np.concatenate([loud, noise(0.5), soft + noise(3.0), pause, loud])
    out = level_passages(samples)
    s = SAMPLE_RATE
    soft_in, soft_out = samples[int(4.0 * s):int(6.0 * s)], out[int(4.0 * s):int(6.0 * s)]  # the soft passage's middle
    assert _db(soft_out) - _db(soft_in) == pytest.approx(20.0, abs=2.0)
    assert _db(soft_out) - _db(soft_in) <= MAX_PASSAGE_BOOST_DB + 0.1
    middle_of_pause = slice(int(8.0 * s), int(9.0 * s))
    assert np.array_equal(out[middle_of_pause], samples[middle_of_pause])
    np.testing.assert_array_equal(out[: 2 * s], samples[: 2 * s])  # the loud passage is untouched



def test_a_piece_is_levelled_on_its_own_audio_and_a_loud_neighbour_is_brought_down_to_it():
    rng = np.random.default_rng(2)
    noise = 1e-4 * rng.standard_normal(SAMPLE_RATE).astype(np.float32)
    soft, loud = _syllables(3.0, 0.003, rng), _syllables(1.0, 0.3, rng)
    assert np.array_equal(level_for_decoding(soft), level_passages(normalize_level(soft)))  # no margins: as before
    out = level_for_decoding(np.concatenate([loud, soft, noise]), SAMPLE_RATE, SAMPLE_RATE)
    piece = out[SAMPLE_RATE:-SAMPLE_RATE]
    np.testing.assert_allclose(piece, level_for_decoding(soft), atol=2e-3)  # heard as it would be alone
    peak = lambda x: np.percentile(np.abs(x), 99.9)  # noqa: E731
    assert peak(out[:SAMPLE_RATE]) == pytest.approx(peak(piece), rel=0.05)  # 40 dB louder before: not any more
    gain = peak(piece) / peak(soft - soft.mean())
    np.testing.assert_allclose(out[-SAMPLE_RATE:], (noise - soft.mean()) * gain, rtol=1e-3, atol=1e-5)  # at its gain
