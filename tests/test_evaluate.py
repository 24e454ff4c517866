"""asr eval and asr.apps.evaluate: scores, hypotheses JSONL, worst-utterance plots, one-line errors."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio.io import SAMPLE_RATE, load_audio
from asr.model.checkpoint import save_checkpoint
from asr.cli import evaluate as command
from asr.decoding.search import DecodeOptions
from asr.apps.evaluate import evaluate
from asr.training.manifest import read_manifest, write_manifest
from asr.metrics import ErrorRate
from asr.model.las import LAS, ModelConfig
from asr.text import normalize_text

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

CLIPS = [  # (id, voice, text as a manifest might hold it, text_source)
    ("hello", "en-us", "Hello world, it's 3 o'clock.", "fortune"),
    ("numbers", "en-gb", "Call me at 5:30 & bring $20!", "phrase"),
    ("short", "en-us", "Yes.", "phrase"),
]
LONG_SECONDS = 21.0  # past asr.decoding.transcribe.MAX_SEGMENT_SECONDS: decoded through transcribe()


def _espeak(text: str, voice: str, path: Path) -> None:
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    torch.manual_seed(0)  # the same random model every run: what it babbles decides which plots exist
    torch_model = LAS(ModelConfig(encoder_hidden=32, encoder_layers=2, decoder_hidden=32, attention_dim=32,
                                  embedding_dim=16)).eval()
    save_checkpoint(torch_model, root / "tiny.pt")
    rows = []
    for utt_id, voice, text, source in CLIPS:
        _espeak(text, voice, root / f"{utt_id}.wav")
        rows.append({"audio_filepath": f"{utt_id}.wav", "duration": sf.info(root / f"{utt_id}.wav").duration,
                     "text": text, "id": utt_id, "voice": voice, "text_source": source})
    # A long recording: sentences with pauses between them, as a user's file would have.
    sentence = load_audio(root / "hello.wav")
    pause = np.zeros(SAMPLE_RATE // 2, np.float32)
    repeats = int(np.ceil(LONG_SECONDS * SAMPLE_RATE / (sentence.size + pause.size)))
    sf.write(root / "long.wav", np.concatenate([sentence, pause] * repeats), SAMPLE_RATE)
    rows.append({"audio_filepath": "long.wav", "duration": sf.info(root / "long.wav").duration,
                 "text": " ".join([CLIPS[0][2]] * repeats), "id": "long", "voice": "en-us", "text_source": "fortune"})
    write_manifest(root / "test.jsonl", rows)
    return root


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command.run(parser.parse_args(list(argv)))


def test_eval_writes_hypotheses_and_plots_and_prints_their_rates(corpus, capsys):
    out = corpus / "out"
    (out / "worst").mkdir(parents=True)
    (out / "worst" / "07_stale.png").write_bytes(b"left by an earlier run")
    assert _run("--manifest", str(corpus / "test.jsonl"), "--checkpoint", str(corpus / "tiny.pt"),
                "--output-dir", str(out), "--worst", "10", "--batch-size", "2", "--device", "cpu") == 0
    printed = capsys.readouterr().out
    shown = re.search(r"CER ([\d.]+) %  WER ([\d.]+) %", printed)
    assert shown, printed

    manifest = {r["id"]: r for r in read_manifest(corpus / "test.jsonl")}
    lines = [json.loads(line) for line in (out / "hypotheses.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == list(manifest)  # manifest order, every utterance, the long one too
    chars, words = ErrorRate(), ErrorRate()
    for row in lines:
        assert row["reference"] == normalize_text(manifest[row["id"]]["text"])
        assert row["voice"] == manifest[row["id"]]["voice"]
        assert row["cer"] == pytest.approx(chars.update(row["reference"], row["hypothesis"])
                                           / len(row["reference"]), abs=1e-6)
        words.update(row["reference"].split(), row["hypothesis"].split())
    assert float(shown.group(1)) == pytest.approx(100 * chars.rate, abs=0.006)
    assert float(shown.group(2)) == pytest.approx(100 * words.rate, abs=0.006)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["cer"] == pytest.approx(chars.rate) and summary["wer"] == pytest.approx(words.rate)
    assert summary["utterances"] == len(lines) and set(summary["by_voice"]) == {"en-us", "en-gb"}
    # One rate per text source, from just that source's utterances, in summary.json and on screen.
    for source in ("fortune", "phrase"):
        rows = [r for r in lines if manifest[r["id"]]["text_source"] == source]
        assert all(r["text_source"] == source for r in rows)
        source_chars = ErrorRate()
        for row in rows:
            source_chars.update(row["reference"], row["hypothesis"])
        assert summary["by_text_source"][source]["utterances"] == len(rows)
        assert summary["by_text_source"][source]["cer"] == pytest.approx(source_chars.rate)
        assert f"text source {source}: CER {100 * source_chars.rate:.2f} %" in printed

    # 10 asked, 4 exist: all plotted, worst first (long audio as one picture); the stale plot is gone.
    plots = sorted((out / "worst").glob("*.png"))
    assert [p.name[:3] for p in plots] == ["01_", "02_", "03_", "04_"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots)
    cer_of = {r["id"]: r["cer"] for r in lines}
    assert [cer_of[p.name[3:-4]] for p in plots] == sorted(cer_of.values(), reverse=True)


def test_only_the_worst_are_plotted(corpus):
    from asr.model.checkpoint import load_model

    rows = [r for r in read_manifest(corpus / "test.jsonl") if r["id"] != "long"]
    report = evaluate(load_model(corpus / "tiny.pt"), rows, worst=2)
    assert [u.cer for u, _ in report.worst] == sorted((u.cer for u in report.utterances), reverse=True)[:2]
    for utterance, alignment in report.worst:
        assert alignment.attention.shape[0] == len(alignment.label)  # one row per character drawn
        assert " ".join(alignment.label.split()) == utterance.hypothesis  # scoring collapses runs of spaces


@pytest.mark.parametrize("options", [DecodeOptions(), DecodeOptions(beam_size=2, ctc_weight=0.3)])
def test_batching_does_not_change_the_hypotheses(corpus, options):
    from asr.model.checkpoint import load_model

    model = load_model(corpus / "tiny.pt")
    rows = [r for r in read_manifest(corpus / "test.jsonl") if r["id"] != "long"]
    one = evaluate(model, rows, options, batch_size=1, worst=0)
    many = evaluate(model, rows, options, batch_size=3, worst=0)
    assert [u.hypothesis for u in one.utterances] == [u.hypothesis for u in many.utterances]
    assert one.cer == many.cer and one.worst == [] and one.options == options


@pytest.mark.parametrize("problem", ["no manifest", "not json", "missing audio", "bad checkpoint", "bad weight",
                                     "no language model", "no lexicon", "bad penalty"])
def test_bad_input_gets_one_line(corpus, tmp_path, capsys, problem):
    manifest, checkpoint, extra = corpus / "test.jsonl", corpus / "tiny.pt", []
    if problem == "no manifest":
        manifest = tmp_path / "nothing.jsonl"
    elif problem == "not json":
        manifest = tmp_path / "broken.jsonl"
        manifest.write_text('{"audio_filepath": "a.wav", "duration": 1, "text": "a"}\n{oops\n')
    elif problem == "missing audio":
        manifest = tmp_path / "missing.jsonl"
        write_manifest(manifest, [{"audio_filepath": str(tmp_path / "gone.wav"), "duration": 1.0, "text": "a"}])
    elif problem == "bad checkpoint":
        checkpoint = tmp_path / "junk.pt"
        checkpoint.write_bytes(b"not a checkpoint")
    elif problem == "bad weight":
        extra = ["--ctc-weight", "2"]
    elif problem == "no language model":
        extra = ["--beam-size", "2", "--lm-weight", "0.3"]
    elif problem == "no lexicon":
        extra = ["--beam-size", "2", "--oov-penalty", "3"]
    else:
        extra = ["--oov-penalty", "-1"]
    assert _run("--manifest", str(manifest), "--checkpoint", str(checkpoint),
                "--output-dir", str(tmp_path / "out"), *extra) == 1
    err = capsys.readouterr().err
    assert err.startswith("asr eval: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    expected = {"no manifest": "no such manifest", "not json": ":2: not JSON", "missing audio": "gone.wav",
                "bad checkpoint": "not a readable checkpoint", "bad weight": "ctc_weight",
                "no language model": "has no language model", "no lexicon": "has no lexicon",
                "bad penalty": "oov_penalty"}[problem]
    assert expected in err
    assert not (tmp_path / "out").exists()


def test_a_lexicon_only_run_writes_strict_json(corpus, tmp_path):
    from asr.model.checkpoint import load_model
    from asr.model.lexicon import Lexicon

    model = load_model(corpus / "tiny.pt")
    model.lexicon = Lexicon(["hello", "world", "yes"])
    save_checkpoint(model, tmp_path / "with_lexicon.pt")
    assert _run("--manifest", str(corpus / "test.jsonl"), "--checkpoint", str(tmp_path / "with_lexicon.pt"),
                "--output-dir", str(tmp_path / "out"), "--oov-penalty", "inf", "--worst", "0") == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(),
                         parse_constant=lambda name: pytest.fail(f"summary.json holds {name}: not JSON"))
    assert summary["options"]["oov_penalty"] == "inf"
    for line in (tmp_path / "out" / "hypotheses.jsonl").read_text().splitlines():
        assert set(json.loads(line)["hypothesis"].split()) <= {"hello", "world", "yes"}


def test_a_written_hypothesis_scores_like_its_spoken_words():
    from asr.apps.evaluate import score

    row = {"audio_filepath": "clips/timer.wav", "text": "Set a timer for 10 minutes, at 3:30 p.m."}
    written = score(row, "Set a timer for 10 minutes, at 3:30 p.m.", 0, 2.0)
    spoken = score(row, "set a timer for ten minutes at three thirty p m", 0, 2.0)
    assert written.word_errors == spoken.word_errors == 0 and written.char_errors == 0
    assert written.hypothesis == spoken.hypothesis == "set a timer for ten minutes at three thirty p m"
    assert written.to_row()["written"] == "Set a timer for 10 minutes, at 3:30 p.m." and spoken.written is None
    wrong = score(row, "set a timer for 4 10 minutes at 3:30 p.m.", 0, 2.0)
    assert wrong.word_errors == 1  # "four" inserted, whatever form it came in
