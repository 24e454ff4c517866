"""How the demo's microphone audio reaches the server: numbered chunks posted to a route that only queues.

Why not Gradio's own audio stream: its stream route keeps one pending chunk per stream
(``gradio/routes.py``, ``POST /stream/{event_id}`` sets ``event.data = body``), so a
chunk the server has not handled before the next arrives is replaced and lost, and a
chunk says nothing of where it lies in the stream, so the loss cannot even be counted.
On a busy machine the handler falls behind and words go missing.  FastRTC (WebRTC) would
number its packets, but its current release (0.0.34) requires ``gradio<6``.

So the page captures the microphone itself: an AudioWorklet taps the samples with the
audio clock's frame number, and the page posts them in order, a chunk at a time, to
``POST live/{stream}?offset=N``, ``N`` being the stream's sample count before the chunk.
The route (:func:`routes`) runs on the server's event loop, converts the 16-bit samples
and hands them to the stream's :class:`asr.apps.live.LiveSession`, which only queues them:
nothing waits for decoding.  A request that fails is sent again with the same offset (the
session keeps only what is new), audio recorded meanwhile waits in the page and goes with
the next request, and a jump in the offsets is a gap the status line reports.

With a busy loop on each core of a 2-core machine, the browser test
(``tests/test_app.py::test_browser_microphone_streams_one_transcript_line_per_utterance``)
gets every phrase from two tabs at once, and the server's sample count equals the page's.
"""

from __future__ import annotations

import re
import secrets
import threading

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from asr.apps.live import LiveSession

ROUTE = "/live/{stream}"
MAX_CHUNK_BYTES = 2 * 16_000 * 60  # a minute of 16-bit audio at 16 kHz: the page sends a fraction of a second
_STREAM_ID = re.compile(r"[A-Za-z0-9]{8,64}")


class LiveStreams:
    """The open live sessions by stream id, shared by the page's handlers and the chunk route."""

    def __init__(self):
        self._sessions: dict[str, LiveSession] = {}
        self._lock = threading.Lock()

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(12)

    @staticmethod
    def valid_id(stream: str) -> bool:
        return bool(_STREAM_ID.fullmatch(stream or ""))

    def add(self, stream: str, session: LiveSession) -> None:
        with self._lock:
            old = self._sessions.pop(stream, None)
            self._sessions[stream] = session
        if old is not None:
            old.close()

    def get(self, stream: str) -> LiveSession | None:
        with self._lock:
            return self._sessions.get(stream)

    def remove(self, stream: str) -> None:
        with self._lock:
            session = self._sessions.pop(stream, None)
        if session is not None:
            session.close()


def routes(streams: LiveStreams) -> list[Route]:
    """The chunk route, for ``demo.launch(app_kwargs={"routes": routes(streams)})``."""

    async def receive(request: Request) -> Response:
        session = streams.get(request.path_params["stream"])
        if session is None:  # not registered yet (the page starts posting at once) or already gone
            return JSONResponse({"error": "no such stream"}, status_code=404)
        try:
            offset = int(request.query_params["offset"])
            if offset < 0:
                raise ValueError
        except (KeyError, ValueError):
            return JSONResponse({"error": "offset must be the stream's sample count before this chunk"},
                                status_code=400)
        body = await request.body()
        if len(body) % 2 or len(body) > MAX_CHUNK_BYTES:
            return JSONResponse({"error": "a chunk is 16-bit little-endian samples, up to a minute"},
                                status_code=400)
        session.push(np.frombuffer(body, dtype="<i2").astype(np.float32) / 32768.0, offset)
        if request.query_params.get("final"):
            session.close()
        return JSONResponse({"received": session.received})

    return [Route(ROUTE, receive, methods=["POST"])]


# The page's side. window.asrLive.start() opens the microphone and resolves to "ID:RATE" (or
# "error:MESSAGE"); stop() sends what is left with final=1. Chunks go one request at a time, in
# order; whatever the worklet delivers meanwhile waits in `runs` and goes with the next request.
CHUNK_SECONDS = 0.25  # audio per request while the server keeps up
MAX_REQUEST_SECONDS = 10.0  # audio per request at most, when the page catches up after the server was away
RETRY_MS = 250  # wait before sending a failed chunk again (a 404 while the server registers the stream)
STOP_TIMEOUT_MS = 20_000  # how long stop() waits for the last chunks to get through
STARTUP_SECONDS = 0.1  # a pause in the track's input this early restarts the stream instead of being a gap
CAPTURE_SCRIPT = """
if (!window.asrLive) {
  const WORKLET = `class AsrTap extends AudioWorkletProcessor {
    process(inputs) {
      const channel = inputs[0] && inputs[0][0];
      if (channel) this.port.postMessage({frame: currentFrame, samples: channel.slice(0)});
      return true;
    }
  }
  registerProcessor('asr-tap', AsrTap);`;
  const CHUNK_SECONDS = %(chunk)s, MAX_RUN_SECONDS = %(max_run)s, RETRY_MS = %(retry)s, STOP_TIMEOUT_MS = %(stop)s;
  const STARTUP_SECONDS = %(startup)s;
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
  let live = null, last = null;

  function toInt16(parts, total) {
    const out = new Int16Array(total);
    let at = 0;
    for (const part of parts) {
      for (let i = 0; i < part.length; i++) out[at + i] = Math.max(-32768, Math.min(32767, Math.round(part[i] * 32768)));
      at += part.length;
    }
    return out;
  }

  async function post(state, run, final) {
    const url = new URL(`live/${state.id}?offset=${run.offset}` + (final ? '&final=1' : ''), document.baseURI);
    const body = toInt16(run.parts, run.length);
    const response = await fetch(url, {method: 'POST', body: body.buffer,
                                       headers: {'Content-Type': 'application/octet-stream'}});
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
  }

  async function send(state) {
    // One request at a time, oldest audio first; a failed request is retried with the same offset.
    while (true) {
      if (state.stopping && !state.runs.length) state.runs.push({offset: state.next, parts: [], length: 0});
      const run = state.runs[0];
      if (!run || !(run.length >= CHUNK_SECONDS * state.rate || state.runs.length > 1 || state.stopping)) {
        await sleep(20);
        continue;
      }
      const final = state.stopping && state.runs.length === 1;
      run.sending = true;  // what the worklet delivers from now on goes into the next run
      if (final) state.closed = true;
      try {
        await post(state, run, final);
        state.runs.shift();
        if (final) return;
      } catch (error) {
        if (final) state.closed = false;
        if (state.stopping && performance.now() > state.stopDeadline) return;
        await sleep(RETRY_MS);
      }
    }
  }

  async function start() {
    await stop();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({audio: {channelCount: 1, echoCancellation: false,
                                                                  noiseSuppression: false, autoGainControl: false}});
    } catch (error) {
      return `error:${error.message || error.name}`;
    }
    let context;
    try { context = new AudioContext({sampleRate: 16000}); } catch (error) { context = new AudioContext(); }
    const module = URL.createObjectURL(new Blob([WORKLET], {type: 'application/javascript'}));
    await context.audioWorklet.addModule(module);
    const source = context.createMediaStreamSource(stream);
    const tap = new AudioWorkletNode(context, 'asr-tap');
    source.connect(tap);
    tap.connect(context.destination);  // pulled by the audio clock; its output is silence
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    const id = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    const state = {id, rate: context.sampleRate, stream, context, runs: [], first: null, next: 0, gaps: [],
                   stopping: false, closed: false, stopDeadline: 0};
    tap.port.onmessage = (event) => {
      if (state.closed) return;
      const {frame, samples} = event.data;
      // A track that is still starting may deliver a quantum, then none for a few: the stream starts
      // anew after such a pause in its first moments, before anyone can have spoken.
      const starting = state.next < STARTUP_SECONDS * state.rate && !state.runs.some((run) => run.sending);
      if (state.first === null || (starting && frame - state.first > state.next)) {
        state.first = frame;
        state.runs = [];
        state.next = 0;
      }
      // Later, a render quantum without input (the track starved) shows as a jump: a gap the server counts.
      const offset = frame - state.first;
      if (offset > state.next) state.gaps.push([state.next, offset - state.next]);
      let run = state.runs[state.runs.length - 1];
      if (!run || offset !== state.next || run.sending || run.length >= MAX_RUN_SECONDS * state.rate) {
        run = {offset, parts: [], length: 0};
        state.runs.push(run);
      }
      run.parts.push(samples);
      run.length += samples.length;
      state.next = offset + samples.length;
    };
    state.sender = send(state);
    live = last = state;
    return `${id}:${context.sampleRate}`;
  }

  async function stop() {
    const state = live;
    live = null;
    if (!state) return;
    state.stopping = true;
    state.stopDeadline = performance.now() + STOP_TIMEOUT_MS;
    state.stream.getTracks().forEach((track) => track.stop());
    await state.sender;
    await state.context.close();
  }

  // The latest stream's extent and its gaps ([offset, samples]), in samples, to check against the server.
  const captured = () => (last ? {rate: last.rate, samples: last.next, gaps: last.gaps} : null);
  window.asrLive = {start, stop, captured};
}
""" % {"chunk": CHUNK_SECONDS, "max_run": MAX_REQUEST_SECONDS, "retry": RETRY_MS, "stop": STOP_TIMEOUT_MS,
       "startup": STARTUP_SECONDS}
