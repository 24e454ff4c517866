"""Reading audio in blocks, so an hour-long file never has to fit in memory.

    audio = open_audio("lecture.mp3")
    analysis = asr.audio.segment.analyse(audio)        # pass 1: one block at a time
    for piece in audio.slices([(0, 48_000)]):        # pass 2: only the ranges asked for
        ...

:func:`open_audio` checks the input the way :func:`asr.audio.io.load_audio`
does (same one-line :class:`AudioError` messages) and returns an
:class:`AudioBlocks` that can be iterated any number of times, each pass
decoding the source afresh: mono float32 at 16 kHz in blocks of
``BLOCK_SECONDS``.  soundfile reads wav, flac, ogg and mp3 and a streaming
soxr resampler converts the rate; anything else (m4a, aac, wma...) is
decoded by an ``ffmpeg`` subprocess.  Memory per pass is one block plus
whatever the caller keeps.
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from asr.audio.io import SAMPLE_RATE, AudioError, to_mono_16k

BLOCK_SECONDS = 10.0  # audio decoded per read: 640 KB at 16 kHz float32
RESAMPLE_QUALITY = "HQ"  # soxr's "HQ", the quality librosa's "soxr_hq" in asr.audio.io uses


class AudioBlocks:
    """A re-readable source of mono 16 kHz float32 audio, yielded in blocks.

    Args:
        source: an array of 16 kHz samples, a path, or the bytes of an encoded file.
        name: how the source is named in error messages.
    """

    def __init__(self, source, name: str):
        self.source = source
        self.name = name
        self.warnings: list[str] = []  # one line each, for the user: a file that ends early

    def __iter__(self) -> Iterator[np.ndarray]:
        if isinstance(self.source, np.ndarray):
            step = int(BLOCK_SECONDS * SAMPLE_RATE)
            for start in range(0, self.source.size, step):
                yield self.source[start:start + step]
            return
        try:
            import soundfile as sf

            sf.info(self._file())
        except Exception:  # a format libsndfile doesn't know (m4a, wma...): let ffmpeg try
            yield from self._ffmpeg_blocks()
            return
        yield from self._soundfile_blocks()

    def slices(self, ranges: list[tuple[int, int]]) -> Iterator[np.ndarray]:
        """The samples of each (start, end) range, in order; ranges must be sorted by start and by end
        (neighbours may overlap: a piece with the audio around it).

        Holds at most one range plus one block, however long the source.
        """
        pending = iter(ranges)
        current = next(pending, None)
        buffer, buffer_start = np.zeros(0, dtype=np.float32), 0  # samples not yet passed, and where they start
        for block in self:
            if current is None:
                return
            buffer = np.concatenate([buffer, block])
            while current is not None and current[1] <= buffer_start + buffer.size:
                # A copy, so the piece does not keep the whole buffer alive.
                yield buffer[current[0] - buffer_start:current[1] - buffer_start].copy()
                current = next(pending, None)
            if current is not None:  # drop what lies before the next range
                drop = min(max(0, current[0] - buffer_start), buffer.size)
                buffer, buffer_start = buffer[drop:], buffer_start + drop
        if current is not None:
            raise AudioError(f"{self.name}: audio ended early (did the file change while it was read?)")

    def _file(self):
        return io.BytesIO(self.source) if isinstance(self.source, (bytes, bytearray)) else self.source

    def _soundfile_blocks(self) -> Iterator[np.ndarray]:
        """soundfile's blocks; from damaged data on (a truncated flac), ffmpeg's, which decodes more of it."""
        import soundfile as sf
        import soxr

        emitted = 0  # 16 kHz samples yielded so far
        with sf.SoundFile(self._file()) as f:
            rate, declared = f.samplerate, _declared_frames(self._file(), f)
            resampler = None
            if rate != SAMPLE_RATE:
                resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality=RESAMPLE_QUALITY)
            try:
                for block in f.blocks(blocksize=int(BLOCK_SECONDS * rate), dtype="float32", always_2d=True):
                    mono = block.mean(axis=1)
                    samples = self._checked(resampler.resample_chunk(mono) if resampler else mono)
                    emitted += samples.size
                    yield samples
                if resampler is not None:
                    samples = self._checked(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
                    emitted += samples.size
                    yield samples
            except AudioError:
                raise
            except Exception as error:  # libsndfile gave up on damaged data: let ffmpeg decode what it can
                reason = _first_line(error)
                try:
                    for samples in self._ffmpeg_blocks():
                        skip = min(samples.size, emitted)
                        emitted, samples = emitted + samples.size - skip, samples[skip:]
                        if samples.size:
                            yield samples
                except AudioError:
                    if not emitted:
                        raise AudioError(f"{self.name}: corrupt audio ({reason})") from None
        if declared is not None and (present := emitted * rate / SAMPLE_RATE) < declared - rate * 0.01:
            self._warn(f"{self.name}: the file ends early: {(declared - present) / rate:.1f} s of the "
                       f"{declared / rate:.1f} s its header declares are missing; the "
                       f"{present / rate:.1f} s present are transcribed")

    def _warn(self, message: str) -> None:
        if message not in self.warnings:  # each pass over the file finds it again
            self.warnings.append(message)

    def _ffmpeg_blocks(self) -> Iterator[np.ndarray]:
        from_bytes = isinstance(self.source, (bytes, bytearray))
        given = "pipe:0" if from_bytes else os.fspath(self.source)
        command = ["ffmpeg", "-v", "error", *([] if from_bytes else ["-nostdin"]), "-i", given,
                   "-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "pipe:1"]  # raw mono float32 at 16 kHz
        # ffmpeg's complaints go to a file, not a pipe: a damaged hour-long file can log more than a
        # pipe holds, and ffmpeg blocked on stderr while we wait on its stdout would hang us both.
        error_log = tempfile.TemporaryFile()
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE if from_bytes else subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=error_log)
        except FileNotFoundError:
            error_log.close()
            raise AudioError(f"{self.name}: not a readable audio file (and ffmpeg is not installed)") from None
        if from_bytes:  # fed from a thread: ffmpeg may fill stdout before it has read all its input
            threading.Thread(target=_feed, args=(process.stdin, self.source), daemon=True).start()
        block_bytes = int(BLOCK_SECONDS * SAMPLE_RATE) * 4
        try:
            while chunk := process.stdout.read(block_bytes):
                yield self._checked(np.frombuffer(chunk[: len(chunk) // 4 * 4], dtype="<f4"))
        finally:
            process.stdout.close()
            status = process.wait()
            error_log.seek(0)
            errors = error_log.read().decode(errors="replace")
            error_log.close()
        if status != 0:
            reason = _first_line(errors).removeprefix(f"{given}: ")  # the name is already in our message
            raise AudioError(f"{self.name}: not a readable audio file ({reason or 'ffmpeg failed'})")

    def _checked(self, samples: np.ndarray) -> np.ndarray:
        if not np.all(np.isfinite(samples)):
            raise AudioError(f"{self.name}: audio contains NaN or infinite samples")
        return np.ascontiguousarray(samples, dtype=np.float32)


def open_audio(source, name: str | None = None) -> AudioBlocks:
    """Check an input and return its :class:`AudioBlocks`.

    Args:
        source: a path, ``bytes`` of an encoded file (e.g. stdin), or an array of 16 kHz samples.
        name: the name used in messages (default: the path, or ``<stdin>`` for bytes).
    Raises:
        AudioError: a missing path, a directory, an empty file or empty bytes. Corrupt or
            non-audio content is only found when the blocks are read.
    """
    if isinstance(source, np.ndarray) or hasattr(source, "numpy"):
        return AudioBlocks(to_mono_16k(source.numpy() if hasattr(source, "numpy") else source, SAMPLE_RATE),
                           name or "<array>")
    if isinstance(source, (bytes, bytearray)):
        name = name or "<stdin>"
        if not source:
            raise AudioError(f"{name}: no audio data (empty input)")
        return AudioBlocks(bytes(source), name)
    path = Path(os.fspath(source))
    name = name or str(path)
    if not path.exists():
        raise AudioError(f"{name}: no such file")
    if path.is_dir():
        raise AudioError(f"{name}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{name}: file is empty")
    return AudioBlocks(path, name)


def _declared_frames(file, f) -> int | None:
    """The length in frames a file's header declares, where it declares one (wav, flac); else None.

    libsndfile reports a truncated wav's frames as those present, so the wav's data chunk size is
    read from the header itself; a flac's STREAMINFO total is what libsndfile reports.
    """
    if f.format == "FLAC":
        return f.frames or None
    if f.format != "WAV":
        return None
    import struct

    handle = open(file, "rb") if not hasattr(file, "read") else file
    try:
        handle.seek(0)
        if handle.read(4) != b"RIFF" or (handle.read(4) and handle.read(4) != b"WAVE"):
            return None
        block_align = None
        while len(header := handle.read(8)) == 8:
            chunk, size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk == b"fmt ":
                block_align = struct.unpack("<H", handle.read(16)[12:14])[0]
                handle.seek(size - 16 + size % 2, 1)
            elif chunk == b"data":
                # A size of 0 or 0xFFFFFFFF is a streamed wav that never went back to fill it in.
                if not block_align or size in (0, 0xFFFFFFFF):
                    return None
                return size // block_align
            else:
                handle.seek(size + size % 2, 1)
        return None
    finally:
        if handle is not file:
            handle.close()


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, ValueError):
        pass  # ffmpeg gave up on the input; its exit status says why
    finally:
        try:
            pipe.close()
        except BrokenPipeError:
            pass


def _first_line(error) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:160] if lines else type(error).__name__
