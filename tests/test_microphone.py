"""The microphone loop without a microphone: endpointing, the block queue, the decoding thread, device errors."""

import argparse
import shutil
import subprocess
import time
import types

import numpy as np
import pytest
import soundfile as sf

from asr.apps import microphone
from asr.cli import listen as listen_command
from asr.audio.endpoint import MARGIN_SECONDS, Endpointer
from asr.apps.microphone import BlockQueue, MicrophoneError, UtteranceDecoder
from asr.decoding.presets import DEFAULT_PRESET, preset
from asr.audio.segment import FRAME_SECONDS

RATE = 16_000
RUNNING = preset(DEFAULT_PRESET["running"])  # what running transcripts decode with
NOISE_DB = -65.0
SPEECH_DB = -25.0
# (start, end) seconds of "speech" in the synthesized recording; the 0.2 s gap inside the
# first is shorter than a pause, so it must not split the utterance.
SPEECH = [(0.6, 1.2), (1.4, 2.0), (3.0, 3.8), (4.9, 6.2)]
UTTERANCES = [(0.6, 2.0), (3.0, 3.8), (4.9, 6.2)]
TOTAL_SECONDS = 7.5


def _level(db: float) -> float:
    return 10 ** (db / 20)


def synthesize(path, regions=SPEECH, seconds=TOTAL_SECONDS, rate=RATE, seed=0):
    """A wav of faint noise with louder, syllable-modulated noise bursts in ``regions``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    audio = rng.standard_normal(t.size) * _level(NOISE_DB)
    for start, end in regions:
        inside = (t >= start) & (t < end)
        syllables = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t[inside])  # 4 Hz, like syllables, never silent
        audio[inside] += rng.standard_normal(inside.sum()) * _level(SPEECH_DB) * syllables
    sf.write(path, audio.astype(np.float32), rate, subtype="PCM_16")
    return path


def endpoint(samples, rate=RATE, block=800, **kwargs):
    endpointer = Endpointer(rate, **kwargs)
    found = []
    for i in range(0, samples.size, block):
        found += endpointer.push(samples[i:i + block])
    return found + endpointer.flush()


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    samples, rate = sf.read(synthesize(tmp_path_factory.mktemp("mic") / "pauses.wav"), dtype="float32")
    return samples, rate


def test_endpointer_cuts_at_pauses_with_margins(recording):
    samples, rate = recording
    found = endpoint(samples, rate)
    assert len(found) == len(UTTERANCES)
    frame = FRAME_SECONDS
    for utterance, (start, end) in zip(found, UTTERANCES):
        assert utterance.sample_rate == rate
        assert utterance.start == pytest.approx(start - MARGIN_SECONDS, abs=2 * frame)
        assert utterance.end == pytest.approx(end + MARGIN_SECONDS, abs=2 * frame)
        first = int(round(utterance.start * rate))  # the samples are exactly the recording's, not a copy of noise
        np.testing.assert_array_equal(utterance.samples, samples[first:first + utterance.samples.size])


@pytest.mark.parametrize("lead", [0.0, 0.5])
def test_a_short_word_said_as_capture_starts_is_an_utterance(lead):
    """A 0.2-s word at the very start of the stream has no quiet before it to measure the noise
    floor by: the stream's first second is held until its floor is known, so the word is kept."""
    rng = np.random.default_rng(4)
    word = rng.standard_normal(int(0.2 * RATE)) * _level(SPEECH_DB)  # loud, too short for the detector
    quiet = lambda seconds: rng.standard_normal(int(seconds * RATE)) * _level(NOISE_DB)
    samples = np.concatenate([quiet(lead), word, quiet(2.0)]).astype(np.float32)
    found = endpoint(samples)
    assert len(found) == 1
    assert found[0].start <= lead + 0.05 and found[0].end >= lead + 0.2
    assert endpoint(np.concatenate([quiet(lead), quiet(2.2)]).astype(np.float32)) == []  # the room alone is not


def test_block_size_does_not_change_the_utterances(recording):
    samples, rate = recording
    reference = endpoint(samples, rate, block=800)
    for block in (37, 481, 4096, samples.size):
        found = endpoint(samples, rate, block=block)
        assert [(u.start, u.samples.size) for u in found] == [(u.start, u.samples.size) for u in reference]


def test_native_rate_gives_the_same_boundaries(tmp_path):
    samples, rate = sf.read(synthesize(tmp_path / "44k.wav", rate=44_100), dtype="float32")
    found = endpoint(samples, rate, block=2205)
    assert len(found) == len(UTTERANCES)
    for utterance, (start, _) in zip(found, UTTERANCES):
        assert utterance.sample_rate == 44_100
        assert utterance.start == pytest.approx(start - MARGIN_SECONDS, abs=0.06)


def test_longer_min_pause_joins_utterances(recording):
    samples, rate = recording
    assert len(endpoint(samples, rate, min_pause_seconds=1.05)) == 2  # the 1.0 s pause no longer ends one


def test_silence_and_clicks_give_no_utterance(tmp_path):
    silence, rate = sf.read(synthesize(tmp_path / "quiet.wav", regions=[]), dtype="float32")
    assert endpoint(silence, rate) == []
    clicks, rate = sf.read(synthesize(tmp_path / "clicks.wav", regions=[(1.0, 1.05), (3.0, 3.06)]), dtype="float32")
    assert endpoint(clicks, rate) == []


def test_flush_closes_speech_at_the_end_of_the_stream(tmp_path):
    samples, rate = sf.read(synthesize(tmp_path / "cut.wav", regions=[(1.0, 3.0)], seconds=3.0), dtype="float32")
    endpointer = Endpointer(rate)
    assert endpointer.push(samples) == []
    assert endpointer.in_speech
    (utterance,) = endpointer.flush()
    assert utterance.start == pytest.approx(1.0 - MARGIN_SECONDS, abs=0.06)
    assert utterance.end == pytest.approx(3.0, abs=0.06)
    assert not endpointer.in_speech and endpointer.flush() == []


def test_speech_without_pause_is_cut_into_contiguous_pieces(tmp_path):
    words = [(0.5 + 1.2 * i, 0.5 + 1.2 * i + 1.05) for i in range(8)]  # 0.15 s gaps: shorter than a pause
    samples, rate = sf.read(synthesize(tmp_path / "long.wav", regions=words, seconds=10.5), dtype="float32")
    found = endpoint(samples, rate, max_utterance_seconds=4.0)
    assert len(found) >= 3
    assert all(u.duration <= 4.0 + 1e-9 for u in found)
    for before, after in zip(found, found[1:]):
        assert after.start == pytest.approx(before.end)  # nothing lost or repeated at a cut
    assert found[0].start == pytest.approx(0.5 - MARGIN_SECONDS, abs=0.06)
    assert found[-1].end == pytest.approx(words[-1][1] + MARGIN_SECONDS, abs=0.06)


def test_endpointer_adapts_to_a_noisy_room(tmp_path):
    """Noise at -45 dBFS is above the absolute floor; only the louder bursts are speech."""
    rng = np.random.default_rng(1)
    samples, rate = sf.read(synthesize(tmp_path / "room.wav"), dtype="float32")
    samples = samples + rng.standard_normal(samples.size).astype(np.float32) * _level(-45.0)
    assert len(endpoint(samples, rate)) == len(UTTERANCES)


# The queue between the audio callback and the decoder.

def test_block_queue_keeps_order_and_drains_after_close():
    blocks = BlockQueue(RATE, max_seconds=1.0)
    for i in range(3):
        blocks.put(np.full(800, i, dtype=np.float32))
    blocks.close()
    blocks.put(np.zeros(800, dtype=np.float32))  # after close: ignored
    assert [int(blocks.get(0)[0]) for _ in range(3)] == [0, 1, 2]
    assert blocks.get(0) is None


def test_block_queue_never_blocks_the_producer_and_counts_what_it_drops():
    blocks = BlockQueue(RATE, max_seconds=0.5)  # ten 50 ms blocks
    started = time.perf_counter()
    for _ in range(15):
        blocks.put(np.ones(800, dtype=np.float32), overflowed=False)
    blocks.put(np.ones(800, dtype=np.float32), overflowed=True)
    assert time.perf_counter() - started < 0.5
    assert blocks.queued_seconds == pytest.approx(0.5)
    assert blocks.dropped_blocks == 6 and blocks.dropped_seconds == pytest.approx(0.3)
    assert blocks.overruns == 1
    assert blocks.level_db == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(TimeoutError):
        BlockQueue(RATE).get(timeout=0.01)


def test_a_device_faster_than_real_time_is_skipped_not_dropped():
    """A file played as a capture device has no clock: what decoding can't keep up with is not lost speech."""
    blocks = BlockQueue(RATE, max_seconds=0.5)
    for _ in range(200):  # 10 s of audio in far less than a second
        blocks.put(np.ones(800, dtype=np.float32))
    # Only what arrived within the first second's slack, before the device could be told apart
    # from a real-time one that decoding fell behind, is counted as dropped.
    assert blocks.dropped_seconds <= 1.0
    assert blocks.dropped_seconds + blocks.skipped_seconds == pytest.approx(10.0 - 0.5)
    assert blocks.skipped_seconds >= 8.5


class SlowModel:
    """Stands in for LAS: takes its time, records what it was given."""

    def __init__(self, seconds=0.3):
        self.seconds, self.heard = seconds, []

    def transcribe(self, audio, **options):  # LAS.transcribe's signature
        self.heard.append(audio)
        time.sleep(self.seconds)
        return types.SimpleNamespace(text=f"utterance {len(self.heard)}", words=[], confidence=1.0)


def _run_decoder(samples, rate, model, **limits):
    blocks, results = BlockQueue(rate), []
    decoder = UtteranceDecoder(model, blocks, Endpointer(rate), lambda u, t: results.append((u, t)), **limits)
    decoder.start()
    block = rate // 20
    for i in range(0, samples.size, block):  # the "callback": real time, 20x faster than real time
        blocks.put(samples[i:i + block])
        time.sleep(0.0025)
    blocks.close()
    decoder.join(timeout=30)
    assert not decoder.is_alive() and decoder.error is None
    return decoder, blocks, results


def test_decoding_does_not_hold_up_capture(recording):
    samples, rate = recording
    decoder, blocks, results = _run_decoder(samples, rate, SlowModel(0.3))
    assert blocks.dropped_blocks == 0
    assert [t.text for _, t in results] == ["utterance 1", "utterance 2", "utterance 3"]
    assert [u.start for u, _ in results] == sorted(u.start for u, _ in results)
    assert decoder.count == 3


def test_decoder_stops_after_max_utterances_and_max_seconds(recording):
    samples, rate = recording
    _, _, results = _run_decoder(samples, rate, SlowModel(0.0), max_utterances=2)
    assert len(results) == 2
    _, _, results = _run_decoder(samples, rate, SlowModel(0.0), max_seconds=3.5)
    assert len(results) == 2  # the second utterance is open at 3.5 s and flushed there
    assert results[-1][0].end == pytest.approx(3.5, abs=0.06)


def test_decoder_resamples_native_rate_audio_to_16k(tmp_path):
    samples, rate = sf.read(synthesize(tmp_path / "48k.wav", rate=48_000), dtype="float32")
    model = SlowModel(0.0)
    _, _, results = _run_decoder(samples, rate, model)
    assert len(results) == len(UTTERANCES)
    for (utterance, _), heard in zip(results, model.heard):
        assert utterance.sample_rate == RATE and heard.dtype == np.float32
        assert heard.size == pytest.approx(utterance.duration * RATE, abs=2)


def _run_with_partials(samples, rate, model, real_time=True, **kwargs):
    """The decoder fed in 50 ms blocks; returns every event ("partial" or "final", start, text, options)."""
    blocks, events = BlockQueue(rate), []
    decoder = UtteranceDecoder(model, blocks, Endpointer(rate),
                               lambda u, t: events.append(("final", u.start, t.text)),
                               on_partial=lambda u, t: events.append(("partial", u.start, t.text)), **kwargs)
    block = rate // 20
    if not real_time:  # everything queued before decoding starts: the decoder is behind from the start
        for i in range(0, samples.size, block):
            blocks.put(samples[i:i + block])
    decoder.start()
    if real_time:
        for i in range(0, samples.size, block):
            blocks.put(samples[i:i + block])
            time.sleep(0.01)
    blocks.close()
    decoder.join(timeout=60)
    assert not decoder.is_alive() and decoder.error is None
    return decoder, events


class OptionsModel(SlowModel):
    """Also records the decoding options of each call."""

    def __init__(self, seconds=0.0):
        super().__init__(seconds)
        self.options = []

    def transcribe(self, audio, options=None, itn=True, stop=None):
        self.options.append(options)
        self.itn = itn
        return super().transcribe(audio)


def test_running_transcripts_come_while_speaking_and_the_final_line_after_them(recording):
    from asr.decoding.search import DecodeOptions

    samples, rate = recording
    model = OptionsModel()
    final_options = DecodeOptions(beam_size=8)
    decoder, events = _run_with_partials(samples, rate, model, options=final_options, partial_every_seconds=0.3)
    finals = [e for e in events if e[0] == "final"]
    assert len(finals) == len(UTTERANCES)
    for _, start, _ in finals:  # each utterance's running transcripts come before its final line, none after
        mine = [i for i, e in enumerate(events) if e[1] == start]
        assert events[mine[-1]][0] == "final"
    assert all(sum(1 for e in events if e[0] == "partial" and e[1] == start) >= 1 for _, start, _ in finals), events
    assert decoder.partials == sum(1 for e in events if e[0] == "partial")
    # Running transcripts use the running preset; the final line uses the decoder's options.
    assert set(model.options) == {RUNNING, final_options}
    assert sum(o == final_options for o in model.options) == len(UTTERANCES)


class StoppableModel:
    """Final lines at once; running transcripts (the running preset) search for up to 30 s, checking stop()."""

    def __init__(self):
        self.stopped = 0

    def transcribe(self, audio, options=None, itn=True, stop=None):
        from asr.decoding.search import DecodingStopped

        if options == RUNNING:
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline:
                if stop is not None and stop():
                    self.stopped += 1
                    raise DecodingStopped
                time.sleep(0.005)
        return types.SimpleNamespace(text="line", words=[], confidence=1.0)


def test_a_running_transcript_is_stopped_when_its_utterance_ends(recording):
    from asr.decoding.search import DecodeOptions

    samples, rate = recording
    model = StoppableModel()
    began = time.monotonic()
    decoder, events = _run_with_partials(samples, rate, model, options=DecodeOptions(beam_size=4),
                                         partial_every_seconds=0.3)
    assert [e[0] for e in events] == ["final"] * len(UTTERANCES)  # no partial ever finished, none came late
    assert decoder.partials_stopped == model.stopped >= 1
    assert time.monotonic() - began < 20  # each final line came without waiting out a 30-s search


class BusyModel:
    """A busy machine: a running transcript takes longer than the rest of a short utterance,
    a final line longer still; both searches check stop()."""

    PARTIAL_SECONDS, FINAL_SECONDS = 0.4, 0.8

    def __init__(self):
        self.stopped = 0

    def transcribe(self, audio, options=None, itn=True, stop=None):
        from asr.decoding.search import DecodingStopped

        running = options == RUNNING
        deadline = time.monotonic() + (self.PARTIAL_SECONDS if running else self.FINAL_SECONDS)
        while time.monotonic() < deadline:
            if stop is not None and stop():
                self.stopped += 1
                raise DecodingStopped
            time.sleep(0.005)
        return types.SimpleNamespace(text="partial" if running else "line", words=[], confidence=1.0)


def test_a_short_utterance_shows_its_running_transcript_on_a_busy_machine(recording):
    """The first utterance ends while its first running transcript is still being decoded: that one
    is left to finish beside the final decode and shown, and the final line still comes after it."""
    from asr.decoding.search import DecodeOptions

    samples, rate = recording
    decoder, events = _run_with_partials(samples, rate, BusyModel(), options=DecodeOptions(beam_size=4),
                                         partial_every_seconds=0.3)
    finals = [e for e in events if e[0] == "final"]
    assert len(finals) == len(UTTERANCES)
    first = [e[0] for e in events if e[1] == finals[0][1]]
    assert first[0] == "partial" and first[-1] == "final" and first.count("final") == 1, events
    for _, start, _ in finals:  # the later ones, decoded from a backlog, may show none; none comes late
        assert [e[0] for e in events if e[1] == start][-1] == "final"


def test_no_running_transcript_while_audio_is_waiting(recording):
    samples, rate = recording
    _, events = _run_with_partials(samples, rate, OptionsModel(), real_time=False, partial_every_seconds=0.3)
    assert [e[0] for e in events] == ["final"] * len(UTTERANCES)


def test_a_slow_running_transcript_waits_as_long_as_it_took_before_the_next(recording):
    samples, rate = recording
    partials = []
    decoder = UtteranceDecoder(SlowModel(0.2), BlockQueue(rate), Endpointer(rate), None,
                               on_partial=lambda u, t: partials.append(u.duration), partial_every_seconds=0.1)
    first_speech = samples[:round(1.0 * rate)]  # into the first utterance, which runs to 2.0 s
    decoder.endpointer.push(first_speech)
    decoder._decode_partial()
    assert len(partials) == 1
    decoder.endpointer.push(samples[first_speech.size:first_speech.size + rate // 5])  # 0.2 s more speech
    decoder._decode_partial()
    assert len(partials) == 1  # right after a partial that took 0.2 s: skipped
    time.sleep(0.25)  # longer than the partial took
    decoder._decode_partial()
    assert len(partials) == 2 and partials[1] > partials[0]  # the utterance so far, longer now


# Devices, through a stand-in for the sounddevice module.

class PortAudioError(Exception):
    pass


def fake_sounddevice(devices, default=None, rates=None):
    """A sounddevice module with these devices; ``rates`` limits what check_input_settings accepts."""
    def query_devices(kind=None):
        if kind is None:
            return devices
        if default is None:
            raise PortAudioError("Error querying device -1")
        return devices[default]

    def check_input_settings(device, samplerate, channels, dtype):
        if rates is not None and samplerate not in rates:
            raise PortAudioError("Invalid sample rate [PaErrorCode -9997]")

    def busy_stream(**kwargs):
        raise PortAudioError("Error opening InputStream: Device unavailable [PaErrorCode -9985]")

    return types.SimpleNamespace(query_devices=query_devices, check_input_settings=check_input_settings,
                                 InputStream=busy_stream, PortAudioError=PortAudioError)


def device(index, name, rate=44_100.0, inputs=2):
    return {"index": index, "name": name, "max_input_channels": inputs, "default_samplerate": rate}


@pytest.fixture
def devices(monkeypatch):
    def install(*args, **kwargs):
        sd = fake_sounddevice(*args, **kwargs)
        monkeypatch.setattr(microphone, "_sounddevice", lambda: sd)
        return sd
    return install


def test_no_input_device_is_one_clear_error(devices):
    devices([device(0, "HDMI out", inputs=0)])
    with pytest.raises(MicrophoneError, match="no input device found"):
        microphone.find_device(None)


def test_device_by_index_or_name(devices):
    devices([device(0, "HDMI out", inputs=0), device(1, "USB Audio Mic"), device(2, "Built-in Mic")], default=2)
    assert microphone.find_device(None)["name"] == "Built-in Mic"
    assert microphone.find_device("1")["name"] == "USB Audio Mic"
    assert microphone.find_device("usb")["index"] == 1
    with pytest.raises(MicrophoneError, match=r"several input devices.*\[1\] USB Audio Mic.*\[2\] Built-in Mic"):
        microphone.find_device("mic")
    with pytest.raises(MicrophoneError, match=r"no input device named 'webcam'; input devices: \[1\] USB Audio Mic "
                                              r"\(44100 Hz\), \[2\] Built-in Mic"):
        microphone.find_device("webcam")
    with pytest.raises(MicrophoneError, match="no input device with index 0"):
        microphone.find_device(0)  # an output-only device


def test_no_default_input_names_the_devices(devices):
    devices([device(3, "USB Audio Mic")], default=None)
    with pytest.raises(MicrophoneError, match=r"no default input device.*\[3\] USB Audio Mic"):
        microphone.find_device(None)


def test_a_device_without_16k_is_captured_at_its_own_rate(devices):
    sd = devices([device(0, "Pro Interface", rate=48_000.0)], rates={48_000})
    assert microphone._stream_settings(sd, device(0, "Pro Interface", rate=48_000.0)) == (48_000, 1)
    sd = devices([device(0, "Odd Interface", rate=96_000.0)], rates=set())
    with pytest.raises(MicrophoneError, match=r"can't record at 16000 Hz or 96000 Hz \(Invalid sample rate.*"
                                              r"input devices: \[0\] Odd Interface"):
        microphone._stream_settings(sd, device(0, "Odd Interface", rate=96_000.0))


def test_a_busy_device_is_one_line_naming_the_devices(devices):
    devices([device(0, "USB Audio Mic"), device(1, "Built-in Mic")], default=0)
    with pytest.raises(MicrophoneError, match=r"^cannot open input device 'USB Audio Mic' \(Error opening InputStream: "
                                              r"Device unavailable.*\); input devices: \[0\] USB Audio Mic .*"
                                              r"\[1\] Built-in Mic \(44100 Hz\)$"):
        microphone.listen(SlowModel(), None, on_utterance=print)


def _args(**overrides):
    parser = argparse.ArgumentParser()
    listen_command.add_arguments(parser)
    args = parser.parse_args([])
    vars(args).update(overrides)
    return args


def test_listen_command_without_input_device_prints_one_line(devices, capsys):
    devices([])
    assert listen_command.run(_args()) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("asr listen: error: no input device found")
    assert listen_command.run(_args(list_devices=True)) == 1
    assert "no input devices are available" in capsys.readouterr().err


def test_list_devices_marks_the_default(devices, capsys):
    devices([device(0, "HDMI out", inputs=0), device(1, "USB Audio Mic"), device(2, "Built-in Mic")], default=2)
    assert listen_command.run(_args(list_devices=True)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("*") and "Built-in Mic" in lines[1] and "USB" in lines[0]


class _Stdout:
    """A stand-in for sys.stdout that says whether it is a terminal and keeps what was written."""

    def __init__(self, tty: bool):
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("tty", [True, False])
def test_listen_shows_the_running_transcript_dim_on_a_terminal_and_not_in_a_pipe(devices, monkeypatch, tmp_path,
                                                                                 tty):
    from asr.model.checkpoint import save_checkpoint
    from conftest import tiny_model

    devices([device(0, "USB Audio Mic")], default=0)
    save_checkpoint(tiny_model(), tmp_path / "tiny.pt")
    asked = {}

    def fake_listen(model, device, *, on_utterance, on_partial=None, **kwargs):
        asked["on_partial"] = on_partial
        utterance = types.SimpleNamespace(start=1.0, end=2.0)
        if on_partial is not None:
            on_partial(utterance, types.SimpleNamespace(text="turn on"))
            on_partial(utterance, types.SimpleNamespace(text="turn on the li"))
        on_utterance(utterance, types.SimpleNamespace(text="turn on the lights", words=[], confidence=1.0))
        return microphone.ListenStats(device=device["name"], sample_rate=RATE, utterances=1, seconds=2.0)

    monkeypatch.setattr(microphone, "listen", fake_listen)
    stdout = _Stdout(tty)
    monkeypatch.setattr("sys.stdout", stdout)
    assert listen_command.run(_args(checkpoint=str(tmp_path / "tiny.pt"))) == 0
    if not tty:  # a pipe or a file gets the final lines alone
        assert asked["on_partial"] is None and stdout.text == "[00:01.00] turn on the lights\n"
        return
    dim, normal, erase = listen_command.DIM, listen_command.NORMAL, "\r\033[K"
    assert stdout.text == (f"{erase}{dim}[00:01.00] turn on{normal}{erase}{dim}[00:01.00] turn on the li{normal}"
                           f"{erase}[00:01.00] turn on the lights\n")  # each overwritten in place, then the final


def test_clock_format():
    assert listen_command._clock(3.214) == "00:03.21"
    assert listen_command._clock(754.5) == "12:34.50"
    assert listen_command._clock(3723.0) == "1:02:03.00"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_endpointer_on_synthetic_speech(tmp_path):
    """Real (synthesized) speech: two sentences with a second of silence between them are two utterances."""
    for i, text in enumerate(["turn on the kitchen lights", "what time is it"]):
        subprocess.run(["espeak-ng", "-w", str(tmp_path / f"{i}.wav"), text], check=True)
    parts = [sf.read(tmp_path / f"{i}.wav", dtype="float32") for i in range(2)]
    rate = parts[0][1]
    pause = np.zeros(rate, dtype=np.float32)
    samples = np.concatenate([pause, parts[0][0], pause, parts[1][0], pause])
    found = endpoint(samples, rate, block=1024)
    assert len(found) == 2
    assert found[0].start == pytest.approx(1.0 - MARGIN_SECONDS, abs=0.2)
    assert found[1].start > found[0].end


def test_listen_decodes_with_the_live_preset_and_flags_override_it():
    from asr.cli.options import decoding_options
    from asr.decoding.search import VTLN_WARP_FACTORS
    from asr.decoding.presets import preset

    parser = argparse.ArgumentParser()
    listen_command.add_arguments(parser)
    assert decoding_options(parser.parse_args([])) == preset("live")
    assert decoding_options(parser.parse_args(["--vtln"])).warp_factors == VTLN_WARP_FACTORS
    assert decoding_options(parser.parse_args(["--preset", "fast", "--beam-size", "3"])).beam_size == 3
    assert decoding_options(parser.parse_args(["--preset", "fast"])).beam_size == 1
    assert decoding_options(parser.parse_args(["--attention-window", "1,3"])).attention_window == (1.0, 3.0)
    assert decoding_options(parser.parse_args(["--attention-window", "none"])).attention_window == ()
    assert decoding_options(parser.parse_args(["--piece-context", "0.5"])).piece_context == 0.5
    with pytest.raises(SystemExit):
        parser.parse_args(["--attention-window", "3"])


@pytest.mark.parametrize("itn", [True, False])
def test_no_itn_reaches_every_decode_of_asr_listen(devices, monkeypatch, tmp_path, recording, itn):
    from asr.model.checkpoint import save_checkpoint
    from conftest import tiny_model

    devices([device(0, "USB Audio Mic")], default=0)
    save_checkpoint(tiny_model(), tmp_path / "tiny.pt")
    asked = {}

    def fake_listen(model, device, *, on_utterance, itn=True, **kwargs):
        asked["itn"] = itn
        return microphone.ListenStats(device=device["name"], sample_rate=RATE, utterances=0, seconds=0.0)

    monkeypatch.setattr(microphone, "listen", fake_listen)
    assert listen_command.run(_args(checkpoint=str(tmp_path / "tiny.pt"), itn=itn)) == 0
    assert asked["itn"] is itn
    samples, rate = recording
    model = OptionsModel()
    _run_decoder(samples, rate, model, itn=itn)
    assert model.itn is itn


@pytest.mark.slow
@pytest.mark.parametrize("text", ["please enter your agent number followed by the pound key",
                                  "i would like a cup of coffee please", "turn off the lights in the kitchen"])
def test_a_running_transcript_ends_where_the_audio_ends(text, tmp_path):
    """The utterance so far, cut mid-word, is decoded without running on past its end ("by the the the")."""
    import re

    import asr
    from conftest import speak

    model = asr.load_model()
    options = UtteranceDecoder(model, BlockQueue(RATE), Endpointer(RATE), lambda *_: None,
                               on_partial=lambda *_: None).partial_options
    assert options == RUNNING
    spoken = speak(text, tmp_path / "phrase.wav")
    for fraction in (0.5, 0.6, 0.7, 0.8):
        so_far = model.transcribe(spoken[: int(spoken.size * fraction)], options=options, itn=False).raw_text
        assert not re.search(r"\b(\w+)( \1\b){2,}", so_far), (fraction, so_far)  # no word thrice in a row
        assert len(so_far.split()) <= len(text.split()), (fraction, so_far)
