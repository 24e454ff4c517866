"""The demo: speak or upload English, read the transcript, and see which sound each letter came from.

Usage:
    asr demo                                           # bundled checkpoint, http://127.0.0.1:7860
    python app.py                                      # the same, from a checkout
    asr demo --checkpoint exp/whisper_tiny/averaged.pt # any checkpoint (the bundled ones are offered too)
    asr demo --host 0.0.0.0 --port 8080 --share        # reachable from other machines / a public link

The page is built by :func:`build_demo`, so tests can launch it in-process on any port.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

from asr.audio.io import SAMPLE_RATE, AudioError, load_audio
from asr.model.checkpoint import CheckpointError, available_checkpoints, bundled_path, default_checkpoint, load_model
from asr.apps.alignment_view import VIEW_CSS, VIEW_SCRIPT, alignment_html
from asr.decoding.process import ProcessModel
from asr.apps.live import LiveSession
from asr.apps.live_transport import CAPTURE_SCRIPT, LiveStreams, routes
from asr.plotting import stitch_segments
from asr.decoding.presets import DEFAULT_PRESET, preset, usable
from asr.audio.segment import MAX_SEGMENT_SECONDS
from asr.decoding.written import write_text

EXAMPLES_DIR = bundled_path("examples")
MAX_DEMO_SECONDS = 60.0  # longer clips get a message instead of a long wait (the CLI takes any length)
MAX_UPLOAD = "50mb"  # Gradio refuses larger uploads before they reach the model
MAX_BEAM_SIZE = 10
REFRESH_SECONDS = 0.5  # the live view (status, running transcript, lines) refreshes this often
LIVE_CSS = """
#live-transcript .live-lines { font-size: 1.05em; line-height: 1.5; min-height: 8em; }
#live-transcript .live-lines p { margin: 0; }
#live-transcript .live-partial { color: #888; font-style: italic; }
"""
QUEUE_SIZE = 64  # requests waiting at once; more get "queue full" from Gradio

log = logging.getLogger("app")

INTRO = f"""
# Watch a listen-attend-spell model attend

Speak into the microphone, or upload a clip (up to {MAX_DEMO_SECONDS:.0f} s). The model writes the
transcript one letter at a time, and for each letter it **attends** to a stretch of the audio.
The alignment below shows that attention: one row per letter, time left to right, darker =
more attention; a clean alignment is a diagonal staircase. Hover it to read a letter's time and
weight, zoom it for long clips, and click a letter above it to hear the audio it attended to.
Audio longer than {MAX_SEGMENT_SECONDS:.0f} s is cut at pauses and each piece decoded on its own.
"""


@dataclass
class PageResult:
    """What the transcribe handler sends to the page, in output order."""

    status: str = ""
    transcript: str = ""
    alignment: str = ""  # the interactive view's HTML (asr.apps.alignment_view)
    words: list | None = None
    nbest: list | None = None

    def outputs(self) -> tuple:
        return self.status, self.transcript, self.alignment, self.words or [], self.nbest or []


class Models:
    """Loaded checkpoints by name, each loaded once; inference only reads them, so threads share them.

    Live microphone streams decode in child processes instead (:meth:`live`), ``processes``
    of them per checkpoint: beam search in the server's own threads would hold the GIL that
    receiving audio and refreshing pages need.  ``processes=0`` decodes live audio in the
    server's threads too.
    """

    def __init__(self, paths: list[Path], processes: int = 0):
        self.paths = {self._name(p, paths): Path(p) for p in paths}
        self.processes = processes
        self._loaded = {}
        self._live = {}
        self._lock = threading.Lock()

    @staticmethod
    def _name(path: Path, paths: list[Path]) -> str:
        same = [p for p in paths if Path(p).name == Path(path).name]
        return Path(path).name if len(same) == 1 else str(path)

    @property
    def names(self) -> list[str]:
        return list(self.paths)

    def get(self, name: str | None):
        name = name if name in self.paths else self.names[0]
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = load_model(self.paths[name])
            return self._loaded[name]

    def live(self, name: str | None):
        """What live streams of this checkpoint decode with: a :class:`ProcessModel`, or the model itself."""
        if not self.processes:
            return self.get(name)
        name = name if name in self.paths else self.names[0]
        with self._lock:
            if name not in self._live:
                threads = max(1, (os.cpu_count() or 1) // self.processes)
                self._live[name] = ProcessModel(self.paths[name], processes=self.processes, threads=threads)
            return self._live[name]


def _duration_if_known(path: str) -> float | None:
    """Duration from the file's header, without decoding it (None when no reader can tell)."""
    import librosa
    import soundfile as sf

    try:
        return sf.info(path).duration
    except Exception:
        pass
    try:  # mp3, m4a...: audioread reads the duration from the container
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # librosa's audioread deprecation notice
            return librosa.get_duration(path=path)
    except Exception:
        return None


def _too_long(seconds: float) -> str:
    return (f"**Too long.** This clip is {seconds:.0f} s; the demo takes up to {MAX_DEMO_SECONDS:.0f} s. "
            "Trim it, or transcribe it with `asr transcribe FILE`, which takes any length.")


def _load_clip(audio) -> np.ndarray:
    """16 kHz samples of the page's audio input (a file path); raises AudioError with the user's message."""
    if audio is None or (isinstance(audio, str) and not audio):
        raise AudioError("**No audio yet.** Record something, upload a file, or pick an example.")
    seconds = _duration_if_known(audio)
    if seconds is not None and seconds > MAX_DEMO_SECONDS:
        raise AudioError(_too_long(seconds))
    try:
        samples = load_audio(audio)
    except AudioError as error:
        name = Path(audio).name
        detail = str(error).replace(str(audio), name)
        raise AudioError(f"**That file is not audio we can read** ({detail}). Try a wav, flac, ogg or mp3 file.")
    if samples.size > MAX_DEMO_SECONDS * SAMPLE_RATE:
        raise AudioError(_too_long(samples.size / SAMPLE_RATE))
    return samples


def transcribe_clip(models: Models, audio, checkpoint: str | None, beam_size: float,
                    ctc_weight: float, lm_weight: float = 0.0, vtln: bool = False,
                    oov_penalty: float = 0.0, word_lm_weight: float = 0.0) -> PageResult:
    """Everything the page shows for one clip; never raises (problems become the status message).

    ``lm_weight`` applies when the checkpoint carries a language model and is ignored otherwise;
    ``oov_penalty`` likewise when it carries a lexicon, ``word_lm_weight`` when it carries a word LM.
    ``vtln`` decodes at each of ``VTLN_WARP_FACTORS`` and keeps the surest result.
    """
    try:
        samples = _load_clip(audio)
    except AudioError as error:  # _load_clip's messages are written for the page
        return PageResult(status=str(error))
    try:
        model = models.get(checkpoint)
        options = page_options(model, beam_size, ctc_weight, lm_weight, oov_penalty, vtln, word_lm_weight)
        result = model.transcribe(samples, options=options)
        text, attention, frame_seconds = stitch_segments(result.segments, result.offsets, result.duration)
        view = alignment_html(samples, text, attention, frame_seconds)
    except CheckpointError as error:
        return PageResult(status=f"**Could not load that checkpoint.** {error}")
    except Exception as error:  # the page must keep working whatever one clip does
        log.exception("decoding failed")
        return PageResult(status=f"**Something went wrong** decoding this clip ({type(error).__name__}). "
                                 "The demo is still running: try another clip or other settings.")
    duration = samples.size / SAMPLE_RATE
    if not text:
        quiet = "silent or very quiet" if not result.segments else "not recognisable as speech"
        return PageResult(status=f"**No speech found.** The clip ({duration:.1f} s) is {quiet}. "
                                 "Speak closer to the microphone, or try an example.", alignment=view)
    segments = len(result.segments)
    status = (f"**Transcribed** {duration:.1f} s of audio, {len(text)} characters, confidence {result.confidence:.2f}"
              + (f", decoded in {segments} pieces" if segments > 1 else "") + ".")
    # The transcript and words are written (numerals...); the alignment keeps the speller's characters it timed.
    return PageResult(status, result.text, view, word_rows(result.words),
                      nbest_rows(written_nbest(result, getattr(model, "punctuator", None))))


def written_nbest(result, punctuator=None) -> list[tuple[str, float]]:
    """The speller's alternatives in written form, each text once; the first is ``result.text`` itself."""
    shown, seen = [], set()
    for raw, score in result.nbest:
        text = result.text if raw == result.raw_text else write_text(raw, punctuator)
        if text not in seen:
            seen.add(text)
            shown.append((text, score))
    return shown


def page_options(model, beam_size, ctc_weight, lm_weight=0.0, oov_penalty=0.0, vtln=False, word_lm_weight=0.0):
    """The page's settings over the demo preset, without the aids the checkpoint lacks (its LMs, its lexicon)."""
    return usable(preset(DEFAULT_PRESET["demo"], beam_size=int(beam_size), ctc_weight=float(ctc_weight),
                         lm_weight=float(lm_weight), oov_penalty=float(oov_penalty), vtln=bool(vtln),
                         word_lm_weight=float(word_lm_weight)), model)


def word_rows(words) -> list[list]:
    """The words table: times and confidence as fixed two-decimal text (0.40, not 0.4)."""
    return [[w.word, f"{w.start:.2f}", f"{w.end:.2f}", f"{w.confidence:.2f}"] for w in words]


def nbest_rows(nbest) -> list[list]:
    return [[rank, hypothesis, f"{score:.3f}"] for rank, (hypothesis, score) in enumerate(nbest, 1)]


def example_clips() -> list[str]:
    return sorted(str(p) for p in EXAMPLES_DIR.glob("*.wav"))


def build_demo(checkpoints: list[Path], concurrency: int = 2, preload: bool = True,
               live_processes: int = 0) -> gr.Blocks:
    """The demo page over these checkpoints (the first is the default), with its queue configured.

    Args:
        checkpoints: checkpoint files offered in the page; at least one.
        concurrency: clips decoded at once; the others wait in the queue (up to QUEUE_SIZE).
        preload: load the default checkpoint now, so a bad one fails here and the first clip is fast.
        live_processes: child processes per checkpoint that decode live microphone streams (see
            :class:`Models`); 0 decodes them in the server's threads, which slows everything else.

    Serve it with :func:`launch`, which adds the route the Speak tab posts its audio to.

    Raises:
        CheckpointError: ``preload`` and the default checkpoint does not load.
    """
    if not checkpoints:
        raise ValueError("build_demo needs at least one checkpoint")
    models = Models(checkpoints, processes=live_processes)
    if preload:
        models.get(None)
        if live_processes:  # loaded in the background: the page is served meanwhile
            models.live(None).start(wait=False)
    defaults = preset(DEFAULT_PRESET["demo"])

    def on_transcribe(audio, checkpoint, beam_size, ctc_weight, lm_weight, oov_penalty, word_lm_weight, vtln):
        return transcribe_clip(models, audio, checkpoint, beam_size, ctc_weight, lm_weight, vtln,
                               oov_penalty, word_lm_weight).outputs()

    def on_audio_change(audio, *page_settings):
        if audio is None:  # cleared: leave the last result on the page
            return tuple(gr.skip() for _ in PageResult().outputs())
        return on_transcribe(audio, *page_settings)

    streams = LiveStreams()

    def on_record(stream, session, checkpoint, beam_size, ctc_weight, lm_weight, oov_penalty, word_lm_weight,
                  vtln):
        """The page has opened its microphone as ``stream`` ("ID:RATE"): a new session receives it.

        The page's capture script posts its chunks to the live route, retrying until the session
        is registered here, so the audio of these first moments waits in the page, not lost."""
        if session is not None:
            streams.remove(session[0])
        stream_id, _, rate = (stream or "").partition(":")
        if stream_id == "error" or not streams.valid_id(stream_id) or not rate.isdigit():
            detail = rate if stream_id == "error" else "the page could not start its capture"
            return None, f"**No microphone.** {detail}. Allow this page to use the microphone and try again.", \
                gr.skip(), gr.skip()
        model = models.get(checkpoint)
        options = page_options(model, beam_size, ctc_weight, lm_weight, oov_penalty, word_lm_weight=word_lm_weight,
                               vtln=vtln)
        live = LiveSession(models.live(checkpoint), int(rate), options)
        streams.add(stream_id, live)
        return (stream_id, live), *live.outputs()

    def on_stop(session):
        """After the page has sent its last chunk (the stop button's script waits for it)."""
        if session is None:
            return gr.skip(), gr.skip(), gr.skip()
        session[1].close()
        return session[1].outputs()

    def on_tick(session, seen):
        """Status, running transcript and lines, sent only when changed; ``seen`` is what the page
        shows: (version, decoding finished), or whether the model was ready before recording."""
        if session is None:
            live_model = models.live(None)
            ready = getattr(live_model, "ready", True)
            if seen == ready:
                return gr.skip(), gr.skip(), gr.skip(), seen
            status = "Ready: press Record and talk." if ready else \
                "Loading the model… (you can record now; the lines appear once it has loaded)"
            return status, gr.skip(), gr.skip(), ready
        live, shown = session[1], seen if isinstance(seen, tuple) else None
        finished = live.decoder.done.is_set()
        if shown is not None and shown[1] and finished:
            return gr.skip(), gr.skip(), gr.skip(), seen
        version, outputs = live.changes(since=None if shown is None else shown[0])
        return (*(gr.skip() if output is None else output for output in outputs), (version, finished))

    def forget(session):
        if session is not None:
            streams.remove(session[0])

    with gr.Blocks(title="LAS speech recognizer: see what it attends to") as demo:
        gr.HTML(f"<style>{VIEW_CSS}{LIVE_CSS}</style>", padding=False, js_on_load=CAPTURE_SCRIPT)
        gr.Markdown(INTRO)
        with gr.Accordion("Decoding settings", open=False):
            checkpoint = gr.Dropdown(models.names, value=models.names[0], label="Checkpoint",
                                     visible=len(models.names) > 1)
            with gr.Row():
                beam_size = gr.Slider(1, MAX_BEAM_SIZE, value=defaults.beam_size, step=1, label="Beam size",
                                      info="1 is greedy decoding; larger searches more hypotheses.")
                ctc_weight = gr.Slider(0.0, 1.0, value=defaults.ctc_weight, step=0.1, label="CTC weight",
                                       info="Weight of the CTC prefix score in beam search (0 = attention only).")
                lm_weight = gr.Slider(0.0, 1.0, value=defaults.lm_weight, step=0.1, label="Language model weight",
                                      info="Weight of the checkpoint's character language model in beam search, "
                                           "when it has one (0 = none).")
                oov_penalty = gr.Slider(0.0, 10.0, value=defaults.oov_penalty, step=0.5,
                                        label="Out-of-lexicon penalty", elem_id="oov-penalty",
                                        info="Cost of a word missing from the checkpoint's lexicon, when it "
                                             "has one: higher prefers dictionary words (0 = spell freely).")
                word_lm_weight = gr.Slider(0.0, 1.0, value=defaults.word_lm_weight, step=0.1,
                                           label="Word language model weight", elem_id="word-lm-weight",
                                           info="Weight of the checkpoint's word n-gram model, when it has one: "
                                                "which word tends to follow which (0 = none).")
                vtln = gr.Checkbox(value=bool(defaults.warp_factors), label="Speaker normalisation (VTLN)",
                                   elem_id="vtln", info="Decode audio of up to 10 s at several vocal-tract warps "
                                                        "and keep the surest result: several times slower.")
        settings = [checkpoint, beam_size, ctc_weight, lm_weight, oov_penalty, word_lm_weight, vtln]
        with gr.Tab("Speak", elem_id="live-tab"):
            gr.Markdown("Press record and talk. The words appear in grey as you speak; each time you pause, "
                        "the line is settled and its alignment appears below, while you go on talking.")
            with gr.Row():
                record = gr.Button("Record", variant="primary", elem_id="live-record")
                stop = gr.Button("Stop", elem_id="live-stop")
            live_status = gr.Markdown("Not recording.", elem_id="live-status")
            live_transcript = gr.HTML(label="Transcript, one line per utterance", elem_id="live-transcript")
            live_view = gr.HTML(elem_id="live-alignment", js_on_load=VIEW_SCRIPT)
            stream = gr.Textbox(visible=False)  # "ID:RATE" of the page's capture, set by the record script
            # (stream id, LiveSession); a closed tab's session is closed too, so its decoding thread ends.
            session = gr.State(None, delete_callback=forget)
            seen = gr.State(None)
            live_outputs = [live_status, live_transcript, live_view]
            record.click(on_record, [stream, session, *settings], [session, *live_outputs],
                         js="async (stream, ...rest) => [await window.asrLive.start(), ...rest]",
                         api_visibility="private", show_progress="hidden", concurrency_limit=None)
            stop.click(None, js="async () => { await window.asrLive.stop(); }").then(
                on_stop, [session], live_outputs, api_visibility="private", show_progress="hidden",
                concurrency_limit=None)
            gr.Timer(REFRESH_SECONDS).tick(on_tick, [session, seen], [*live_outputs, seen],
                                           api_visibility="private", show_progress="hidden",
                                           concurrency_limit=None)
        with gr.Tab("Record or upload a clip", elem_id="clip-tab"):
            with gr.Row():
                with gr.Column(scale=1, min_width=320):
                    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio",
                                     elem_id="audio-input")
                    if example_clips():
                        gr.Examples(examples=[[p] for p in example_clips()], inputs=[audio], label="Example clips")
                    run = gr.Button("Transcribe", variant="primary", elem_id="transcribe")
                with gr.Column(scale=3):
                    status = gr.Markdown(elem_id="status")
                    transcript = gr.Textbox(label="Transcript", interactive=False, elem_id="transcript",
                                            buttons=["copy"])
            view = gr.HTML(elem_id="alignment", js_on_load=VIEW_SCRIPT)
            with gr.Row():
                words = gr.Dataframe(headers=["word", "start (s)", "end (s)", "confidence"], label="Words",
                                     interactive=False, elem_id="words")
                nbest = gr.Dataframe(headers=["rank", "hypothesis", "score"], label="N-best (beam search)",
                                     interactive=False, elem_id="nbest")
            inputs = [audio, *settings]
            outputs = [status, transcript, view, words, nbest]
            run.click(on_transcribe, inputs, outputs, api_name="transcribe", concurrency_id="decode")
            audio.change(on_audio_change, inputs, outputs, api_visibility="private", concurrency_id="decode")
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=concurrency)
    demo.live_routes = routes(streams)  # the route the capture script posts to: launch(demo, ...) serves it
    return demo


def launch(demo: gr.Blocks, **kwargs):
    """``demo.launch(**kwargs)`` with the live microphone's chunk route (:mod:`asr.apps.live_transport`)."""
    app_kwargs = dict(kwargs.pop("app_kwargs", None) or {})
    app_kwargs["routes"] = [*app_kwargs.get("routes", []), *demo.live_routes]
    return demo.launch(app_kwargs=app_kwargs, **kwargs)


def checkpoint_choices(checkpoint: str | None) -> list[Path]:
    """The --checkpoint file (or the bundled default) first, then the other checkpoints/*.pt."""
    first = Path(checkpoint) if checkpoint else default_checkpoint()
    if not first.is_file():
        raise CheckpointError(f"{first}: no such checkpoint file")
    others = [p for p in available_checkpoints() if p.resolve() != first.resolve()]
    return [first, *others]


def serve(args: argparse.Namespace) -> None:
    try:
        checkpoints = checkpoint_choices(args.checkpoint)
    except CheckpointError as error:
        sys.exit(f"asr demo: {error}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    import torch

    # Requests run in parallel threads: share the cores between them instead of oversubscribing.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.concurrency))
    try:
        demo = build_demo(checkpoints, concurrency=args.concurrency, live_processes=args.concurrency)
    except CheckpointError as error:
        sys.exit(f"asr demo: {error}")
    launch(demo, server_name=args.host, server_port=args.port, share=args.share, max_file_size=MAX_UPLOAD,
           allowed_paths=[str(EXAMPLES_DIR)])

