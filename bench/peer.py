"""The peer recognizer: pocketsphinx with its bundled US English acoustic model, dictionary and trigram LM.

    peer = PocketSphinx()
    text, seconds = peer.transcribe("speech.wav")

pocketsphinx is installed by the benchmark's own setup (``bench/requirements.txt``),
never by the package.  It hears the samples our model hears: files read
with soundfile and resampled to 16 kHz by soxr as :mod:`asr.audio_blocks`
does; 16-bit PCM at 16 kHz passes through unchanged.  Inputs up to
:data:`MAX_SEGMENT_SECONDS` are decoded as one utterance, as ``pocketsphinx
single`` does; longer ones are cut at pauses by pocketsphinx's own
voice-activity endpointer and decoded segment by segment, as ``pocketsphinx
live`` does, so its memory stays bounded as ours does.  pocketsphinx decodes
one stream at a time: it has no batched mode.

This module does not import ``asr``: that would load torch into the process
whose peak memory is reported as pocketsphinx's.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import itertools
import time
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16_000  # asr.audio.SAMPLE_RATE; tests/test_bench.py checks they agree
MAX_SEGMENT_SECONDS = 20.0  # asr.transcribe.MAX_SEGMENT_SECONDS: longer inputs are cut at pauses
BLOCK_SECONDS = 10.0  # audio read at a time
INT16_SCALE = 32768  # float samples from soundfile back to the 16-bit PCM pocketsphinx reads
INSTALL_HINT = "pip install -r bench/requirements.txt (bash bench/run.sh does it)"


def available() -> bool:
    return importlib.util.find_spec("pocketsphinx") is not None


def version() -> str:
    return importlib.metadata.version("pocketsphinx")


def _pcm(samples: np.ndarray) -> bytes:
    """16-bit PCM; exact for audio that was 16-bit PCM, as soundfile reads it as int / 32768."""
    return np.clip(np.round(samples * INT16_SCALE), -INT16_SCALE, INT16_SCALE - 1).astype("<i2").tobytes()


def read_blocks(path) -> Iterator[np.ndarray]:
    """Mono float32 blocks at 16 kHz, read and resampled as asr.audio_blocks does (soundfile, soxr HQ)."""
    with sf.SoundFile(str(path)) as f:
        resampler = None
        if f.samplerate != SAMPLE_RATE:
            import soxr

            resampler = soxr.ResampleStream(f.samplerate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        for block in f.blocks(blocksize=int(BLOCK_SECONDS * f.samplerate), dtype="float32", always_2d=True):
            mono = block.mean(axis=1)
            yield resampler.resample_chunk(mono) if resampler else mono
        if resampler is not None:
            yield resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


class PocketSphinx:
    """pocketsphinx's default US English models, quiet, at 16 kHz."""

    def __init__(self):
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")

    def transcribe(self, path) -> tuple[str, float]:
        """Text and duration in seconds of one audio file."""
        blocks = read_blocks(path)
        head, head_samples = [], 0
        for block in blocks:
            head.append(block)
            head_samples += block.size
            if head_samples > MAX_SEGMENT_SECONDS * SAMPLE_RATE:
                return self._endpointed(itertools.chain(head, blocks))
        samples = np.concatenate(head) if head else np.zeros(0, np.float32)
        return self._utterance(_pcm(samples)), samples.size / SAMPLE_RATE

    def _utterance(self, pcm: bytes) -> str:
        self.decoder.start_utt()
        if pcm:
            self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        return self._hypothesis()

    def _hypothesis(self) -> str:
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    def _endpointed(self, blocks: Iterable[np.ndarray]) -> tuple[str, float]:
        """Decode speech regions as the endpointer finds them, as LiveSpeech does, one frame at a time."""
        from pocketsphinx import Endpointer

        endpointer, decoder = Endpointer(sample_rate=SAMPLE_RATE), self.decoder
        frame_bytes = endpointer.frame_bytes
        texts, in_utterance, num_samples, pending = [], False, 0, b""

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

        for block in blocks:
            num_samples += block.size
            buffer = memoryview(pending + _pcm(block))
            whole = len(buffer) - len(buffer) % frame_bytes
            for start in range(0, whole, frame_bytes):
                feed(endpointer.process(bytes(buffer[start:start + frame_bytes])))
            pending = bytes(buffer[whole:])
        if pending:  # end_stream flushes the speech still open; it rejects an empty frame
            feed(endpointer.end_stream(pending))
        if in_utterance:
            decoder.end_utt()
            texts.append(self._hypothesis())
        return " ".join(t for t in texts if t), num_samples / SAMPLE_RATE


def measure(peer: PocketSphinx, paths: list[Path], repeats: int = 1) -> dict:
    """Wall and CPU seconds for ``peer`` to transcribe ``paths`` one after another, per second of audio.

    The same fields and the same fastest-of-``repeats`` rule as ``transcribe_speed.measure`` for our model.
    """
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        results = [peer.transcribe(path) for path in paths]
        wall, cpu = min(wall, time.perf_counter() - wall_start), min(cpu, time.process_time() - cpu_start)
    audio = sum(seconds for _, seconds in results)
    return {"audio_s": audio, "wall_s": wall, "cpu_s": cpu, "wall_rtf": wall / audio, "cpu_rtf": cpu / audio,
            "texts": [text for text, _ in results]}

