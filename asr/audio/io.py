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

from asr.files import atomic_path

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
    return (samples * np.float32(_gain(samples, peak_dbfs, max_gain_db))).astype(np.float32, copy=False)


def _gain(samples: np.ndarray, peak_dbfs: float = DECODE_PEAK_DBFS, max_gain_db: float = MAX_DECODE_GAIN_DB) -> float:
    """What brings the robust peak of ``samples`` (offset removed) to ``peak_dbfs``, at most ``max_gain_db``."""
    peak = float(np.percentile(np.abs(samples), 99.9)) if samples.size else 0.0
    return 1.0 if peak <= 0.0 else min(10 ** (peak_dbfs / 20) / peak, 10 ** (max_gain_db / 20))


def level_for_decoding(samples: np.ndarray, before: int = 0, after: int = 0) -> np.ndarray:
    """A piece at the level decoding expects: :func:`normalize_level`, then :func:`level_passages`.

    ``before`` and ``after``: samples at its start and end that are only the audio around it (heard
    by the encoder, not decoded).  The piece is levelled on its own audio, as it would be alone, and
    they are scaled by the same gain but never brought above the piece's level, so that a loud
    neighbour does not leave a soft piece quiet.
    """
    inner = samples[before:samples.size - after]
    if inner.size:
        samples = samples - np.float32(inner.mean())  # the offset of the piece's own audio, as alone
        inner = samples[before:samples.size - after]
    gain = _gain(inner)
    around = [samples[:before], samples[samples.size - after:]]
    first, last = (part * np.float32(min(gain, _gain(part))) for part in around)
    return np.concatenate([first, level_passages(inner * np.float32(gain)), last]).astype(np.float32, copy=False)


def frame_level_db(frames: np.ndarray) -> np.ndarray:
    """RMS level in dBFS of each row of (n, samples) frames."""
    power = np.einsum("ij,ij->i", frames, frames).astype(np.float64) / max(frames.shape[1], 1)
    return 10 * np.log10(power + 1e-12)


# A passage spoken much more softly than the rest of a piece (a speaker turning away, a quiet
# second voice) is raised towards the level of the rest, by at most MAX_PASSAGE_BOOST_DB: decoding
# hears a piece at one level, and a soft passage 20 dB down falls off what the model knows.
PASSAGE_WINDOW_SECONDS = 1.5  # a passage's level: the loudest 100 ms within this window around it
PASSAGE_FRAME_SECONDS = 0.1
MAX_PASSAGE_BOOST_DB = 20.0
MIN_PASSAGE_BOOST_DB = 6.0  # less is the ordinary rise and fall of a voice: left alone
PASSAGE_ABOVE_NOISE_DB = 6.0  # a window this little above the piece's noise floor is a pause: never raised


def level_passages(samples: np.ndarray, max_boost_db: float = MAX_PASSAGE_BOOST_DB) -> np.ndarray:
    """Raise soft passages of a piece towards the level of its loud ones, leaving pauses as they are.

    The gain is smooth (it follows 100 ms frame levels over :data:`PASSAGE_WINDOW_SECONDS`), never
    below 1, and 1 throughout a piece spoken at one level, so such a piece is returned unchanged.
    """
    frame = int(PASSAGE_FRAME_SECONDS * SAMPLE_RATE)
    count = samples.size // frame
    if count < 3:
        return samples
    level = frame_level_db(samples[: count * frame].reshape(count, frame))  # dB per 100 ms frame
    loud, noise = np.percentile(level, 95), np.percentile(level, 10)
    half = max(1, int(PASSAGE_WINDOW_SECONDS / PASSAGE_FRAME_SECONDS) // 2)
    padded = np.pad(level, half, mode="edge")
    local = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).max(axis=1)  # (count,)
    boost_db = np.clip(loud - local, 0.0, max_boost_db)
    boost_db[(local < noise + PASSAGE_ABOVE_NOISE_DB) | (boost_db < MIN_PASSAGE_BOOST_DB)] = 0.0
    if not boost_db.any():
        return samples
    boost_db = np.convolve(np.pad(boost_db, 2, mode="edge"), np.ones(5) / 5, mode="valid")  # no steps
    centres = (np.arange(count) + 0.5) * frame
    gain = 10 ** (np.interp(np.arange(samples.size), centres, boost_db) / 20)
    return np.clip(samples * gain.astype(np.float32), -1.0, 1.0)


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
