"""recipes/mini/run.sh scaled down end to end: corpus -> Whisper tiny.en's states -> training -> decoding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asr.training.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "recipes" / "mini" / "run.sh"


def _run(*args: str) -> subprocess.CompletedProcess:
    python = Path(sys.executable)
    env = os.environ | {"PYTHON": str(python), "ASR": str(python.with_name("asr")), "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", str(RUN), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)


@pytest.mark.slow
def test_a_scaled_down_mini_recipe_makes_a_corpus_states_a_model_and_transcripts(tmp_path):
    data, exp = tmp_path / "data", tmp_path / "exp"
    result = _run("--train-utterances", "8", "--heldout-utterances", "2", "--steps", "4",
                  "--data", str(data), "--exp", str(exp))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    # Stage 1: the corpus, by version 1's engines only, test by held-out voices; and the example clips.
    train, test = read_manifest(data / "train.jsonl"), read_manifest(data / "test.jsonl")
    assert len(train) == 8 and len(read_manifest(data / "dev.jsonl")) == 2 and len(test) == 2
    assert {r["voice"].split(":")[0] for r in train} <= {"espeak", "flite", "piper"}
    sys.path.insert(0, str(ROOT / "recipes" / "synth"))
    import voices

    assert {r["voice"] for r in test} <= set(voices.HELD_OUT_VOICES)
    examples = read_manifest(data / "examples.jsonl")
    assert sorted(Path(r["audio_filepath"]).name for r in examples) == sorted(p.name for p in (ROOT / "examples").glob("*.wav"))

    # Stages 2 and 3: the encoder's weights, and one fp16 states file per training utterance.
    assert (exp / "whisper_tiny_encoder.pt").stat().st_size > 10_000_000
    assert len(list((data / "states" / "whisper-tiny").glob("*/*.npy"))) == 8

    # Stage 4: four steps, then the average of the kept checkpoints.
    import torch

    model = torch.load(exp / "train" / "averaged.pt", map_location="cpu", weights_only=True)
    assert model["metadata"]["step"] == 4 and model["metadata"]["train_utterances"] == 8

    # Stage 5: every set scored with both presets; the model writes some text for the clips.
    for name in ("test_fast", "test_accurate", "examples_fast", "examples_accurate"):
        summary = json.loads((exp / "eval" / name / "summary.json").read_text())
        assert summary["utterances"] == (3 if name.startswith("examples") else 2)
        assert f"{name}: CER" in result.stdout
    hypotheses = [json.loads(line) for line in (exp / "eval" / "examples_fast" / "hypotheses.jsonl").open()]
    assert any(h["hypothesis"].strip() for h in hypotheses)

    # A second run finds every stage done and redoes nothing.
    again = _run("--train-utterances", "8", "--heldout-utterances", "2", "--steps", "4",
                 "--data", str(data), "--exp", str(exp), "--stage", "1")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "train: 8 utterances in" not in again.stdout and "done already" in again.stdout
    assert "8 already there" in again.stdout and "averaged.pt: done already" in again.stdout
    assert "eval:" not in again.stderr  # no evaluation ran again


def test_an_unknown_option_gets_one_line_and_no_work():
    result = _run("--train-utterance", "8")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "unknown option --train-utterance" in result.stderr
    assert result.stdout == ""
