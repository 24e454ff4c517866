"""Live transcription for a page: one browser tab's microphone stream, cut and decoded as it arrives.

The web demo's stream handler hands each chunk of microphone audio to the tab's
:class:`LiveSession` and returns at once; the session's own thread cuts utterances at
pauses with the same endpointer as ``asr listen`` and decodes each one while recording
goes on (:class:`asr.microphone.UtteranceDecoder`).  The demo gives it a
:class:`asr.decoding_process.ProcessModel`, so the decoding itself runs in another
process and never holds up the handler.  Nothing here knows about Gradio.

A stream that loses audio on its way (Gradio keeps only the newest chunk a busy server
has not handled yet) is noticed from the clock: the chunks that arrive should add up to
the time the stream has run.  The status line says how much is missing.
"""

from __future__ import annotations

import collections
import threading
import time

import numpy as np

from asr.alignment_view import alignment_html
from asr.endpoint import Endpointer
from asr.microphone import BlockQueue, UtteranceDecoder
from asr.plotting import stitch_segments

# The stream is said to have lost audio once less has arrived than wall-clock time allows, by this
# fraction of a chunk or more, over each of the last LOST_AUDIO_WINDOW chunks. Gradio loses whole
# chunks; a late chunk falls short only until it arrives, and the browser's own timing drifts by
# less than a chunk.
LOST_AUDIO_REPORT_CHUNKS = 0.75
LOST_AUDIO_WINDOW = 5


class LiveSession:
    """One browser tab's live microphone: its own queue, endpointer and decoding thread.

    The page's stream handler only :meth:`push`es audio (it never waits for decoding), the
    endpointer cuts utterances at pauses as ``asr listen`` does (:mod:`asr.microphone`'s
    :class:`UtteranceDecoder`), and each finished utterance goes to ``model.transcribe`` from
    the tab's own thread while recording goes on (the demo passes a
    :class:`asr.decoding_process.ProcessModel`); nothing is dropped unless decoding falls
    minutes behind.
    """

    def __init__(self, model, sample_rate: int, options):
        self.sample_rate = sample_rate
        self.blocks = BlockQueue(sample_rate)
        self.lines: list[str] = []
        self.view = ""  # the latest utterance's alignment
        self.version = 0  # bumped per utterance, so a refresh can tell nothing changed
        self.streamed_version = -1  # the version the stream handler last sent to the page
        self._stream_start: float | None = None  # when the first chunk's audio began, on this clock
        self._received = 0  # samples pushed so far
        self._shortfalls = collections.deque(maxlen=LOST_AUDIO_WINDOW)  # seconds behind wall clock, per push
        self._chunk_seconds = 0.0  # the latest chunk's length
        self._lock = threading.Lock()
        self.decoder = UtteranceDecoder(model, self.blocks, Endpointer(sample_rate), self._on_utterance, options)
        self.decoder.start()

    def push(self, samples: np.ndarray) -> None:
        now = time.monotonic()
        self._chunk_seconds = samples.size / self.sample_rate
        if self._stream_start is None:
            self._stream_start = now - self._chunk_seconds
        self._received += samples.size
        # A browser chunk covers the time since the one before it, so what has arrived should add
        # up to the time since the stream started; what falls short never got here.
        self._shortfalls.append(now - self._stream_start - self._received / self.sample_rate)
        self.blocks.put(samples)

    @property
    def lost_seconds(self) -> float:
        """Audio of this stream that never arrived: what it lags wall-clock time by, chunk after chunk."""
        return max(0.0, min(self._shortfalls, default=0.0))

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
        # ▰▱ rather than ▮▯: DejaVu, the fallback font of a bare Debian, has no ▯ and showed boxes.
        filled = int((level + 60) / 3)  # 20 cells of 3 dB, from -60 dB
        bar = "▰" * filled + "▱" * (20 - filled)
        lost = (f" · **{self.lost_seconds:.1f} s of audio lost on the way** (server too busy?)"
                if self.lost_seconds and self.lost_seconds >= LOST_AUDIO_REPORT_CHUNKS * self._chunk_seconds
                else "")
        return f"{state} level {bar} {level:.0f} dB · {len(self.lines)} utterance(s){lost}"

    def outputs(self) -> tuple:
        """(status, transcript, alignment HTML), the page's live outputs."""
        return self.changes(since=None)[1]

    def changes(self, since: int | None) -> tuple[int, tuple]:
        """The current version and :meth:`outputs`, with transcript and alignment None when the
        version is still ``since``: the stream handler runs once a second, and resending an
        unchanged alignment each time would only load the server."""
        with self._lock:
            if self.version == since:
                return self.version, (self.status(), None, None)
            return self.version, (self.status(), "\n".join(self.lines), self.view)


def to_float_mono(samples: np.ndarray) -> np.ndarray:
    """A browser chunk (int16 or float, mono or (n, channels)) as float32 mono in [-1, 1]."""
    samples = np.asarray(samples)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if np.issubdtype(samples.dtype, np.integer):
        return samples.astype(np.float32) / 32768.0
    return samples.astype(np.float32)
