"""Speech detection: silero-vad's speech probability for every 32 ms frame of audio.

One detector serves files (:mod:`asr.audio.segment`), ``asr listen`` and the demo's live stream
(:mod:`asr.audio.endpoint`).  silero-vad (MIT) ships its model inside its PyPI wheel, so nothing is
downloaded; it hears soft and whispered speech that a level threshold misses.  Where the
package cannot be loaded, the frame level alone decides (:func:`asr.audio.segment.speech_frames` with no probabilities),
and that is said once on stderr.

    detector = SpeechDetector()
    probs = detector.probabilities(samples[: n * FRAME_SAMPLES])   # (n,) in [0, 1]

The detector is stateful (an LSTM over the frames, in order); :meth:`SpeechDetector.reset`
starts a new stream.  Stretches of near-digital silence are not run through the network at
all, so an hour of silence costs next to nothing.
"""

from __future__ import annotations

import copy
import sys
import threading
import warnings

import numpy as np

from asr.audio.io import SAMPLE_RATE, frame_level_db

FRAME_SAMPLES = 512  # silero-vad's window at 16 kHz
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE  # 0.032
# Frames quieter than this (RMS, dBFS) are silence whatever the recording: whispered speech at
# 40 dB below full scale is far above it.  Runs of at least SKIP_FRAMES of them skip the network from then on.
SILENCE_FLOOR_DB = -60.0
SKIP_FRAMES = 8

_warned = False
_shared = None  # the loaded model, shared by every detector
_lock = threading.Lock()


class SpeechDetector:
    """Speech probability per 512-sample frame of a 16 kHz stream, in order.

    ``available`` is False where silero-vad could not be loaded; :meth:`probabilities`
    then returns None and callers decide by level alone.
    """

    def __init__(self):
        self._model = _load_model()
        self._quiet = 0  # consecutive frames below SILENCE_FLOOR_DB so far

    @property
    def available(self) -> bool:
        return self._model is not None

    def reset(self) -> None:
        """Forget the stream so far: the next frame starts a new one."""
        if self._model is not None:
            self._model.reset_states()
        self._quiet = 0

    def probabilities(self, samples: np.ndarray) -> np.ndarray | None:
        """(n * FRAME_SAMPLES,) float32 samples, continuing the stream -> (n,) speech probabilities."""
        if self._model is None:
            return None
        import torch

        frames = np.asarray(samples, dtype=np.float32).reshape(-1, FRAME_SAMPLES)
        quiet = frame_level_db(frames) < SILENCE_FLOOR_DB
        probs = np.zeros(len(frames), dtype=np.float32)
        with torch.inference_mode():
            for i, frame in enumerate(frames):
                self._quiet = self._quiet + 1 if quiet[i] else 0
                if self._quiet >= SKIP_FRAMES:  # deep in silence: probability 0, and a fresh start after it
                    if self._quiet == SKIP_FRAMES:
                        self._model.reset_states()
                    continue
                probs[i] = float(self._model(torch.from_numpy(frame)[None], SAMPLE_RATE))
        return probs


def _load_model():
    """A fresh stream over silero-vad's model, or None where it cannot be loaded (said once on stderr).

    The ONNX session is loaded once per process and shared (onnxruntime runs a session from
    several threads); each detector gets its own copy of the stream state around it.
    """
    global _warned, _shared
    try:
        with _lock:
            if _shared is None:
                _shared = _silero_model()
        model = copy.copy(_shared)
        model.reset_states()
        return model
    except Exception as error:  # not installed, or a broken install: decide by level instead
        with _lock:
            if not _warned:
                _warned = True
                print(f"warning: silero-vad could not be loaded ({type(error).__name__}: {error}); "
                      "finding speech by level alone, which can miss soft speech", file=sys.stderr)
        return None


def _silero_model():
    """silero-vad's ONNX model from its wheel."""
    import torch

    threads = torch.get_num_threads()
    from silero_vad import load_silero_vad

    torch.set_num_threads(threads)  # importing silero_vad sets one thread for the whole process
    # The ONNX model runs on one onnxruntime thread: about 1 ms a frame, and it never contends
    # with torch's threads for the decoder (the TorchScript model took 2-20 ms a frame beside them).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # its use of importlib.resources.path
        return load_silero_vad(onnx=True)
