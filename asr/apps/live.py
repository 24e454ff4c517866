"""Live transcription for a page: one browser tab's microphone stream, cut and decoded as it arrives.

The page's capture script posts each chunk of microphone audio with the stream's sample
count before it (:mod:`asr.apps.live_transport`), and the route hands it to the tab's
:class:`LiveSession`, which only queues it and returns.  The session's own thread cuts
utterances at pauses with the same endpointer as ``asr listen``, shows the utterance in
progress as a running transcript, and decodes each finished one while recording goes on
(:class:`asr.apps.microphone.UtteranceDecoder`).  The demo gives it a
:class:`asr.decoding.process.ProcessModel`, so the decoding itself runs in another process.
Nothing here knows about Gradio or HTTP.

Because every chunk says where it starts in the stream, audio that never arrived is known
exactly: the gap is filled with silence (so later times stay on the stream's clock), and
the status line says how much was lost.
"""

from __future__ import annotations

import html
import threading

import numpy as np

from asr.apps.alignment_view import alignment_html
from asr.audio.endpoint import Endpointer
from asr.apps.microphone import BlockQueue, UtteranceDecoder
from asr.plotting import stitch_segments


class LiveSession:
    """One browser tab's live microphone: its own queue, endpointer and decoding thread.

    :meth:`push` only queues audio (it never waits for decoding); the endpointer cuts
    utterances at pauses as ``asr listen`` does, the open utterance is decoded now
    and then for a running transcript (``partial``), and each finished utterance goes to
    ``model.transcribe`` with ``options`` from the session's own thread while recording goes
    on; nothing is dropped unless decoding falls minutes behind.

    Args:
        model: anything with ``transcribe(audio, options=..., itn=..., stop=...)``: a model or a ProcessModel.
        sample_rate: the rate of the pushed chunks, in Hz.
        options: how finished utterances are decoded; running transcripts use the ``running`` preset.
    """

    def __init__(self, model, sample_rate: int, options):
        self.sample_rate = sample_rate
        self.blocks = BlockQueue(sample_rate)
        self.lines: list[str] = []
        self.partial = ""  # the running transcript of the utterance in progress, "" between utterances
        self.view = ""  # the latest utterance's alignment
        self.version = 0  # bumped per utterance, so a refresh can tell nothing changed
        self.partial_version = 0  # bumped per running transcript
        self.received = 0  # the stream's samples accounted for: pushed, or lost and filled with silence
        self.lost_samples = 0  # samples of the stream that never arrived
        self.gaps = 0  # places where they are missing
        self._lock = threading.Lock()
        self.decoder = UtteranceDecoder(model, self.blocks, Endpointer(sample_rate), self._on_utterance, options,
                                        on_partial=self._on_partial)
        self.decoder.start()

    def push(self, samples: np.ndarray, offset: int) -> None:
        """Queue a chunk of (T,) float32 samples that starts ``offset`` samples into the stream.

        A chunk starting past what has arrived so far means audio was lost: the gap is counted
        and filled with silence. A chunk sent again (a retried request) adds only what is new.
        """
        with self._lock:
            if offset > self.received:
                gap = offset - self.received
                self.lost_samples += gap
                self.gaps += 1
                self.blocks.put(np.zeros(gap, dtype=np.float32))
                self.received = offset
            new = samples[self.received - offset:]
            if new.size:
                self.blocks.put(np.asarray(new, dtype=np.float32))
                self.received += new.size

    @property
    def lost_seconds(self) -> float:
        """Audio of this stream that never arrived."""
        return self.lost_samples / self.sample_rate

    def close(self) -> None:
        """End of the stream: the utterance in progress is finished and decoded."""
        self.blocks.close()

    @property
    def closed(self) -> bool:
        return self.decoder.done.is_set() or self.blocks.closed

    def _on_partial(self, utterance, transcription) -> None:
        with self._lock:
            self.partial = transcription.text
            self.partial_version += 1

    def _on_utterance(self, utterance, transcription) -> None:
        text, attention, frame_seconds = stitch_segments(transcription.segments, transcription.offsets,
                                                         transcription.duration)
        view = alignment_html(utterance.samples, text, attention, frame_seconds, element_id="live") if text else None
        with self._lock:
            self.partial = ""
            self.partial_version += 1
            if text:  # the written form (numerals...) on the line; the alignment shows the spoken letters
                self.lines.append(f"[{utterance.start:6.2f} s] {transcription.text}")
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
        lost = (f" · **{self.lost_seconds:.2f} s of audio lost on the way** in {self.gaps} gap(s)"
                if self.lost_samples else "")
        return (f"{state} level {bar} {level:.0f} dB · {self.received / self.sample_rate:.1f} s received · "
                f"{len(self.lines)} utterance(s){lost}")

    def transcript_html(self) -> str:
        """The final lines, one per utterance, then the running transcript in a lighter style."""
        lines = [f'<p class="live-final">{html.escape(line)}</p>' for line in self.lines]
        if self.partial:
            lines.append(f'<p class="live-partial">{html.escape(self.partial)}…</p>')
        return f'<div class="live-lines">{"".join(lines)}</div>'

    def outputs(self) -> tuple:
        """(status, transcript HTML, alignment HTML), the page's live outputs."""
        return self.changes(since=None)[1]

    def changes(self, since: tuple | None) -> tuple[tuple, tuple]:
        """The current version and :meth:`outputs`, with transcript or alignment None where they
        are unchanged since version ``since``: the page refreshes twice a second, and resending
        an unchanged alignment each time would only load the server."""
        with self._lock:
            version = (self.version, self.partial_version)
            same_lines = since is not None and since[0] == self.version
            same_text = same_lines and since[1] == self.partial_version
            return version, (self.status(), None if same_text else self.transcript_html(),
                             None if same_lines else self.view)
