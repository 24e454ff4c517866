"""`asr listen` end to end, through the real PortAudio and ALSA capture path, with no sound card.

ALSA's ``file`` plugin with ``infile`` reads capture data from a file: a pcm
of ``type file`` over the ``null`` pcm shows up in PortAudio as an input
device that "records" whatever raw 16-bit PCM the file holds.  Each test
writes a private ``.asoundrc`` into a temporary HOME and runs ``asr listen``
in a subprocess with that HOME, so the machine's own ALSA setup is never
touched.  The null pcm has no clock: it delivers audio as fast as it is read,
so the capture queue overflows with the trailing silence (dropped and
reported on stderr) long before decoding ends, while the speech at the start
is kept.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from asr.audio.io import SAMPLE_RATE, load_audio
from asr.audio.endpoint import MARGIN_SECONDS
from asr.metrics import cer
from asr.text import normalize_text

REPO = Path(__file__).resolve().parent.parent
DEVICE = "asr_test_mic"
PHRASES = ["turn on the lights in the kitchen", "set a timer for ten minutes"]
LEAD_SECONDS, GAP_SECONDS, TAIL_SECONDS = 1.0, 1.2, 2.0
TIMEOUT_SECONDS = 300  # generous: CI machines are slow and the lead's training may share the CPU


def _portaudio_available() -> bool:
    try:
        import sounddevice  # noqa: F401
    except OSError:
        return False
    return True


pytestmark = [
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"),
    pytest.mark.skipif(not _portaudio_available(), reason="PortAudio (libportaudio2) is not installed"),
]


def _asoundrc(home: Path, infile: Path) -> None:
    (home / ".asoundrc").write_text(
        f"pcm.{DEVICE} {{\n"
        "    type file\n"
        '    slave.pcm "null"\n'
        '    file "/dev/null"\n'
        f'    infile "{infile}"\n'
        '    format "raw"\n'
        "}\n")


@pytest.fixture(scope="module")
def mic(tmp_path_factory):
    """A HOME whose ALSA config has the file-backed capture device, and where each phrase starts (seconds)."""
    home = tmp_path_factory.mktemp("home")
    pieces, starts, t = [np.zeros(int(LEAD_SECONDS * SAMPLE_RATE), np.float32)], [], LEAD_SECONDS
    for i, phrase in enumerate(PHRASES):
        wav = home / f"phrase{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), phrase], check=True)
        speech = load_audio(wav)  # 16 kHz mono float32
        starts.append(t)
        pieces += [speech, np.zeros(int(GAP_SECONDS * SAMPLE_RATE), np.float32)]
        t += (speech.size / SAMPLE_RATE) + GAP_SECONDS
    pieces.append(np.zeros(int(TAIL_SECONDS * SAMPLE_RATE), np.float32))
    raw = home / "speech.raw"
    pcm = np.clip(np.concatenate(pieces) * 32767, -32768, 32767).astype("<i2")  # s16le: the format we capture in
    pcm.tofile(raw)
    _asoundrc(home, raw)
    return home, starts


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALSA_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), PYTHONPATH=str(REPO))
    return env


def asr_listen(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asr", "listen", *args], cwd=REPO, env=_env(home),
                          capture_output=True, text=True, timeout=TIMEOUT_SECONDS)


def _records(result: subprocess.CompletedProcess) -> list[dict]:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from asr.model.checkpoint import save_checkpoint
    from asr.model.las import LAS, ModelConfig

    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    config = ModelConfig(encoder_hidden=32, encoder_layers=2, decoder_hidden=32, attention_dim=32, embedding_dim=16)
    save_checkpoint(LAS(config).eval(), path)
    return path


def test_the_file_device_is_listed(mic):
    home, _ = mic
    result = asr_listen(home, "--list-devices")
    assert result.returncode == 0, result.stderr
    assert DEVICE in result.stdout


def test_listen_cuts_two_utterances_from_the_device(mic, tiny_checkpoint, tmp_path):
    """Structure only (a random model says nothing useful): two records, in order, where the phrases are."""
    home, starts = mic
    saved = tmp_path / "takes"
    result = asr_listen(home, "--device", DEVICE, "--max-utterances", "2", "--format", "jsonl", "--beam-size", "1",
                        "--checkpoint", str(tiny_checkpoint), "--save-dir", str(saved))
    records = _records(result)
    assert [r["utterance"] for r in records] == [1, 2]
    for record, start in zip(records, starts):
        assert {"utterance", "start", "end", "text", "confidence", "words", "audio"} <= record.keys()
        assert record["start"] == pytest.approx(start - MARGIN_SECONDS, abs=0.15)
        assert record["start"] < record["end"]
        wav = Path(record["audio"])
        assert wav.is_file() and wav.with_suffix(".txt").read_text(encoding="utf-8") == record["text"] + "\n"
    assert records[0]["end"] < records[1]["start"]


def test_ctrl_c_stops_cleanly(mic, tiny_checkpoint):
    home, _ = mic
    # A shell starts background jobs (`make test &`, some CI runners) with SIGINT ignored, and a Python
    # started that way never turns Ctrl-C into KeyboardInterrupt: give the child the terminal's default.
    process = subprocess.Popen([sys.executable, "-m", "asr", "listen", "--device", DEVICE, "--format", "jsonl",
                                "--beam-size", "1", "--checkpoint", str(tiny_checkpoint)], cwd=REPO, env=_env(home),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = process.stdout.readline()  # no limit given: it would listen forever
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=TIMEOUT_SECONDS)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert json.loads(first)["utterance"] == 1
    assert all(json.loads(line) for line in rest.splitlines())


def test_unknown_device_is_one_line_naming_the_devices(mic):
    home, _ = mic
    result = asr_listen(home, "--device", "no-such-mic")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "no input device named 'no-such-mic'" in result.stderr and DEVICE in result.stderr


def test_no_input_device_is_one_clear_line(tmp_path):
    probe = subprocess.run([sys.executable, "-c", "import sounddevice as sd; "
                            "print(sum(d['max_input_channels'] > 0 for d in sd.query_devices()))"],
                           env={**os.environ, "HOME": str(tmp_path)}, capture_output=True, text=True)
    if probe.stdout.strip() != "0":
        pytest.skip("this machine has a capture device")
    result = asr_listen(tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("asr listen: error: no input device found")
    assert result.stderr.count("\n") == 1


@pytest.mark.slow
def test_listen_transcribes_speech_with_the_bundled_model(mic):
    from asr.model.checkpoint import CHECKPOINT_DIR, DEFAULT_CHECKPOINT_NAME

    if not (CHECKPOINT_DIR / DEFAULT_CHECKPOINT_NAME).is_file():
        pytest.skip("no bundled checkpoint has been trained yet")
    home, starts = mic
    records = _records(asr_listen(home, "--device", DEVICE, "--max-utterances", "2", "--format", "jsonl"))
    assert len(records) == 2
    for record, phrase, start in zip(records, PHRASES, starts):
        assert record["start"] == pytest.approx(start - MARGIN_SECONDS, abs=0.15)
        error = cer(normalize_text(phrase), normalize_text(record["text"]))
        assert error < 0.5, f"{record['text']!r} for {phrase!r}: CER {error:.2f}"
