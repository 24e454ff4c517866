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

from asr.audio import SAMPLE_RATE, AudioError, load_audio
from asr.checkpoint import CheckpointError, available_checkpoints, bundled_path, default_checkpoint, load_model
from asr.decoding import VTLN_WARP_FACTORS
from asr.plotting import alignment_figure, attended_span, figure_to_image, stitch_segments
from asr.transcribe import MAX_SEGMENT_SECONDS

EXAMPLES_DIR = bundled_path("examples")
MAX_DEMO_SECONDS = 60.0  # longer clips get a message instead of a long wait (the CLI takes any length)
MAX_UPLOAD = "50mb"  # Gradio refuses larger uploads before they reach the model
MAX_BEAM_SIZE = 10
DEFAULT_BEAM_SIZE = 4
DEFAULT_CTC_WEIGHT = 0.3
DEFAULT_LM_WEIGHT = 0.3  # the bundled checkpoint's measured best (model card); ignored without an LM
DEFAULT_OOV_PENALTY = 0.0  # on the human dev set the lexicon gains characters but loses words (model card)
DEFAULT_VTLN = True  # people speak into the demo, and on a person's voice VTLN is the biggest gain (model card)
QUEUE_SIZE = 64  # requests waiting at once; more get "queue full" from Gradio
MIN_PLAY_SECONDS = 0.3  # one letter's attended audio is widened to this, or it is too short to hear

log = logging.getLogger("app")

INTRO = f"""
# Watch a listen-attend-spell model attend

Record from the microphone, upload a clip (up to {MAX_DEMO_SECONDS:.0f} s), or pick an example.
The model writes the transcript one letter at a time; for each letter it **attends** to a
stretch of the audio. The picture shows that attention: the log-mel spectrogram on top,
each letter placed at the time it attended to, and below, one row per output letter with
its attention over time (darker = more attention). A clean alignment is a diagonal staircase.

Audio longer than {MAX_SEGMENT_SECONDS:.0f} s is cut at pauses and each piece is decoded on its
own; the picture stitches the pieces onto the clip's time axis, joined by a space row.
"""


@dataclass
class PageResult:
    """What the transcribe handler sends to the page, in output order."""

    status: str = ""
    transcript: str = ""
    image: np.ndarray | None = None
    words: list | None = None
    nbest: list | None = None
    alignment: dict | None = None  # kept in gr.State for the character explorer
    selector: dict | None = None

    def outputs(self) -> tuple:
        words = self.words or []
        nbest = self.nbest or []
        return (self.status, self.transcript, self.image, words, nbest, self.alignment,
                self.selector or gr.update(maximum=1, value=0, interactive=False), None, "")


class Models:
    """Loaded checkpoints by name, each loaded once; inference only reads them, so threads share them."""

    def __init__(self, paths: list[Path]):
        self.paths = {self._name(p, paths): Path(p) for p in paths}
        self._loaded = {}
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
                    oov_penalty: float = 0.0) -> PageResult:
    """Everything the page shows for one clip; never raises (problems become the status message).

    ``lm_weight`` applies when the checkpoint carries a language model and is ignored otherwise;
    ``oov_penalty`` likewise when it carries a lexicon.
    ``vtln`` decodes at each of ``VTLN_WARP_FACTORS`` and keeps the surest result.
    """
    try:
        samples = _load_clip(audio)
    except AudioError as error:  # _load_clip's messages are written for the page
        return PageResult(status=str(error))
    try:
        model = models.get(checkpoint)
        lm_weight = float(lm_weight) if model.language_model is not None else 0.0
        oov_penalty = float(oov_penalty) if model.lexicon is not None else 0.0
        result = model.transcribe(samples, beam_size=int(beam_size), ctc_weight=float(ctc_weight),
                                  lm_weight=lm_weight, oov_penalty=oov_penalty,
                                  warp_factors=VTLN_WARP_FACTORS if vtln else ())
        text, attention, frame_seconds = stitch_segments(result.segments, result.offsets, result.duration)
        duration = samples.size / SAMPLE_RATE
        name = checkpoint or models.names[0]
        figure = alignment_figure(samples, text, attention, frame_seconds,
                                  title=f"{name}: “{_shorten(text)}”" if text else f"{name}: no speech found")
        image = figure_to_image(figure)
    except CheckpointError as error:
        return PageResult(status=f"**Could not load that checkpoint.** {error}")
    except Exception as error:  # the page must keep working whatever one clip does
        log.exception("decoding failed")
        return PageResult(status=f"**Something went wrong** decoding this clip ({type(error).__name__}). "
                                 "The demo is still running: try another clip or other settings.")
    if not text:
        quiet = "silent or very quiet" if not result.segments else "not recognisable as speech"
        return PageResult(status=f"**No speech found.** The clip ({duration:.1f} s) is {quiet}. "
                                 "Speak closer to the microphone, or try an example.", image=image)
    words = [[w.word, round(w.start, 2), round(w.end, 2), round(w.confidence, 2)] for w in result.words]
    nbest = [[rank, hypothesis, round(score, 3)] for rank, (hypothesis, score) in enumerate(result.nbest, 1)]
    segments = len(result.segments)
    status = (f"**Transcribed** {duration:.1f} s of audio, {len(text)} characters, confidence {result.confidence:.2f}"
              + (f", decoded in {segments} pieces" if segments > 1 else "") + ".")
    alignment = {"samples": samples, "text": text, "attention": attention, "frame_seconds": frame_seconds,
                 "title": f"{name}: “{_shorten(text)}”"}
    selector = gr.update(minimum=0, maximum=max(len(text) - 1, 1), value=0, step=1, interactive=True)
    return PageResult(status, text, image, words, nbest, alignment, selector)


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show_character(alignment: dict | None, index: float):
    """Highlight one character: the picture with it marked, the audio it attended to, and a line about it."""
    if not alignment:
        return gr.skip(), None, "Transcribe a clip first, then pick a character here."
    try:
        return _show_character(alignment, index)
    except Exception as error:  # the page must keep working
        log.exception("highlighting failed")
        return gr.skip(), None, f"Could not highlight that character ({type(error).__name__})."


def _show_character(alignment: dict, index: float):
    text, attention = alignment["text"], alignment["attention"]
    u = int(min(max(index, 0), len(text) - 1))
    samples, frame_seconds = alignment["samples"], alignment["frame_seconds"]
    image = figure_to_image(alignment_figure(samples, text, attention, frame_seconds, highlight=u,
                                             title=alignment["title"]))
    char = "space" if text[u] == " " else f"“{text[u]}”"
    word = _word_at(text, u)
    if not attention[u].any():
        return image, None, f"Character {u}: {char} joins two separately decoded pieces; it attends to nothing."
    start, end = attended_span(attention[u], frame_seconds)
    play_start, play_end = start, end
    if play_end - play_start < MIN_PLAY_SECONDS:  # widen around the middle so it can be heard
        middle = (start + end) / 2
        play_start, play_end = middle - MIN_PLAY_SECONDS / 2, middle + MIN_PLAY_SECONDS / 2
    lo, hi = max(0, int(play_start * SAMPLE_RATE)), min(samples.size, int(play_end * SAMPLE_RATE))
    clip = (np.clip(samples[lo:hi], -1, 1) * 32767).astype(np.int16)
    info = (f"Character {u}: {char}{f' in “{word}”' if word else ''} attends to {start:.2f}–{end:.2f} s"
            f" (boxed on the spectrogram). Playing {lo / SAMPLE_RATE:.2f}–{hi / SAMPLE_RATE:.2f} s.")
    return image, (SAMPLE_RATE, clip), info


def _word_at(text: str, u: int) -> str:
    if text[u] == " ":
        return ""
    start = text.rfind(" ", 0, u) + 1
    end = text.find(" ", u)
    return text[start: end if end >= 0 else len(text)]


def example_clips() -> list[str]:
    return sorted(str(p) for p in EXAMPLES_DIR.glob("*.wav"))


def build_demo(checkpoints: list[Path], concurrency: int = 2, preload: bool = True) -> gr.Blocks:
    """The demo page over these checkpoints (the first is the default), with its queue configured.

    Args:
        checkpoints: checkpoint files offered in the page; at least one.
        concurrency: clips decoded at once; the others wait in the queue (up to QUEUE_SIZE).
        preload: load the default checkpoint now, so a bad one fails here and the first clip is fast.
    Raises:
        CheckpointError: ``preload`` and the default checkpoint does not load.
    """
    if not checkpoints:
        raise ValueError("build_demo needs at least one checkpoint")
    models = Models(checkpoints)
    if preload:
        models.get(None)

    def on_transcribe(audio, checkpoint, beam_size, ctc_weight, lm_weight, oov_penalty, vtln):
        return transcribe_clip(models, audio, checkpoint, beam_size, ctc_weight, lm_weight, vtln,
                               oov_penalty).outputs()

    def on_audio_change(audio, checkpoint, beam_size, ctc_weight, lm_weight, oov_penalty, vtln):
        if audio is None:  # cleared: leave the last result on the page
            return tuple(gr.skip() for _ in PageResult().outputs())
        return on_transcribe(audio, checkpoint, beam_size, ctc_weight, lm_weight, oov_penalty, vtln)

    with gr.Blocks(title="LAS speech recognizer: see what it attends to") as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio",
                                 elem_id="audio-input")
                if example_clips():
                    gr.Examples(examples=[[p] for p in example_clips()], inputs=[audio], label="Example clips")
                checkpoint = gr.Dropdown(models.names, value=models.names[0], label="Checkpoint",
                                         visible=len(models.names) > 1)
                beam_size = gr.Slider(1, MAX_BEAM_SIZE, value=DEFAULT_BEAM_SIZE, step=1, label="Beam size",
                                      info="1 is greedy decoding; larger searches more hypotheses.")
                ctc_weight = gr.Slider(0.0, 1.0, value=DEFAULT_CTC_WEIGHT, step=0.1, label="CTC weight",
                                       info="Weight of the CTC prefix score in beam search (0 = attention only).")
                lm_weight = gr.Slider(0.0, 1.0, value=DEFAULT_LM_WEIGHT, step=0.1, label="Language model weight",
                                      info="Weight of the checkpoint's character language model in beam search, "
                                           "when it has one (0 = none).")
                oov_penalty = gr.Slider(0.0, 10.0, value=DEFAULT_OOV_PENALTY, step=0.5,
                                        label="Out-of-lexicon penalty", elem_id="oov-penalty",
                                        info="Cost of a word missing from the checkpoint's lexicon, when it "
                                             "has one: higher prefers dictionary words (0 = spell freely).")
                vtln = gr.Checkbox(value=DEFAULT_VTLN, label="Speaker normalisation (VTLN)", elem_id="vtln",
                                   info="Decode at several vocal-tract warps and keep the surest result: "
                                        "slower, and much better on real voices.")
                run = gr.Button("Transcribe", variant="primary", elem_id="transcribe")
            with gr.Column(scale=3):
                status = gr.Markdown(elem_id="status")
                transcript = gr.Textbox(label="Transcript", interactive=False, elem_id="transcript",
                                        buttons=["copy"])
                image = gr.Image(label="Attention alignment", type="numpy", format="png", interactive=False,
                                 elem_id="alignment")
        with gr.Row():
            words = gr.Dataframe(headers=["word", "start (s)", "end (s)", "confidence"], label="Words",
                                 interactive=False, elem_id="words")
            nbest = gr.Dataframe(headers=["rank", "hypothesis", "score"], label="N-best (beam search)",
                                 interactive=False, elem_id="nbest")
        gr.Markdown("### Pick a character to see and hear what it attended to")
        with gr.Row():
            character = gr.Slider(0, 1, value=0, step=1, label="Character", interactive=False,
                                  elem_id="character")
            character_audio = gr.Audio(label="Audio it attended to", type="numpy", interactive=False)
        character_info = gr.Markdown(elem_id="character-info")
        alignment = gr.State(None)

        inputs = [audio, checkpoint, beam_size, ctc_weight, lm_weight, oov_penalty, vtln]
        outputs = [status, transcript, image, words, nbest, alignment, character, character_audio, character_info]
        run.click(on_transcribe, inputs, outputs, api_name="transcribe", concurrency_id="decode")
        audio.change(on_audio_change, inputs, outputs, api_visibility="private", concurrency_id="decode")
        character.release(show_character, [alignment, character], [image, character_audio, character_info],
                          api_visibility="private", concurrency_id="decode")
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=concurrency)
    return demo


def checkpoint_choices(checkpoint: str | None) -> list[Path]:
    """The --checkpoint file (or the bundled default) first, then the other checkpoints/*.pt."""
    first = Path(checkpoint) if checkpoint else default_checkpoint()
    if not first.is_file():
        raise CheckpointError(f"{first}: no such checkpoint file")
    others = [p for p in available_checkpoints() if p.resolve() != first.resolve()]
    return [first, *others]


def main(argv: list[str] | None = None) -> None:
    """``python app.py [options]``: the same as ``asr demo [options]``."""
    from asr.cli import main as cli

    cli(["demo", *(sys.argv[1:] if argv is None else argv)])


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
        demo = build_demo(checkpoints, concurrency=args.concurrency)
    except CheckpointError as error:
        sys.exit(f"asr demo: {error}")
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=MAX_UPLOAD,
                allowed_paths=[str(EXAMPLES_DIR)])


if __name__ == "__main__":
    main()
