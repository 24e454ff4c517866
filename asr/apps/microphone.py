"""The microphone loop: capture audio blocks, cut them into utterances at pauses, transcribe each one.

Two threads share the work so that neither waits on the other.  PortAudio's
callback only copies each block into a :class:`BlockQueue`, because a callback
that returns late makes the device overrun.  A consumer thread passes the
blocks to an :class:`asr.audio.endpoint.Endpointer` and decodes each utterance that
it closes.  While an utterance is being decoded, the queue holds the audio
that keeps arriving, up to ``MAX_QUEUE_SECONDS``.  Blocks are dropped only
when the queue is that far behind, and every dropped block is counted.

While an utterance is still open, it is also decoded every ``PARTIAL_EVERY_SECONDS``
of new speech (the ``running`` preset: a small beam with CTC prefix scores, which
end the text where the audio ends), for a running (partial) transcript
that the final one replaces at the pause.  A running transcript is decoded in a
thread of its own while the consumer goes on cutting the newer audio.  When the
utterance ends, its final decode starts at once and never waits for a running
transcript: one that has already shown words is stopped
(:class:`asr.decoding.search.DecodingStopped`); the utterance's first is left
to finish beside the final decode and is shown if it is done first, because on
a busy machine a short phrase may end before its first running transcript is
decoded, and the search on the first fraction of a second costs little.
Either way it is stopped once the final line is ready, and never shown after
it.  A partial is not started while newer audio is waiting in the queue, and
waits at least as long as the previous one took: catching up comes first, so a
busy machine shows fewer partials.

The queue and the decoding thread work on plain arrays, so the tests need no
sound device.  Only :func:`listen` and the device helpers import sounddevice.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

import numpy as np

from asr.audio.io import SAMPLE_RATE, to_mono_16k
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # decoding needs torch; the microphone code loads it only when it decodes
    from asr.decoding.search import DecodeOptions
from asr.audio.endpoint import MIN_PAUSE_SECONDS, Endpointer, Utterance

BLOCK_SECONDS = 0.050  # audio per PortAudio callback
MAX_QUEUE_SECONDS = 120.0  # how far decoding may fall behind capture before blocks are dropped
# A device that has delivered more than this factor of real time (after a second's slack) has no real
# clock: blocks it delivers past a full queue are skipped, not counted as lost audio.
REAL_TIME_FACTOR = 1.5
REAL_TIME_SLACK_SECONDS = 1.0
TICK_SECONDS = 0.1  # how often the status callback runs
PARTIAL_EVERY_SECONDS = 0.6  # new speech in the open utterance between two running transcripts
STREAM_DTYPE = "int16"  # what every capture device can give; converted to float32 in the callback


class MicrophoneError(RuntimeError):
    """No usable input device, or a device that won't open; the message is one line for the user."""


class BlockQueue:
    """The hand-over from the audio callback to the consumer: bounded, and never blocks the producer.

    ``put`` runs in PortAudio's callback and only appends.  When the consumer is
    ``max_seconds`` behind, a block is dropped and counted instead.  ``get``
    returns None once the queue is closed and empty.
    """

    def __init__(self, sample_rate: int, max_seconds: float = MAX_QUEUE_SECONDS):
        self.sample_rate = sample_rate
        self.max_samples = int(max_seconds * sample_rate)
        self.overruns = 0  # blocks the device reported as overflowed (audio lost before it reached us)
        self.dropped_blocks = 0  # blocks lost because decoding was max_seconds behind a real-time device
        self.dropped_samples = 0
        self.skipped_samples = 0  # audio a faster-than-real-time device delivered beyond what was decoded
        self._started: float | None = None  # when the first block arrived
        self._received = 0  # samples delivered so far
        self.level_db = -120.0  # level of the latest block, for a meter that moves while decoding runs
        self._blocks: collections.deque[np.ndarray] = collections.deque()
        self._queued = 0
        self._closed = False
        self._ready = threading.Condition()

    @property
    def dropped_seconds(self) -> float:
        return self.dropped_samples / self.sample_rate

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def skipped_seconds(self) -> float:
        return self.skipped_samples / self.sample_rate

    @property
    def queued_seconds(self) -> float:
        return self._queued / self.sample_rate

    @property
    def waiting(self) -> bool:
        """Whether blocks are queued that the consumer has not taken yet."""
        return self._queued > 0

    def _ahead_of_real_time(self) -> bool:
        """Whether the device has delivered clearly more audio than wall-clock time has passed."""
        elapsed = time.monotonic() - self._started
        return self._received > (elapsed + REAL_TIME_SLACK_SECONDS) * self.sample_rate * REAL_TIME_FACTOR

    def put(self, block: np.ndarray, overflowed: bool = False) -> None:
        if self._started is None:
            self._started = time.monotonic()
        self._received += block.size
        self.overruns += bool(overflowed)
        if block.size:
            self.level_db = float(10 * np.log10(np.mean(np.square(block, dtype=np.float64)) + 1e-12))
        with self._ready:
            if self._closed:
                return
            if self._queued + block.size > self.max_samples:
                if self._ahead_of_real_time():
                    # A device without a real clock (a file played as a capture device) delivers
                    # faster than anyone speaks: what decoding can't keep up with is skipped, not lost.
                    self.skipped_samples += block.size
                else:
                    self.dropped_blocks += 1
                    self.dropped_samples += block.size
                return
            self._blocks.append(block)
            self._queued += block.size
            self._ready.notify()

    def get(self, timeout: float | None = None) -> np.ndarray | None:
        """The oldest block; None when closed and drained.  Raises TimeoutError after ``timeout`` seconds."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._blocks or self._closed, timeout):
                raise TimeoutError
            if not self._blocks:
                return None
            block = self._blocks.popleft()
            self._queued -= block.size
            return block

    def close(self) -> None:
        """No more blocks: ``get`` drains what is queued, then returns None."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()


class UtteranceDecoder(threading.Thread):
    """The consumer thread: blocks from a :class:`BlockQueue` in, transcribed utterances out.

    Runs until the queue is closed and drained, ``max_utterances`` are done or
    ``max_seconds`` of audio have been endpointed.  ``on_utterance(utterance,
    transcription)`` is called in order from this thread.  The utterance is
    resampled to 16 kHz, and the transcription's times are relative to its
    start.  An exception raised here is kept in ``error`` for the caller.

    With ``on_partial``, the open utterance is also decoded with ``partial_options``
    (the ``running`` preset by default) after each ``partial_every_seconds`` of new audio, when no
    newer block is waiting, and ``on_partial(utterance, transcription)`` gets the
    utterance so far; the next ``on_utterance`` or ``on_partial`` supersedes it.  Running
    transcripts are decoded in a second thread, with ``model.transcribe(..., stop=...)``.  When
    the utterance ends, one is stopped at once if the utterance has shown a running transcript
    already, else once its final decode is done; ``on_partial`` is never called after its
    utterance's ``on_utterance``.
    """

    def __init__(self, model, blocks: BlockQueue, endpointer: Endpointer, on_utterance,
                 options: DecodeOptions | None = None, max_utterances: int | None = None,
                 max_seconds: float | None = None, on_partial=None,
                 partial_options: DecodeOptions | None = None,
                 partial_every_seconds: float = PARTIAL_EVERY_SECONDS, itn: bool = True):
        super().__init__(name="asr-listen-decoder", daemon=True)
        self.model, self.blocks, self.endpointer, self.on_utterance = model, blocks, endpointer, on_utterance
        if options is None:  # the listen preset, less what the checkpoint lacks
            from asr.decoding.presets import DEFAULT_PRESET, preset, usable

            options = usable(preset(DEFAULT_PRESET["listen"]), model)
        self.options, self.max_utterances, self.itn = options, max_utterances, itn
        self.max_samples = None if max_seconds is None else round(max_seconds * endpointer.sample_rate)
        self.on_partial = on_partial
        if partial_options is None and on_partial is not None:  # the running-transcript preset
            from asr.decoding.presets import DEFAULT_PRESET, preset

            partial_options = preset(DEFAULT_PRESET["running"])
        self.partial_options = partial_options
        self.partial_every = round(partial_every_seconds * endpointer.sample_rate)
        self._partial_of: tuple[float, int] = (-1.0, 0)  # (start, samples) of the utterance last decoded partially
        self._shown_of = -1.0  # start of the utterance whose running transcript was last shown
        self._partial_seconds = 0.0  # how long the latest running transcript took to decode
        self._partial_done = 0.0  # when it was done (time.monotonic())
        self.partials = 0  # running transcripts shown
        self.partials_stopped = 0  # running transcripts abandoned because their utterance ended
        self._partial: threading.Thread | None = None  # the running transcript being decoded, if any
        self._partial_stop = threading.Event()  # set when its utterance has ended
        self._partial_error: BaseException | None = None
        self.count = 0
        self.decoding = False
        self.error: BaseException | None = None
        self.done = threading.Event()

    @property
    def state(self) -> str:
        """``transcribing``, ``speech`` (inside an utterance) or ``listening``."""
        return "transcribing" if self.decoding else "speech" if self.endpointer.in_speech else "listening"

    def run(self) -> None:
        try:
            try:
                self._consume()
            finally:
                self._stop_partial()  # no running transcript outlives the decoder
        except BaseException as error:  # reported by listen() in the caller's thread
            self.error = error
        finally:
            self.done.set()

    def _consume(self) -> None:
        consumed = 0
        while not self._enough():
            try:
                block = self.blocks.get(timeout=TICK_SECONDS)
            except TimeoutError:
                continue
            if block is None:
                break
            if self.max_samples is not None:
                block = block[: self.max_samples - consumed]
            consumed += block.size
            for utterance in self.endpointer.push(block):
                self._decode(utterance)
                if self._enough():
                    return
            if self.max_samples is not None and consumed >= self.max_samples:
                break
            if self.on_partial is not None and not self.blocks.waiting:
                self._start_partial()
        self._stop_partial()
        for utterance in self.endpointer.flush():
            if not self._enough():
                self._decode(utterance)

    def _enough(self) -> bool:
        return self.max_utterances is not None and self.count >= self.max_utterances

    def _decode(self, utterance: Utterance) -> None:
        if self._shown_of == utterance.start:  # words of it are on screen: the final line comes first
            self._stop_partial()
        self.decoding = True
        try:
            audio = to_mono_16k(utterance.samples, utterance.sample_rate)
            transcription = self.model.transcribe(audio, options=self.options, itn=self.itn)
        finally:
            self.decoding = False
            self._stop_partial()  # its first running transcript, if still searching, is too late now
        self.count += 1
        self.on_utterance(Utterance(utterance.start, audio, SAMPLE_RATE), transcription)

    def _next_partial(self) -> tuple[float, np.ndarray] | None:
        """(start, 16 kHz audio) of the open utterance when its next running transcript is due."""
        if self._partial is not None and self._partial.is_alive():
            return None  # one at a time
        utterance = self.endpointer.open_utterance()
        if utterance is None:
            return None
        start, decoded = self._partial_of
        if start == utterance.start and utterance.samples.size - decoded < self.partial_every:
            return None
        if start != utterance.start and utterance.samples.size < self.partial_every:
            return None
        if time.monotonic() - self._partial_done < self._partial_seconds:
            return None  # on a slow machine, running transcripts take at most half the decoder's time
        self._partial_of = (utterance.start, utterance.samples.size)
        return utterance.start, to_mono_16k(utterance.samples, utterance.sample_rate)

    def _decode_partial(self) -> None:
        """The open utterance's running transcript, in this thread, once ``partial_every`` new samples have come."""
        due = self._next_partial()
        if due is not None:
            self._partial_stop.clear()
            self._run_partial(*due)

    def _start_partial(self) -> None:
        """As :meth:`_decode_partial`, in a thread of its own, so cutting the newer audio goes on meanwhile."""
        due = self._next_partial()
        if due is not None:
            self._partial_stop.clear()
            self._partial = threading.Thread(target=self._run_partial, args=due, name="asr-listen-partial",
                                             daemon=True)
            self._partial.start()

    def _run_partial(self, start: float, audio: np.ndarray) -> None:
        from asr.decoding.search import DecodingStopped

        began = time.monotonic()
        try:
            transcription = self.model.transcribe(audio, options=self.partial_options, itn=self.itn,
                                                  stop=self._partial_stop.is_set)
        except DecodingStopped:
            self.partials_stopped += 1
            return
        except BaseException as error:  # raised again in the consumer's thread
            self._partial_error = error
            return
        finally:
            self._partial_done = time.monotonic()
            self._partial_seconds = self._partial_done - began
        if not self._partial_stop.is_set():  # else its final line is ready: that comes instead
            self.partials += 1
            self._shown_of = start
            self.on_partial(Utterance(start, audio, SAMPLE_RATE), transcription)

    def _stop_partial(self) -> None:
        """Stop the running transcript's search (its final line comes instead) and wait until it has let go."""
        self._partial_stop.set()
        if self._partial is not None:
            self._partial.join()
            self._partial = None
        if self._partial_error is not None:
            error, self._partial_error = self._partial_error, None
            raise error


@dataclass
class ListenStats:
    """How a :func:`listen` session went."""

    device: str
    sample_rate: int  # the rate captured at (resampled to 16 kHz when it differs)
    utterances: int = 0
    seconds: float = 0.0  # audio endpointed
    overruns: int = 0  # blocks the device reported as overflowed
    dropped_blocks: int = 0  # blocks dropped because decoding was MAX_QUEUE_SECONDS behind
    dropped_seconds: float = 0.0
    skipped_seconds: float = 0.0  # delivered faster than real time and not decoded (not lost speech)
    interrupted: bool = False  # stopped by Ctrl-C


def listen(model, device=None, *, on_utterance, on_tick=None, on_partial=None, options: DecodeOptions | None = None,
           max_utterances: int | None = None, max_seconds: float | None = None,
           min_pause_seconds: float = MIN_PAUSE_SECONDS, itn: bool = True) -> ListenStats:
    """Transcribe speech from an input device until a limit is reached, the stream ends, or Ctrl-C.

    Args:
        model: a loaded :class:`asr.model.las.LAS`.
        device: None (the default input), an index, a name or part of one, or a dict from :func:`find_device`.
        on_utterance: ``f(utterance, transcription)``, called for each utterance from the decoding thread.
        on_tick: ``f(state, level_db)``, called about every ``TICK_SECONDS`` from this thread, for a meter.
        on_partial: ``f(utterance, transcription)``, the running transcript of the utterance still open
            (the ``running`` preset, every ``PARTIAL_EVERY_SECONDS``), from the decoding thread; None decodes none.
        options: how each utterance is decoded.
        max_utterances, max_seconds: stop after this many utterances or seconds of audio.
        itn: write numbers as numerals (see :mod:`asr.decoding.written`).
    Raises:
        MicrophoneError: no such device, or it won't open at 16 kHz or at its own rate.
    """
    sd = _sounddevice()
    info = device if isinstance(device, dict) else find_device(device)
    rate, channels = _stream_settings(sd, info)
    blocks = BlockQueue(rate)
    decoder = UtteranceDecoder(model, blocks, Endpointer(rate, min_pause_seconds), on_utterance, options,
                               max_utterances, max_seconds, on_partial=on_partial, itn=itn)

    def callback(indata, frames, time, status):  # PortAudio's thread: copy and return, nothing else
        blocks.put(indata.mean(axis=1, dtype=np.float32) * (1 / 32768), bool(status.input_overflow))

    stream = None
    try:  # a busy or vanished device fails here
        stream = sd.InputStream(device=info["index"], samplerate=rate, channels=channels, dtype=STREAM_DTYPE,
                                blocksize=round(BLOCK_SECONDS * rate), callback=callback,
                                finished_callback=blocks.close)
        stream.start()
    except (sd.PortAudioError, ValueError) as error:
        if stream is not None:
            stream.close(ignore_errors=True)
        raise MicrophoneError(f"cannot open input device {info['name']!r} ({_first_line(error)}); "
                              f"{describe_devices(input_devices())}") from None
    stats = ListenStats(device=info["name"], sample_rate=rate)
    decoder.start()
    try:
        while not decoder.done.wait(TICK_SECONDS):
            if on_tick is not None:
                on_tick(decoder.state, blocks.level_db)
    except KeyboardInterrupt:
        stats.interrupted = True
    finally:
        stream.close(ignore_errors=True)  # stops capture; the decoder drains what was queued
        blocks.close()
    decoder.join()
    if decoder.error is not None:
        raise decoder.error
    stats.utterances, stats.seconds = decoder.count, decoder.endpointer.seconds
    stats.overruns, stats.dropped_blocks, stats.dropped_seconds = (blocks.overruns, blocks.dropped_blocks,
                                                                   blocks.dropped_seconds)
    stats.skipped_seconds = blocks.skipped_seconds
    return stats


def _sounddevice():
    try:
        import sounddevice
    except OSError as error:  # the Python package is there but the PortAudio library is not
        raise MicrophoneError(f"PortAudio is not available ({_first_line(error)}); install libportaudio2") from None
    return sounddevice


def input_devices() -> list[dict]:
    """Every device with input channels, as sounddevice describes it: ``index``, ``name``, ``default_samplerate``..."""
    return [dict(d) for d in _sounddevice().query_devices() if d["max_input_channels"] > 0]


def describe_devices(devices: list[dict]) -> str:
    """One line naming the input devices, for error messages."""
    if not devices:
        return "no input devices are available"
    return "input devices: " + ", ".join(f"[{d['index']}] {d['name']} ({d['default_samplerate']:.0f} Hz)"
                                         for d in devices)


def find_device(spec: str | int | None = None) -> dict:
    """The input device for ``--device``: None is the default input, digits an index, text (part of) a name."""
    devices = input_devices()
    if not devices:
        raise MicrophoneError("no input device found: connect a microphone, or check that PortAudio can see it")
    if spec is None:
        sd = _sounddevice()
        try:
            return dict(sd.query_devices(kind="input"))
        except sd.PortAudioError:
            raise MicrophoneError(f"no default input device; choose one with --device: "
                                  f"{describe_devices(devices)}") from None
    if isinstance(spec, int) or str(spec).strip().isdigit():
        found = [d for d in devices if d["index"] == int(spec)]
        if not found:
            raise MicrophoneError(f"no input device with index {int(spec)}; {describe_devices(devices)}")
        return found[0]
    matches = [d for d in devices if spec.lower() in d["name"].lower()]
    exact = [d for d in matches if d["name"].lower() == spec.lower()]
    if len(exact) == 1 or len(matches) == 1:
        return (exact or matches)[0]
    if not matches:
        raise MicrophoneError(f"no input device named {spec!r}; {describe_devices(devices)}")
    raise MicrophoneError(f"{spec!r} matches several input devices, choose one by index: {describe_devices(matches)}")


def _stream_settings(sd, info: dict) -> tuple[int, int]:
    """(sample rate, channels) the device accepts: 16 kHz mono if it can, else its own rate and/or stereo."""
    rates = dict.fromkeys([SAMPLE_RATE, int(info["default_samplerate"])])
    channel_counts = dict.fromkeys([1, min(2, info["max_input_channels"])])
    error = None
    for rate in rates:
        for channels in channel_counts:
            try:
                sd.check_input_settings(device=info["index"], samplerate=rate, channels=channels, dtype=STREAM_DTYPE)
                return rate, channels
            except (sd.PortAudioError, ValueError) as failure:
                error = failure
    raise MicrophoneError(f"input device {info['name']!r} can't record at {' or '.join(f'{r} Hz' for r in rates)} "
                          f"({_first_line(error)}); {describe_devices(input_devices())}")


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:160] if text else type(error).__name__
