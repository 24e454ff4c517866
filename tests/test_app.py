"""The Gradio demo: the handlers directly, then the running server through its API, a load test, and a browser.

The model is a tiny random one whose ``<eos>`` is suppressed, so every clip with
speech gets a non-empty (nonsense) transcript and the page's every output is filled.
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parent.parent
from asr.apps import demo as app  # noqa: E402
from asr.cli import main as cli  # noqa: E402
from asr.decoding.search import VTLN_WARP_FACTORS  # noqa: E402
from asr.model.checkpoint import save_checkpoint  # noqa: E402
from asr.model.las import LAS, ModelConfig  # noqa: E402

EXAMPLE = str(ROOT / "examples" / "set_a_timer.wav")
SERVER_START_SECONDS = 120
CONCURRENT_REQUESTS = 20


def _tiny_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    model = LAS(ModelConfig(encoder_hidden=32, encoder_layers=2, decoder_hidden=32, attention_dim=32,
                            embedding_dim=16)).eval()
    with torch.no_grad():
        model.speller.classify.bias[model.vocabulary.eos_id] = -50.0  # never stop early: always some text
    save_checkpoint(model, path)
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return _tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="module")
def models(checkpoint) -> app.Models:
    return app.Models([checkpoint])


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory) -> dict:
    """Each kind of bad input, with a phrase its message must contain."""
    folder = tmp_path_factory.mktemp("bad")
    sf.write(folder / "silence.wav", np.zeros(2 * 16_000, dtype=np.float32), 16_000)
    (folder / "notes.wav").write_text("these are meeting notes, not audio")
    (folder / "empty.wav").write_bytes(b"")
    long = np.random.default_rng(0).standard_normal(int((app.MAX_DEMO_SECONDS + 5) * 8_000)) * 0.01
    sf.write(folder / "long.wav", long.astype(np.float32), 8_000)  # 8 kHz keeps the file small
    return {
        None: "No audio yet",
        str(folder / "silence.wav"): "No speech found",
        str(folder / "notes.wav"): "not audio we can read",
        str(folder / "empty.wav"): "not audio we can read",
        str(folder / "long.wav"): f"takes up to {app.MAX_DEMO_SECONDS:.0f} s",
    }


# --- the handlers, without a server -------------------------------------------------------------

def test_the_language_model_weight_is_used_when_the_checkpoint_has_one(checkpoint, tmp_path):
    from asr.model.checkpoint import load_model
    from asr.model.char_lm import CharLanguageModel, LanguageModelConfig

    model = load_model(checkpoint)
    torch.manual_seed(1)
    model.language_model = CharLanguageModel(LanguageModelConfig(hidden=16)).eval()
    with torch.no_grad():  # an LM sure that every character is "z"
        model.language_model.classify.bias.fill_(-20.0)
        model.language_model.classify.bias[model.vocabulary.encode("z")[0]] = 20.0
    save_checkpoint(model, tmp_path / "with_lm.pt")
    with_lm = app.Models([tmp_path / "with_lm.pt"])
    plain = app.transcribe_clip(with_lm, EXAMPLE, None, beam_size=2, ctc_weight=0.0, lm_weight=0.0).transcript
    fused = app.transcribe_clip(with_lm, EXAMPLE, None, beam_size=2, ctc_weight=0.0, lm_weight=1.0).transcript
    assert set(fused) == {"z"} and set(plain) != {"z"}
    # A checkpoint without one ignores the weight rather than failing the page.
    ignored = app.transcribe_clip(app.Models([checkpoint]), EXAMPLE, None, beam_size=2, ctc_weight=0.0,
                                  lm_weight=1.0)
    assert ignored.status.startswith("**Transcribed**") and ignored.transcript == plain


def test_the_lexicon_penalty_is_used_when_the_checkpoint_has_a_lexicon(checkpoint, tmp_path):
    from asr.model.checkpoint import load_model
    from asr.model.lexicon import Lexicon

    model = load_model(checkpoint)
    model.lexicon = Lexicon(["a", "i", "to"])
    save_checkpoint(model, tmp_path / "with_lexicon.pt")
    with_lexicon = app.Models([tmp_path / "with_lexicon.pt"])
    free = app.transcribe_clip(with_lexicon, EXAMPLE, None, beam_size=2, ctc_weight=0.0).transcript
    lexical = app.transcribe_clip(with_lexicon, EXAMPLE, None, beam_size=2, ctc_weight=0.0,
                                  oov_penalty=1e9).transcript
    assert lexical.split() and set(lexical.split()) <= {"a", "i", "to"}
    assert not set(free.split()) <= {"a", "i", "to"}
    # A checkpoint without one ignores the penalty rather than failing the page.
    ignored = app.transcribe_clip(app.Models([checkpoint]), EXAMPLE, None, beam_size=2, ctc_weight=0.0,
                                  oov_penalty=5.0)
    assert ignored.status.startswith("**Transcribed**") and ignored.transcript == free


def test_the_word_lm_weight_is_used_when_the_checkpoint_has_a_word_lm(checkpoint, tmp_path):
    from asr.model.checkpoint import load_model
    from asr.model.word_lm import read_arpa

    (tmp_path / "lm.arpa").write_text("\\data\\\nngram 1=4\n\n\\1-grams:\n-99 <s>\n-1 </s>\n-0.5 a\n-0.5 i\n\n\\end\\\n")
    model = load_model(checkpoint)
    model.word_language_model = read_arpa(tmp_path / "lm.arpa")
    save_checkpoint(model, tmp_path / "with_word_lm.pt")
    with_word_lm = app.Models([tmp_path / "with_word_lm.pt"])
    free = app.transcribe_clip(with_word_lm, EXAMPLE, None, beam_size=2, ctc_weight=0.0).transcript
    fused = app.transcribe_clip(with_word_lm, EXAMPLE, None, beam_size=2, ctc_weight=0.0,
                                word_lm_weight=1.0).transcript
    assert not set(free.split()) <= {"a", "i"}
    assert set(fused.split()) <= {"a", "i"}  # every other word costs 18 per unit weight (or nothing is said)
    ignored = app.transcribe_clip(app.Models([checkpoint]), EXAMPLE, None, beam_size=2, ctc_weight=0.0,
                                  word_lm_weight=1.0)
    assert ignored.status.startswith("**Transcribed**") and ignored.transcript == free


def test_the_speaker_normalisation_box_reaches_the_decoder(models, monkeypatch):
    import importlib

    transcribe_module = importlib.import_module("asr.decoding.transcribe")
    seen, real_decode = [], transcribe_module.decode

    def spy(model, waveforms, lengths, options, **kwargs):
        seen.append(options.warp_factors)
        return real_decode(model, waveforms, lengths, options, **kwargs)

    monkeypatch.setattr(transcribe_module, "decode", spy)
    off = app.transcribe_clip(models, EXAMPLE, None, beam_size=1, ctc_weight=0.0, vtln=False)
    on = app.transcribe_clip(models, EXAMPLE, None, beam_size=1, ctc_weight=0.0, vtln=True)
    assert off.status.startswith("**Transcribed**") and on.status.startswith("**Transcribed**")
    assert seen == [(), VTLN_WARP_FACTORS]


def test_example_clip_fills_every_output(models):
    result = app.transcribe_clip(models, EXAMPLE, None, beam_size=2, ctc_weight=0.3)
    assert result.status.startswith("**Transcribed**"), result.status
    model = models.get(None)
    same = model.transcribe(EXAMPLE, options=app.page_options(model, 2, 0.3))
    assert result.transcript == same.text  # the written form
    assert f'data-rows="{len(same.raw_text)}"' in result.alignment  # one row per character the speller wrote
    assert [w[0] for w in result.words] == result.transcript.split()
    # Times and confidences as two-decimal text: 0.40, not 0.4.
    assert all(re.fullmatch(r"\d+\.\d\d", value) for _, *values in result.words for value in values)
    assert all(float(start) <= float(end) for _, start, end, _ in result.words)
    assert result.nbest[0][:2] == [1, result.transcript]
    assert len({row[1] for row in result.nbest}) == len(result.nbest)


def test_the_nbest_is_written_and_each_text_shown_once():
    from types import SimpleNamespace

    result = SimpleNamespace(text="set a timer for 10 minutes", raw_text="set a timer for ten minutes",
                             nbest=[("set a timer for ten minutes", -1.0), ("set a timer four ten minutes", -1.1),
                                    ("set a timer for ten minutes", -1.2)])
    assert app.written_nbest(result) == [("set a timer for 10 minutes", -1.0), ("set a timer 4 10 minutes", -1.1)]


def test_bad_inputs_give_a_friendly_message(models, bad_inputs):
    for audio, phrase in bad_inputs.items():
        result = app.transcribe_clip(models, audio, None, beam_size=1, ctc_weight=0.0)
        assert phrase in result.status, (audio, result.status)
        assert "Traceback" not in result.status and not result.transcript


def test_long_audio_is_decoded_in_pieces_and_stitched_on_one_time_axis(models, tmp_path):
    clip, rate = sf.read(EXAMPLE, dtype="float32")
    pause = np.zeros(int(16 * rate), dtype=np.float32)  # longer than a segment: no two clips share one
    long = np.concatenate([clip, pause, clip, pause, clip])  # cut at the pauses
    sf.write(tmp_path / "long.wav", long, rate)
    result = app.transcribe_clip(models, str(tmp_path / "long.wav"), None, beam_size=1, ctc_weight=0.0)
    assert "decoded in 3 pieces" in result.status, result.status
    rows = int(re.search(r'data-rows="(\d+)"', result.alignment).group(1))
    frames = int(re.search(r'data-frames="(\d+)"', result.alignment).group(1))
    frame_seconds = float(re.search(r'data-frame-seconds="([\d.]+)"', result.alignment).group(1))
    assert rows == len(result.transcript)
    assert frames == pytest.approx(long.size / rate / frame_seconds, abs=1)  # one time axis for the pieces
    assert [w[0] for w in result.words] == result.transcript.split()
    assert float(result.words[-1][1]) > 2 * pause.size / rate  # global times, not times within a piece


def test_a_failure_inside_decoding_becomes_a_message(models, monkeypatch):
    model = models.get(None)

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(model, "transcribe", broken)
    result = app.transcribe_clip(models, EXAMPLE, None, beam_size=1, ctc_weight=0.0)
    assert "Something went wrong" in result.status and "still running" in result.status


def test_the_alignment_view_places_letters_in_order_without_overlap(models):
    from asr.apps.alignment_view import LETTER_GAP, alignment_html

    samples = np.zeros(16_000, dtype=np.float32)
    attention = np.zeros((5, 25))
    for u, frame in enumerate([3, 4, 4, 2, 20]):  # the fourth letter's attention wanders back
        attention[u, frame] = 1.0
    view = alignment_html(samples, "abcde", attention, 0.04)
    letters = re.findall(r'class="letter" data-index="(\d)" data-start="([\d.]+)" data-end="([\d.]+)" '
                         r'style="left:([\d.]+)%;top:([\d.]+)em"', view)
    assert [int(i) for i, *_ in letters] == [0, 1, 2, 3, 4]
    lefts = [float(left) for *_, left, _ in letters]
    assert lefts == sorted(lefts)  # text order, left to right
    by_row = {}
    for *_, left, top in letters:
        by_row.setdefault(top, []).append(float(left) / 100)
    assert all(b - a >= LETTER_GAP - 1e-9 for row in by_row.values() for a, b in zip(row, row[1:]))
    assert all(float(end) - float(start) >= 0.3 - 1e-3 for _, start, end, *_ in letters)  # long enough to hear
    assert 'src="data:audio/wav;base64,' in view and 'src="data:image/png;base64,' in view
    assert "no speech" in alignment_html(samples, "", np.zeros((0, 0)), 0.04).lower()

    # An untrained model attends everywhere at once: more letters on one spot than there are rows.
    crowded = alignment_html(samples, "abcdefghijkl", np.full((12, 25), 1 / 25), 0.04)
    spots = re.findall(r'style="left:([\d.]+)%;top:([\d.]+)em"', crowded)
    assert len(spots) == 12
    by_row = {}
    for left, top in spots:
        by_row.setdefault(top, []).append(float(left) / 100)
    assert all(b - a >= LETTER_GAP - 1e-9 for row in by_row.values() for a, b in zip(row, row[1:]))


def test_a_missing_checkpoint_stops_with_one_line(tmp_path):
    with pytest.raises(SystemExit) as stop:
        cli(["demo", "--checkpoint", str(tmp_path / "nothing.pt")])
    assert "no such checkpoint file" in str(stop.value.code)


def test_checkpoints_are_offered_by_name(checkpoint, tmp_path):
    other = tmp_path / "other.pt"
    other.write_bytes(checkpoint.read_bytes())
    models = app.Models([checkpoint, other])
    assert models.names == ["tiny.pt", "other.pt"]
    assert models.get("other.pt") is not models.get("tiny.pt")
    assert models.get("unknown") is models.get("tiny.pt")  # the default


# --- the running server ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _is_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _serve(checkpoint, tmp_path_factory):
    """``python app.py`` on a free loopback port (``checkpoint`` None: the bundled one); yields URL, process."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    chosen = ["--checkpoint", str(checkpoint)] if checkpoint else []
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), *chosen,
                                    "--host", "127.0.0.1", "--port", str(port), "--concurrency", "2"],
                                   cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not _is_up(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the demo did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.5)
    yield url, process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def server(checkpoint, tmp_path_factory):
    yield from _serve(checkpoint, tmp_path_factory)


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server[0], verbose=False)


def _predict(client, audio, beam_size=1, ctc_weight=0.0, lm_weight=0.0, oov_penalty=0.0, word_lm_weight=0.0,
             vtln=False) -> tuple:
    """The /transcribe API: (status, transcript, alignment HTML, words, n-best)."""
    from gradio_client import handle_file

    return client.predict(handle_file(audio) if audio else None, "tiny.pt", beam_size, ctc_weight, lm_weight,
                          oov_penalty, word_lm_weight, vtln, api_name="/transcribe")


@pytest.mark.slow
def test_api_transcribes_an_example(client):
    status, transcript, view, words, nbest = _predict(client, EXAMPLE, beam_size=3, ctc_weight=0.3, vtln=True)
    assert status.startswith("**Transcribed**") and transcript
    assert f'data-rows="{len(transcript)}"' in view
    assert [row[0] for row in words["data"]] == transcript.split()
    assert nbest["data"][0][1] == transcript


@pytest.mark.slow
def test_api_bad_inputs_get_messages_and_the_server_keeps_serving(client, server, bad_inputs):
    for audio, phrase in bad_inputs.items():
        status, transcript, *_ = _predict(client, audio)
        assert phrase in status, (audio, status)
        assert not transcript
    assert server[1].poll() is None
    assert _predict(client, EXAMPLE)[0].startswith("**Transcribed**")


@pytest.mark.slow
def test_twenty_simultaneous_requests_all_complete(client, server):
    from gradio_client import handle_file

    jobs = [client.submit(handle_file(EXAMPLE), "tiny.pt", 1, 0.0, api_name="/transcribe")
            for _ in range(CONCURRENT_REQUESTS)]
    with ThreadPoolExecutor(CONCURRENT_REQUESTS) as pool:
        results = list(pool.map(lambda job: job.result(timeout=300), jobs))
    assert len(results) == CONCURRENT_REQUESTS
    assert all(status.startswith("**Transcribed**") and transcript for status, transcript, *_ in results)
    assert len({transcript for _, transcript, *_ in results}) == 1  # same clip, same (deterministic) answer
    assert server[1].poll() is None and _is_up(server[0])


@pytest.mark.slow
def test_the_live_chunk_route_is_served_beside_the_page(server):
    """``python app.py`` serves the route the Speak tab posts its audio to; a chunk for a stream the
    server does not know is refused in one line, and the server keeps serving."""
    import json
    import urllib.error

    request = urllib.request.Request(f"{server[0]}live/0123456789abcdef?offset=0", data=b"\x00\x00", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 404 and json.loads(refused.value.read()) == {"error": "no such stream"}
    assert server[1].poll() is None and _is_up(server[0])


BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]


def _chromium(playwright, *extra_args):
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("Debian's chromium is not installed")
    return playwright.chromium.launch(executable_path=str(chromium), args=[*BROWSER_ARGS, *extra_args])


@pytest.mark.slow
def test_browser_upload_shows_transcript_and_an_alignment_to_explore(server, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("these are meeting notes, not audio")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = _chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server[0], wait_until="domcontentloaded")
            page.get_by_role("tab", name="Record or upload a clip").click()
            page.locator("#audio-input input[type=file]").set_input_files(EXAMPLE)
            transcript = page.locator("#transcript textarea")
            sync_api.expect(transcript).not_to_have_value("", timeout=120_000)
            sync_api.expect(page.locator("#status")).to_contain_text("Transcribed")
            text = transcript.input_value()
            view = page.locator("#alignment .alignment-view")
            sync_api.expect(view).to_have_attribute("data-rows", str(len(text)), timeout=30_000)
            matrix = page.locator("#alignment img.attention")
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=matrix.element_handle())
            assert page.locator("#alignment .letter").count() == len(text.replace(" ", ""))

            # Hovering a cell names its character, time and weight.
            box = matrix.bounding_box()
            row = len(text) // 2
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + (row + 0.5) * box["height"] / len(text))
            info = page.locator("#alignment .hover-info")
            sync_api.expect(info).to_contain_text(f"(character {row}) at ")
            sync_api.expect(info).to_contain_text("weight 0.")

            # Zooming widens the time axis; a letter plays the audio it attended to.
            page.locator("#alignment input.zoom").fill("4")
            track = page.locator("#alignment .alignment-track")
            sync_api.expect(track).to_have_attribute("style", re.compile(r"width: ?400%"))
            page.locator("#alignment .letter").first.click()
            sync_api.expect(info).to_contain_text("playing")
            assert page.evaluate("() => document.querySelector('#alignment audio').duration") > 1.0
            page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)

            # A file that is not audio gets a message in the page, not a stack trace.
            page.locator("#audio-input button[aria-label=Clear]").click()
            page.locator("#audio-input input[type=file]").set_input_files(str(bad))
            sync_api.expect(page.locator("#status")).to_contain_text("not audio we can read", timeout=60_000)
            assert "Traceback" not in page.content()
        finally:
            browser.close()


# Phrases the bundled model transcribes right from the espeak-ng file (checked first in the test), so
# that what the browser test measures is the stream: audio lost or cut on its way shows as errors.
PHRASES = ["please call my mother", "turn off the radio", "what is the weather today"]


@pytest.fixture(scope="module")
def spoken_phrases(tmp_path_factory) -> Path:
    """The phrases spoken with pauses between them, as a 48 kHz wav for Chromium's fake microphone."""
    from scipy.signal import resample_poly

    from conftest import speak

    folder = tmp_path_factory.mktemp("phrases")
    pause = np.zeros(int(1.5 * 16_000), dtype=np.float32)
    pieces = [pause]
    for i, phrase in enumerate(PHRASES):
        pieces += [speak(phrase, folder / f"{i}.wav"), pause]
    pieces.append(np.zeros(4 * 16_000, dtype=np.float32))  # the browser loops the file: silence before the repeat
    path = folder / "phrases.wav"
    sf.write(path, resample_poly(np.concatenate(pieces), 3, 1).astype(np.float32), 48_000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def bundled_server(tmp_path_factory):
    """The demo on the bundled checkpoint, so the live transcripts are words to check."""
    yield from _serve(None, tmp_path_factory)


@pytest.fixture
def cpu_hog():
    """A busy-looping process on every core (two at least) beside the test: the machine of a user
    whose laptop is doing something else."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(2, os.cpu_count() or 1))]
    yield hogs
    for hog in hogs:
        hog.kill()
        hog.wait()


# Notes every running transcript the page shows, with the number of final lines above it at the time.
WATCH_RUNNING_TRANSCRIPTS = """() => {
  window.runningTranscripts = [];
  new MutationObserver(() => {
    const partial = document.querySelector('#live-transcript .live-partial');
    if (partial) window.runningTranscripts.push(
      [document.querySelectorAll('#live-transcript .live-final').length, partial.textContent]);
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def _final_lines(page) -> list[str]:
    return [line.split("] ", 1)[1] for line in page.locator("#live-transcript .live-final").all_inner_texts()]


@pytest.mark.slow
def test_browser_microphone_streams_one_transcript_line_per_utterance(bundled_server, spoken_phrases, cpu_hog,
                                                                      tmp_path):
    """Two tabs speak the phrases into the live demo at once, with every core busy: each tab shows a
    running transcript while a phrase is spoken, then one line per phrase, every phrase right, and
    the server accounts for every sample the pages captured (nothing lost, or the loss reported)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from asr.audio.io import load_audio
    from asr.model.checkpoint import load_model
    from asr.metrics import cer
    from asr.decoding.presets import DEFAULT_PRESET, preset, usable
    from asr.text import normalize_text

    model = load_model()
    options = usable(preset(DEFAULT_PRESET["demo"]), model)
    for i, phrase in enumerate(PHRASES):  # the precondition: from the file, the model hears them
        heard = model.transcribe(load_audio(spoken_phrases.parent / f"{i}.wav"), options=options).text
        assert cer(phrase, normalize_text(heard)) < 0.1, (phrase, heard)  # words, not casing and stops

    with sync_api.sync_playwright() as playwright:
        browser = _chromium(playwright, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                            f"--use-file-for-fake-audio-capture={spoken_phrases}")
        try:
            pages = []
            for _ in range(2):  # two tabs at once, each with its own stream
                context = browser.new_context(permissions=["microphone"], viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.goto(bundled_server[0], wait_until="domcontentloaded")
                page.wait_for_function("() => window.asrLive !== undefined", timeout=60_000)
                # Once the decoding processes have loaded the model: what is timed is the stream, not start-up.
                sync_api.expect(page.locator("#live-status")).to_contain_text("Ready", timeout=180_000)
                page.evaluate(WATCH_RUNNING_TRANSCRIPTS)
                pages.append(page)
            # Both start together, once both pages are up: each hears the file from its first phrase.
            for page in pages:
                page.locator("#live-record").click()
            for page in pages:
                transcript = page.locator("#live-transcript")
                # One line per phrase while the stream is still running: line by line, not at the end.
                sync_api.expect(transcript.locator(".live-final")).to_have_count(len(PHRASES), timeout=180_000)
                lines = _final_lines(page)
                for phrase, line in zip(PHRASES, lines):
                    assert cer(phrase, normalize_text(line)) < 0.3, lines
                # Words shown while the first phrase was spoken, before its line was final.
                shown = page.evaluate("() => window.runningTranscripts")
                assert any(finals == 0 and text for finals, text in shown), (shown, lines)
                status = page.locator("#live-status")
                sync_api.expect(status).to_contain_text("level")
                text = status.inner_text()
                received = float(re.search(r"([\d.]+) s received", text).group(1))
                assert received > 8.0, text  # the phrases and the pauses between them came through
                sync_api.expect(page.locator("#live-alignment .alignment-view")).to_have_count(1)
            pages[0].screenshot(path=str(tmp_path / "live.png"), full_page=True)
            pages[0].locator("#live-stop").click()
            status = pages[0].locator("#live-status")
            sync_api.expect(status).to_contain_text("stopped", timeout=60_000)
            assert len(_final_lines(pages[0])) >= len(PHRASES)
            # Every sample the page captured reached the session: the server's count agrees with the
            # page's, and a gap in the capture itself (a starved audio track) is reported, to the sample.
            captured = pages[0].evaluate("() => window.asrLive.captured()")
            text = status.inner_text()
            received = float(re.search(r"([\d.]+) s received", text).group(1))
            assert received == pytest.approx(captured["samples"] / captured["rate"], abs=0.05), (text, captured)
            gap_seconds = sum(samples for _, samples in captured["gaps"]) / captured["rate"]
            if captured["gaps"]:
                lost = re.search(r"([\d.]+) s of audio lost on the way in (\d+) gap", text)
                assert lost, (text, captured)
                assert (float(lost.group(1)), int(lost.group(2))) == (round(gap_seconds, 2), len(captured["gaps"]))
            else:
                assert "lost" not in text, text
            print(f"captured {captured['samples'] / captured['rate']:.2f} s, gaps {captured['gaps']}; {text}")
        finally:
            browser.close()
