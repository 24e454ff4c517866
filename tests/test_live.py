"""LiveSession and its chunk route: the browser stream's session, without a browser (the browser test is in test_app.py)."""

import numpy as np
import pytest
import torch
from starlette.applications import Starlette
from starlette.testclient import TestClient

from asr.decoding.search import DecodeOptions
from asr.apps.live import LiveSession
from asr.apps.live_transport import LiveStreams, routes
from conftest import speak, tiny_model

RATE = 16_000
CHUNK = RATE // 4  # the page posts a quarter of a second at a time


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = tiny_model()
    with torch.no_grad():
        model.speller.classify.bias[model.vocabulary.eos_id] = -50.0  # always some text
    return model


@pytest.fixture
def session(model):
    session = LiveSession(model, RATE, DecodeOptions())
    yield session
    session.close()


def _recording(session) -> list:
    """The blocks the session queues for its endpointer from now on, in order."""
    queued, put = [], session.blocks.put

    def record(block, *args):
        queued.append(np.array(block))
        put(block, *args)

    session.blocks.put = record
    return queued


def test_chunks_in_order_lose_nothing(session):
    for i in range(8):
        session.push(np.full(CHUNK, 0.01 * i, np.float32), offset=i * CHUNK)
    assert session.received == 8 * CHUNK and session.lost_samples == 0
    assert "lost" not in session.status()


def test_a_chunk_that_never_arrived_is_counted_exactly_and_its_time_kept(session):
    blocks = _recording(session)
    session.push(np.ones(CHUNK, np.float32), offset=0)
    session.push(np.full(CHUNK, 2.0, np.float32), offset=3 * CHUNK)  # chunks 1 and 2 never came
    assert session.lost_samples == 2 * CHUNK and session.gaps == 1
    assert "0.50 s of audio lost on the way** in 1 gap(s)" in session.status()
    queued = np.concatenate(blocks)
    assert queued.size == 4 * CHUNK  # the gap is silence, so later audio keeps its time on the stream's clock
    assert (queued[:CHUNK] == 1).all() and (queued[CHUNK:3 * CHUNK] == 0).all() and (queued[3 * CHUNK:] == 2).all()


def test_a_chunk_sent_again_adds_only_what_is_new(session):
    blocks = _recording(session)
    first = np.arange(CHUNK, dtype=np.float32)
    session.push(first, offset=0)
    session.push(first, offset=0)  # a retried request whose first try did arrive
    overlapping = np.arange(CHUNK // 2, CHUNK + CHUNK // 2, dtype=np.float32)
    session.push(overlapping, offset=CHUNK // 2)
    assert session.received == CHUNK + CHUNK // 2 and session.lost_samples == 0
    np.testing.assert_array_equal(np.concatenate(blocks), np.arange(CHUNK + CHUNK // 2, dtype=np.float32))


def test_a_running_transcript_shows_while_speaking_and_the_final_line_replaces_it(model, tmp_path):
    speech = speak("open the door and turn on the lights in the kitchen", tmp_path / "speech.wav")
    session = LiveSession(model, RATE, DecodeOptions())
    seen = []
    on_partial = session._on_partial

    def watch(utterance, transcription):
        on_partial(utterance, transcription)
        seen.append((session.partial, len(session.lines)))

    session.decoder.on_partial = watch
    audio = np.concatenate([np.zeros(RATE // 2, np.float32), speech, np.zeros(RATE, np.float32)])
    for offset in range(0, audio.size, CHUNK):
        session.push(audio[offset:offset + CHUNK], offset)
        session.decoder.join(timeout=0.05)  # as a real-time stream would, leave the decoder time to catch up
    session.close()
    session.decoder.join(timeout=60)
    assert seen and all(text and lines == 0 for text, lines in seen)  # shown before the line was final
    assert len(session.lines) == 1 and session.partial == ""
    html = session.transcript_html()
    assert html.count('class="live-final"') == 1 and "live-partial" not in html


def test_the_transcript_is_resent_only_when_it_changed_and_the_alignment_only_for_a_new_line(model, tmp_path):
    speech = speak("open the door", tmp_path / "speech.wav")
    session = LiveSession(model, RATE, DecodeOptions())
    audio = np.concatenate([np.zeros(RATE, np.float32), speech, np.zeros(2 * RATE, np.float32)])
    session.push(audio, offset=0)
    session.close()
    session.decoder.join(timeout=60)
    assert session.version == 1
    version, (status, transcript, view) = session.changes(since=None)
    assert "live-final" in transcript and "alignment-view" in view and "1 utterance(s)" in status
    _, (status, transcript, view) = session.changes(since=version)
    assert transcript is None and view is None and "1 utterance(s)" in status
    _, (_, transcript, view) = session.changes(since=(version[0], version[1] - 1))  # a newer partial only
    assert transcript is not None and view is None


def test_the_route_queues_numbered_chunks_and_refuses_bad_ones(session):
    streams = LiveStreams()
    stream = streams.new_id()
    client = TestClient(Starlette(routes=routes(streams)))
    chunk = (np.ones(CHUNK) * 1000).astype("<i2").tobytes()
    assert client.post(f"/live/{stream}?offset=0", content=chunk).status_code == 404  # not registered yet
    streams.add(stream, session)
    assert client.post(f"/live/{stream}?offset=0", content=chunk).json() == {"received": CHUNK}
    assert client.post(f"/live/{stream}?offset={2 * CHUNK}", content=chunk).json() == {"received": 3 * CHUNK}
    assert session.lost_samples == CHUNK
    for bad in (f"/live/{stream}", f"/live/{stream}?offset=-1", f"/live/{stream}?offset=x"):
        response = client.post(bad, content=chunk)
        assert response.status_code == 400 and "offset" in response.json()["error"]
    assert client.post(f"/live/{stream}?offset={3 * CHUNK}", content=b"\x00").status_code == 400
    assert client.post(f"/live/{stream}?offset={3 * CHUNK}&final=1", content=b"").status_code == 200
    assert session.blocks.closed
