"""Live transcription for a page: one browser tab's microphone stream, cut and decoded as it arrives.

The web demo's stream handler hands each chunk of microphone audio to the tab's
:class:`LiveSession` and returns at once; the session's own thread cuts utterances at
pauses with the same endpointer as ``asr listen`` and decodes each one while recording
goes on (:class:`asr.microphone.UtteranceDecoder`).  Nothing here knows about Gradio.
"""

from __future__ import annotations

import threading

import numpy as np

from asr.alignment_view import alignment_html
from asr.endpoint import Endpointer
from asr.microphone import BlockQueue, UtteranceDecoder
from asr.plotting import stitch_segments


class LiveSession:
    """One browser tab's live microphone: its own queue, endpointer and decoding thread.

    The page's stream handler only :meth:`push`es audio (it never waits for decoding), the
    endpointer cuts utterances at pauses as ``asr listen`` does (:mod:`asr.microphone`'s
    :class:`UtteranceDecoder`), and each finished utterance is decoded in this session's
    thread while recording goes on; nothing is dropped unless decoding falls minutes behind.
    """

    def __init__(self, model, sample_rate: int, options):
        self.sample_rate = sample_rate
        self.blocks = BlockQueue(sample_rate)
        self.lines: list[str] = []
        self.view = ""  # the latest utterance's alignment
        self.version = 0  # bumped per utterance, so a refresh can tell nothing changed
        self._lock = threading.Lock()
        self.decoder = UtteranceDecoder(model, self.blocks, Endpointer(sample_rate), self._on_utterance, options)
        self.decoder.start()

    def push(self, samples: np.ndarray) -> None:
        self.blocks.put(samples)

    def close(self) -> None:
        """End of the stream: the utterance in progress is finished and decoded."""
        self.blocks.close()

    @property
    def closed(self) -> bool:
        return self.decoder.done.is_set() or self.blocks.closed

    def _on_utterance(self, utterance, transcription) -> None:
        text, attention, frame_seconds = stitch_segments(transcription.segments, transcription.offsets,
                                                         transcription.duration)
        if not text:
            return
        view = alignment_html(utterance.samples, text, attention, frame_seconds, element_id="live")
        with self._lock:
            self.lines.append(f"[{utterance.start:6.2f} s] {text}")
            self.view = view
            self.version += 1

    def status(self) -> str:
        if self.decoder.error is not None:
            return f"**Decoding stopped** ({type(self.decoder.error).__name__}). Record again to restart."
        state = {"listening": "● listening…", "speech": "● hearing speech…",
                 "transcribing": "● transcribing…"}[self.decoder.state]
        if self.closed and self.decoder.done.is_set():
            state = "■ stopped"
        level = max(-60.0, self.blocks.level_db)
        bar = "▮" * int((level + 60) / 3) + "▯" * (20 - int((level + 60) / 3))
        return f"{state} level {bar} {level:.0f} dB · {len(self.lines)} utterance(s)"

    def outputs(self) -> tuple:
        with self._lock:
            return self.status(), "\n".join(self.lines), self.view


def to_float_mono(samples: np.ndarray) -> np.ndarray:
    """A browser chunk (int16 or float, mono or (n, channels)) as float32 mono in [-1, 1]."""
    samples = np.asarray(samples)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if np.issubdtype(samples.dtype, np.integer):
        return samples.astype(np.float32) / 32768.0
    return samples.astype(np.float32)
