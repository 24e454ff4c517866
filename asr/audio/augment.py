"""Waveform and spectrogram augmentation that makes synthetic speech sound more like people.

All functions take a numpy ``rng`` so a corpus built twice with the same seed
is the same corpus.  They are used at two places: ``recipes/synth`` bakes a
chain of them into the training audio (cheap to train on), and the training
loop applies speed perturbation and noise on the fly (see
:class:`asr.training.data.SpeechDataset`).  SpecAugment lives in :mod:`asr.model.features`
because it works on features, not audio.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from asr.audio.io import SAMPLE_RATE

TELEPHONE_RATE = 8_000
TELEPHONE_BAND_HZ = (300.0, 3400.0)


def speed_perturb(samples: np.ndarray, factor: float) -> np.ndarray:
    """Kaldi-style speed perturbation: play ``factor`` times faster (pitch moves with tempo)."""
    if abs(factor - 1.0) < 1e-3:
        return samples
    # Resample by a small rational: 1.1x faster = 10 samples out for every 11 in.
    up, down = _ratio(1.0 / factor)
    return signal.resample_poly(samples, up, down).astype(np.float32)


def _ratio(x: float, max_denominator: int = 20) -> tuple[int, int]:
    from fractions import Fraction

    f = Fraction(x).limit_denominator(max_denominator)
    return f.numerator, f.denominator


def colored_noise(num_samples: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ~ 1/f^exponent: 0 white, 1 pink, 2 brown. Unit RMS."""
    spectrum = rng.standard_normal(num_samples // 2 + 1) + 1j * rng.standard_normal(num_samples // 2 + 1)
    freqs = np.fft.rfftfreq(num_samples)
    freqs[0] = freqs[1] if num_samples > 1 else 1.0
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2.0), n=num_samples)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-9)).astype(np.float32)


def babble(others: list[np.ndarray], num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Crowd noise: several other utterances, randomly offset and summed. Unit RMS."""
    mix = np.zeros(num_samples, dtype=np.float32)
    for other in others:
        if other.size == 0:
            continue
        tiled = np.resize(other, num_samples + other.size)
        start = rng.integers(0, other.size)
        mix += tiled[start:start + num_samples] / (np.sqrt(np.mean(other**2)) + 1e-9)
    return mix / (np.sqrt(np.mean(mix**2)) + 1e-9)


def add_noise(samples: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix unit-RMS-or-any ``noise`` into ``samples`` at a signal-to-noise ratio in dB."""
    speech_power = np.mean(samples**2) + 1e-10
    noise_power = np.mean(noise**2) + 1e-10
    scale = math.sqrt(speech_power / (noise_power * 10 ** (snr_db / 10.0)))
    return (samples + scale * noise[: samples.size]).astype(np.float32)


def room_impulse_response(rt60_seconds: float, rng: np.random.Generator,
                          sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A synthetic room: a direct path, then exponentially decaying diffuse reflections.

    The decay reaches -60 dB after ``rt60_seconds``; early reflections are a
    handful of sparse taps in the first 50 ms, as in a small room.
    """
    length = int(rt60_seconds * sample_rate)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60_seconds)  # ln(1000) = 6.9 -> -60 dB
    tail[: int(0.002 * sample_rate)] = 0.0  # reflections arrive after the direct sound
    rir = 0.3 * tail / (np.abs(tail).max() + 1e-9)
    for _ in range(6):
        rir[rng.integers(int(0.003 * sample_rate), int(0.05 * sample_rate))] += rng.uniform(0.2, 0.6)
    rir[0] = 1.0
    return (rir / np.sqrt(np.sum(rir**2))).astype(np.float32)


def reverberate(samples: np.ndarray, rt60_seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room, keeping the original length and loudness."""
    wet = signal.fftconvolve(samples, room_impulse_response(rt60_seconds, rng))[: samples.size]
    return (wet * (np.abs(samples).max() / (np.abs(wet).max() + 1e-9))).astype(np.float32)


def narrowband(samples: np.ndarray) -> np.ndarray:
    """What an 8 kHz recording sounds like at 16 kHz: nothing above 4 kHz.

    Telephone prompts, voicemail and old recordings come at 8 kHz; :func:`asr.audio.io.load_audio`
    resamples them to 16 kHz, which leaves the top half of the spectrum empty.
    """
    narrow = signal.resample_poly(samples, 1, SAMPLE_RATE // TELEPHONE_RATE)
    return signal.resample_poly(narrow, SAMPLE_RATE // TELEPHONE_RATE, 1).astype(np.float32)[: samples.size]


def telephone(samples: np.ndarray) -> np.ndarray:
    """A narrowband phone line: 8 kHz, 300-3400 Hz, 8-bit mu-law, back to 16 kHz."""
    narrow = signal.resample_poly(samples, 1, SAMPLE_RATE // TELEPHONE_RATE)
    sos = signal.butter(4, TELEPHONE_BAND_HZ, btype="bandpass", fs=TELEPHONE_RATE, output="sos")
    narrow = signal.sosfilt(sos, narrow)
    peak = np.abs(narrow).max() + 1e-9
    mu = 255.0
    companded = np.sign(narrow / peak) * np.log1p(mu * np.abs(narrow / peak)) / np.log1p(mu)
    quantised = np.round(companded * 127.0) / 127.0
    narrow = peak * np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu
    return signal.resample_poly(narrow, SAMPLE_RATE // TELEPHONE_RATE, 1).astype(np.float32)[: samples.size]


def vtlp_warp(power_spectrogram, alpha: float, boundary_fraction: float = 0.8):
    """Vocal-tract-length perturbation on a (..., freq, time) linear spectrogram.

    Frequencies below ``boundary_fraction`` of Nyquist scale by ``alpha``; above
    it a straight line maps the rest onto the remaining band, so Nyquist stays
    Nyquist (Jaitly & Hinton 2013). Works on numpy arrays and torch tensors.
    """
    import torch

    spec = torch.as_tensor(power_spectrogram)
    num_bins = spec.shape[-2]
    source = torch.arange(num_bins, dtype=torch.float32, device=spec.device)  # on the GPU with spec
    boundary = boundary_fraction * (num_bins - 1) * min(alpha, 1.0) / alpha
    # The frequency each output bin reads from (inverse warp), piecewise linear.
    top = num_bins - 1
    warped_boundary = boundary * alpha
    read_from = torch.where(
        source <= warped_boundary,
        source / alpha,
        boundary + (source - warped_boundary) * (top - boundary) / max(top - warped_boundary, 1e-6),
    ).clamp(0, top)
    low = read_from.floor().long()
    high = (low + 1).clamp(max=top)
    frac = (read_from - low).unsqueeze(-1)
    return spec[..., low, :] * (1 - frac) + spec[..., high, :] * frac
