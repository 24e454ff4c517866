"""The GPU path: training under bf16 autocast, resuming there, and decoding that agrees with the CPU.

CI has no GPU, so these skip there. On a CUDA machine: ``pytest tests/test_cuda.py``
(``bench/gpu.sh`` runs them together with the GPU throughput figures). They use the
bundled example clips rather than espeak-ng, which a GPU box may not have.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import asr
from asr.audio.io import load_audio
from asr.model.checkpoint import read_checkpoint
from asr.training.data import collate
from asr.decoding.search import DecodeOptions
from asr.training.config import load_config
from asr.training.trainer import Trainer
from conftest import TINY

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

REPO = Path(__file__).resolve().parents[1]
CLIPS = {  # examples/make_examples.py
    "turn_on_the_lights.wav": "please turn on the kitchen lights",
    "set_a_timer.wav": "set a timer for ten minutes",
    "sea_shells.wav": "she sells sea shells by the shore",
}
MAX_STEPS = 16
# The repo first, then whatever the caller had (a GPU box may hold our dependencies in a scratch folder).
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    path = tmp_path_factory.mktemp("clips") / "train.jsonl"
    rows = [{"audio_filepath": str(REPO / "examples" / name), "text": text,
             "duration": load_audio(REPO / "examples" / name).size / 16000} for name, text in CLIPS.items()]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _config(tmp_path: Path, manifest: Path, exp_dir: Path) -> Path:
    config = {
        "data": {"train_manifests": [str(manifest)], "dev_manifest": str(manifest), "max_batch_seconds": 5.0,
                 "num_workers": 0, "dev_utterances": 3, "cmvn_utterances": 3},
        "model": TINY,
        "optim": {"peak_lr": 3e-3, "warmup_steps": 3, "max_steps": MAX_STEPS},
        "augment": {"speed_factors": [0.9, 1.0, 1.1]},
        "train": {"eval_every": 8, "checkpoint_every": 2, "keep_best": 2, "log_every": 1, "device": "cuda",
                  "exp_dir": str(exp_dir)},
    }
    path = tmp_path / f"{exp_dir.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _train(config: Path, *extra: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "asr", "train", "--config", str(config), *extra],
                            env=ENV, **popen)


def test_bf16_autocast_loss_is_close_to_the_fp32_loss_on_cpu(tmp_path, manifest):
    trainer = Trainer(load_config(str(_config(tmp_path, manifest, tmp_path / "exp")), []))
    assert trainer.device.type == "cuda" and next(trainer.model.parameters()).is_cuda
    trainer.writer.close()
    batch, lengths, targets, target_lengths = collate([
        (torch.from_numpy(load_audio(REPO / "examples" / name)), torch.tensor(trainer.vocabulary.encode(text)))
        for name, text in CLIPS.items()])

    model = trainer.model.eval()  # no dropout or warping: the two runs see the same computation
    with torch.no_grad(), trainer.autocast:
        gpu = model(batch.cuda(), lengths.cuda(), targets.cuda(), target_lengths.cuda())
    with torch.no_grad():
        cpu = model.cpu()(batch, lengths, targets, target_lengths)
    for name in ("loss", "attention_loss", "ctc_loss"):
        assert torch.isfinite(gpu[name]), name
        assert float(gpu[name]) == pytest.approx(float(cpu[name]), rel=0.03), name


def test_gpu_run_killed_mid_training_resumes_and_its_checkpoints_load_on_cpu(tmp_path, manifest):
    exp = tmp_path / "killed"
    config = _config(tmp_path, manifest, exp)
    process = _train(config, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not (exp / "last.pt").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(random.uniform(0.0, 0.5))
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    assert process.returncode == -signal.SIGKILL, f"the run ended before the kill: {stderr.decode()[-2000:]}"
    stopped_at = read_checkpoint(exp / "last.pt")["training_state"]["step"]
    assert stopped_at < MAX_STEPS

    resumed = _train(config, "--resume", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr[-2000:]
    assert f"resumed from {exp / 'last.pt'} at step {stopped_at}" in stdout
    state = read_checkpoint(exp / "last.pt")
    assert state["training_state"]["step"] == MAX_STEPS
    assert all(tensor.device.type == "cpu" for tensor in state["state_dict"].values())
    assert all(torch.isfinite(tensor).all() for tensor in state["state_dict"].values() if tensor.is_floating_point())
    model = asr.load_model(exp / "averaged.pt")  # a CPU machine reads what the GPU wrote
    assert not next(model.parameters()).is_cuda
    assert model.transcribe(load_audio(REPO / "examples" / "set_a_timer.wav")).duration > 0


@pytest.mark.parametrize("options", [DecodeOptions(), DecodeOptions(beam_size=5, ctc_weight=0.3, lm_weight=0.3)],
                         ids=["greedy", "beam+ctc+lm"])
def test_decoding_on_gpu_gives_the_cpu_transcript_and_alignment(options):
    on_cpu, on_gpu = asr.load_model(), asr.load_model(device="cuda")
    for name in CLIPS:
        audio = load_audio(REPO / "examples" / name)
        expected, got = on_cpu.transcribe(audio, options=options), on_gpu.transcribe(audio, options=options)
        assert got.text == expected.text, name
        assert got.attention.shape == expected.attention.shape
        np.testing.assert_allclose(got.attention, expected.attention, atol=2e-3)


def test_transcribe_command_defaults_to_the_gpu_and_agrees_with_the_cpu():
    clips = [str(REPO / "examples" / name) for name in CLIPS]
    run = lambda *device: subprocess.run([sys.executable, "-m", "asr", "transcribe", *device, *clips],  # noqa: E731
                                         capture_output=True, text=True, timeout=300, env=ENV)
    gpu, cpu = run(), run("--device", "cpu")
    assert gpu.returncode == 0 and cpu.returncode == 0, gpu.stderr[-2000:] + cpu.stderr[-2000:]
    assert gpu.stdout == cpu.stdout and len(gpu.stdout.splitlines()) == len(CLIPS)
