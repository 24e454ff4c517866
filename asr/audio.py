"""Reading audio: any common file or array in, mono float32 at 16 kHz out.

Files are decoded with soundfile (wav, flac, ogg) and fall back to librosa's
audioread path for formats soundfile can't read (mp3 via ffmpeg).  Every
failure is raised as :class:`AudioError` with a one-line message, so front
ends can print it without a traceback.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np

from asr.formats import atomic_path

SAMPLE_RATE = 16_000
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aac", ".wma", ".aiff", ".aif")


# Decoding hears every piece of audio at one level. The synth recipe peak-normalises its
# training clips to -18..-1 dBFS, and a quieter input falls off what the model knows: 40
# held-out-voice test clips scaled to a -30 dBFS peak went from 8.9 % to 28 % CER.
DECODE_PEAK_DBFS = -8.0
MAX_DECODE_GAIN_DB = 40.0  # a near-silent piece is not blown up into full-scale noise


class AudioError(ValueError):
    """An input that cannot be turned into audio; the message is one line for the user."""


class AudioWarning(UserWarning):
    """Audio that can be transcribed, but not all of it (a file that ends early); one line for the user."""


def to_mono_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Downmix (channels last or first) and resample to :data:`SAMPLE_RATE` float32."""
    samples = np.asarray(samples)
    if samples.dtype.kind == "i":
        samples = samples.astype(np.float32) / np.iinfo(samples.dtype).max
    samples = samples.astype(np.float32, copy=False)
    if samples.ndim == 2:
        # soundfile gives (frames, channels); a (channels, frames) array has few rows.
        channel_axis = 0 if samples.shape[0] < samples.shape[1] and samples.shape[0] <= 8 else 1
        samples = samples.mean(axis=channel_axis)
    elif samples.ndim != 1:
        raise AudioError(f"expected 1-D or 2-D audio, got an array of shape {samples.shape}")
    if sample_rate != SAMPLE_RATE and samples.size:
        import librosa

        samples = librosa.resample(samples, orig_sr=sample_rate, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    if not np.all(np.isfinite(samples)):
        raise AudioError("audio contains NaN or infinite samples")
    return np.ascontiguousarray(samples, dtype=np.float32)


def normalize_level(samples: np.ndarray, peak_dbfs: float = DECODE_PEAK_DBFS,
                    max_gain_db: float = MAX_DECODE_GAIN_DB) -> np.ndarray:
    """Remove any DC offset, then scale the robust peak (99.9th percentile of ``|samples|``) to ``peak_dbfs``.

    The offset first, or a cheap microphone's DC would set the gain instead of the speech;
    the percentile, not the maximum, so that a click does not leave the speech quiet.
    Gain is capped at ``max_gain_db``; digital silence stays silent.
    """
    if samples.size == 0:
        return samples
    samples = samples - np.float32(samples.mean())
    peak = float(np.percentile(np.abs(samples), 99.9))
    if peak <= 0.0:
        return samples
    gain = min(10 ** (peak_dbfs / 20) / peak, 10 ** (max_gain_db / 20))
    return (samples * np.float32(gain)).astype(np.float32, copy=False)


def load_audio(source, sample_rate: int | None = None) -> np.ndarray:
    """Load a path, raw bytes or an array as mono float32 samples at 16 kHz.

    Args:
        source: a file path, ``bytes`` of an encoded file, or a sample array
            (then ``sample_rate`` says its rate; default 16 kHz).
    Returns:
        (T,) float32 array in [-1, 1] at :data:`SAMPLE_RATE`.
    Raises:
        AudioError: missing, empty, corrupt or non-audio input.
    """
    if isinstance(source, np.ndarray) or hasattr(source, "numpy"):
        array = source.numpy() if hasattr(source, "numpy") else source
        return to_mono_16k(array, sample_rate or SAMPLE_RATE)
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise AudioError("<stdin>: no audio data (empty input)")
        return _decode(io.BytesIO(source), "<stdin>")
    path = Path(os.fspath(source))
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty")
    return _decode(path, str(path))


def _decode(file, name: str) -> np.ndarray:
    import soundfile as sf

    try:
        samples, rate = sf.read(file, dtype="float32", always_2d=False)
    except Exception as soundfile_error:  # not a format libsndfile knows: try ffmpeg via librosa
        if isinstance(file, io.BytesIO):
            raise AudioError(f"{name}: not a readable audio file ({_first_line(soundfile_error)})") from None
        try:
            import librosa

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                samples, rate = librosa.load(file, sr=None, mono=False)
            samples = samples.T if samples.ndim == 2 else samples
        except Exception as error:
            raise AudioError(f"{name}: not a readable audio file ({_first_line(error) or 'unknown format'})") from None
    if samples.size == 0:
        raise AudioError(f"{name}: contains no audio samples")
    return to_mono_16k(samples, rate)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:160] if text else type(error).__name__


def write_wav(path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write 16-bit PCM wav atomically (a temp file renamed into place)."""
    import soundfile as sf

    with atomic_path(path) as tmp:
        sf.write(tmp, np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
