"""LiveSession: the browser stream's session, without a browser (the browser test is in test_app.py)."""

import numpy as np
import pytest
import torch

import asr.live as live
from asr.decoding import DecodeOptions
from asr.live import LiveSession
from conftest import speak, tiny_model

RATE = 16_000
SECOND = np.zeros(RATE, dtype=np.float32)  # one chunk, as the browser sends one a second


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = tiny_model()
    with torch.no_grad():
        model.speller.classify.bias[model.vocabulary.eos_id] = -50.0  # always some text
    return model


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked(model, monkeypatch):
    """A session whose clock the test moves, closed afterwards."""
    clock = _Clock()
    monkeypatch.setattr(live.time, "monotonic", clock)
    session = LiveSession(model, RATE, DecodeOptions())
    yield session, clock
    session.close()


def test_a_chunk_that_never_arrives_is_reported_as_lost(clocked):
    session, clock = clocked
    for _ in range(6):  # one chunk a second, as the browser sends them
        session.push(SECOND)
        clock.now += 1.0
    assert session.lost_seconds == 0.0
    clock.now += 1.0  # a chunk the server never saw
    for _ in range(live.LOST_AUDIO_WINDOW):
        session.push(SECOND)
        clock.now += 1.0
    assert session.lost_seconds == pytest.approx(1.0)
    assert "1.0 s of audio lost" in session.status()


def test_a_late_chunk_is_not_loss(clocked):
    session, clock = clocked
    for i in range(10):
        late = 0.9 if i == 5 else 0.0  # network jitter: one chunk late, the next on time
        clock.now += late
        session.push(SECOND)
        clock.now += 1.0 - late
        assert "lost" not in session.status()
    assert session.lost_seconds < 0.1


def test_a_steady_offset_of_less_than_a_chunk_is_not_loss(clocked):
    session, clock = clocked
    session.push(SECOND)
    clock.now += 1.5  # the browser's timer slips once by half a chunk and stays there
    for _ in range(8):
        session.push(SECOND)
        clock.now += 1.0
    assert session.lost_seconds == pytest.approx(0.5)
    assert "lost" not in session.status()


def test_the_stream_resends_transcript_and_alignment_only_after_a_new_utterance(model, tmp_path):
    speech = speak("open the door", tmp_path / "speech.wav")
    session = LiveSession(model, RATE, DecodeOptions())
    silence = np.zeros(RATE, dtype=np.float32)
    for chunk in (silence, speech, silence, silence):
        session.push(chunk)
    session.close()
    session.decoder.join(timeout=60)
    assert session.version == 1
    version, (status, transcript, view) = session.changes(since=-1)
    assert version == 1 and transcript.startswith("[") and "alignment-view" in view
    assert "1 utterance(s)" in status
    version, (status, transcript, view) = session.changes(since=1)
    assert transcript is None and view is None and "1 utterance(s)" in status
