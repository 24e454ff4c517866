"""Training: config handling, resuming after a hard kill, TensorBoard logs, and DDP with two CPU processes."""

import json
import os
import re
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from asr.model.checkpoint import read_checkpoint
from asr.training.config import OptimConfig, learning_rate, load_config
from conftest import TINY, speak

REPO = Path(__file__).resolve().parents[1]
SENTENCES = ["yes", "no", "go left", "stop now", "turn right", "hello there"]


def _kill_delay() -> float:
    """A random wait before a kill, from a printed seed: pytest shows it with a failure, and
    ASR_KILL_SEED=that seed replays the same timing."""
    seed = int(os.environ.get("ASR_KILL_SEED", random.randrange(2**32)))
    print(f"kill timing seed {seed} (ASR_KILL_SEED={seed} replays it)")
    return random.Random(seed).uniform(0.0, 1.0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    rows = []
    for i, text in enumerate(SENTENCES):
        samples = speak(text, root / f"{i}.wav")
        rows.append({"audio_filepath": str(root / f"{i}.wav"), "duration": samples.size / 16000, "text": text})
    manifest = root / "train.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


def _config(tmp_path: Path, manifest: Path, **train) -> Path:
    config = {
        "data": {"train_manifests": [str(manifest)], "dev_manifest": str(manifest), "max_batch_seconds": 2.5,
                 "num_workers": 0, "dev_utterances": 3, "cmvn_utterances": 6},
        "model": TINY,
        "optim": {"peak_lr": 3e-3, "warmup_steps": 3, "max_steps": 24},
        "augment": {"speed_factors": [0.9, 1.0, 1.1], "noise_probability": 0.5},
        "train": {"eval_every": 10, "checkpoint_every": 2, "keep_best": 2, "log_every": 1, "threads": 1,
                  "sampling_probability": 0.2} | train,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _train_command(config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "asr", "train", "--config", str(config), *extra]


def _env():
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")


def test_config_overrides_and_unknown_keys(tmp_path, corpus):
    config = load_config(_config(tmp_path, corpus), ["optim.max_steps=7", "model.attention=dot",
                                                      "model.features.n_mels=40"])
    assert config.optim.max_steps == 7
    assert config.model["attention"] == "dot" and config.model["features"]["n_mels"] == 40
    with pytest.raises(ValueError, match="unknown optim setting"):
        load_config(_config(tmp_path, corpus), ["optim.lr=1"])
    with pytest.raises(ValueError, match="unknown model setting"):
        load_config(_config(tmp_path, corpus), ["model.not_a_field=1"])
    # Empty sections, as people leave them in YAML, take overrides like absent ones.
    empty = tmp_path / "empty_sections.yaml"
    empty.write_text("model:\n  features:\noptim:\n")
    config = load_config(str(empty), ["model.features.n_mels=40", "optim.max_steps=9"])
    assert config.model["features"]["n_mels"] == 40 and config.optim.max_steps == 9
    assert load_config(str(empty)).model["features"] == {}
    with pytest.raises(ValueError, match="model.attention: expected text"):
        load_config(str(empty), ["model.attention.heads=2"])


def test_config_values_take_their_fields_types_or_fail_in_one_line(tmp_path, corpus):
    # YAML reads 1e-3 as a string and 8e3 as a string too: both mean the numbers people typed.
    config = load_config(_config(tmp_path, corpus), ["optim.peak_lr=1e-3", "optim.max_steps=8e3",
                                                      "model.features.vtlp_range=0", "train.exp_dir=123"])
    assert config.optim.peak_lr == 0.001 and isinstance(config.optim.peak_lr, float)
    assert config.optim.max_steps == 8000 and isinstance(config.optim.max_steps, int)
    assert config.model["features"]["vtlp_range"] == 0.0 and config.train.exp_dir == "123"
    wrong = {"optim.max_steps=1.5": "optim.max_steps: expected a whole number",
             "optim.peak_lr=fast": "optim.peak_lr: expected a number",
             "data.sortagrad=maybe": "data.sortagrad: expected true or false",
             "augment.speed_factors=1.1": "augment.speed_factors: expected a list",
             "model.features.n_mels=[80]": "model.features.n_mels: expected a whole number",
             "optim.peak_lr=[1": "not valid YAML",
             "optim=3": "not section.key=value"}
    for override, message in wrong.items():
        with pytest.raises(ValueError, match=re.escape(message)) as caught:
            load_config(_config(tmp_path, corpus), [override])
        assert "\n" not in str(caught.value)
    broken = tmp_path / "broken.yaml"
    broken.write_text("optim:\n  peak_lr: [1\n")
    with pytest.raises(ValueError, match="broken.yaml: not valid YAML at line"):
        load_config(str(broken))
    broken.write_text("- a list\n")
    with pytest.raises(ValueError, match="expected sections"):
        load_config(str(broken))
    broken.write_text("optim: 3\n")
    with pytest.raises(ValueError, match="optim: expected a mapping"):
        load_config(str(broken))
    with pytest.raises(ValueError, match="no such config file"):
        load_config(str(tmp_path / "missing.yaml"))


def test_a_config_is_a_delta_over_its_base(tmp_path, corpus):
    base = _config(tmp_path, corpus)
    (tmp_path / "sub").mkdir()
    delta = tmp_path / "sub" / "delta.yaml"
    delta.write_text("base: ../config.yaml\nmodel:\n  decoder_hidden: 48\noptim:\n  max_steps: 7\n")
    config, original = load_config(str(delta)), load_config(str(base))
    assert config.model["decoder_hidden"] == 48 and config.optim.max_steps == 7
    assert config.model["encoder_hidden"] == original.model["encoder_hidden"]  # the rest of the section stays
    assert config.optim.peak_lr == original.optim.peak_lr and config.data == original.data
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ValueError, match="includes it again"):
        load_config(str(tmp_path / "loop.yaml"))
    (tmp_path / "orphan.yaml").write_text("base: missing.yaml\n")
    with pytest.raises(ValueError, match="missing.yaml: no such config file"):
        load_config(str(tmp_path / "orphan.yaml"))


def test_learning_rate_warms_up_then_decays():
    o = OptimConfig(peak_lr=1.0, warmup_steps=10, max_steps=110, final_lr_ratio=0.1)
    rates = [learning_rate(s, o) for s in range(120)]
    assert rates[0] < rates[5] < rates[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))
    assert rates[110] == pytest.approx(0.1)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tmp_path, corpus):
    # Long enough that the random wait below cannot outlast the run: a tiny-model step takes tens
    # of milliseconds, so 24 steps once finished inside the second after the first save.
    steps = 150
    straight = tmp_path / "straight"
    subprocess.run(_train_command(_config(tmp_path, corpus, exp_dir=str(straight)), f"optim.max_steps={steps}"),
                   check=True, env=_env(), capture_output=True, timeout=600)

    killed = tmp_path / "killed"
    config = _config(tmp_path, corpus, exp_dir=str(killed))
    process = subprocess.Popen(_train_command(config, f"optim.max_steps={steps}"), env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(_kill_delay())  # somewhere mid-step or mid-save
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    stopped_at = read_checkpoint(killed / "last.pt")["training_state"]["step"]
    assert stopped_at < steps

    resumed = subprocess.run(_train_command(config, "--resume", f"optim.max_steps={steps}"), env=_env(), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed from {killed / 'last.pt'} at step {stopped_at}" in resumed.stdout
    a = read_checkpoint(straight / "last.pt")
    b = read_checkpoint(killed / "last.pt")
    assert a["training_state"]["step"] == b["training_state"]["step"] == steps
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), name
    assert (killed / "averaged.pt").exists()
    assert len(list(killed.glob("best_step*.pt"))) <= 2
    assert not list(killed.glob(".*.tmp"))


@pytest.mark.slow
def test_sigterm_to_the_whole_process_group_saves_and_stops_cleanly(tmp_path, corpus):
    """As Ctrl-C in a terminal, the signal reaches the data-loading workers too."""
    exp = tmp_path / "term"
    process = subprocess.Popen(_train_command(_config(tmp_path, corpus, exp_dir=str(exp)),
                                              "optim.max_steps=100000", "data.num_workers=1"),
                               env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.time() + 300
    while not (exp / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-2000:]
    stopped_at = int(re.search(r"stopped at step (\d+); continue with --resume", out).group(1))
    step = read_checkpoint(exp / "last.pt")["training_state"]["step"]
    assert step == stopped_at and 2 <= step < 100000  # saved at the very step it stopped


def _process_tree(root: int) -> list[int]:
    """``root`` and every process below it. torchrun starts its workers in sessions of their own,
    so killing its process group would leave them running."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone already
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, queue = [], [root]
    while queue:
        pid = queue.pop()
        tree.append(pid)
        queue.extend(parents.get(pid, []))
    return tree


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_with_two_cpu_processes_on_gloo(tmp_path, corpus):
    exp = tmp_path / "ddp"
    config = _config(tmp_path, corpus, exp_dir=str(exp))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "asr", "train", "--config", str(config),
               "optim.max_steps=6", "train.eval_every=3", "train.device=cpu"]
    result = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # Both processes checked their weights against each other at the end (only rank 0 saves).
    assert "DDP: 2 processes on gloo ended with the same weights" in result.stdout, result.stdout[-2000:]
    final = read_checkpoint(exp / "averaged.pt")
    assert final["metadata"]["world_size"] == 2 and final["metadata"]["device"] == "cpu"
    last = read_checkpoint(exp / "last.pt")
    assert last["training_state"]["step"] == 6
    assert last["metadata"]["audio_seconds_seen"] > 0


@pytest.mark.slow
def test_killed_ddp_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tmp_path, corpus):
    steps = 60

    def torchrun(exp: Path, *extra: str) -> list[str]:
        config = _config(tmp_path, corpus, exp_dir=str(exp))
        return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                "--master_port", str(_free_port()), "-m", "asr", "train", "--config", str(config),
                f"optim.max_steps={steps}", "train.device=cpu", *extra]

    straight = tmp_path / "straight"
    subprocess.run(torchrun(straight), check=True, env=_env(), capture_output=True, timeout=600)

    killed = tmp_path / "killed"
    process = subprocess.Popen(torchrun(killed), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(_kill_delay())
    for pid in _process_tree(process.pid):  # as a machine dying: torchrun and both training processes
        os.kill(pid, signal.SIGKILL)
    process.wait()
    stopped_at = read_checkpoint(killed / "last.pt")["training_state"]["step"]
    assert stopped_at < steps, "the run finished before it could be killed"

    resumed = subprocess.run(torchrun(killed, "--resume"), env=_env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"at step {stopped_at}" in resumed.stdout, resumed.stdout[-2000:]
    a, b = read_checkpoint(straight / "last.pt"), read_checkpoint(killed / "last.pt")
    assert a["training_state"]["step"] == b["training_state"]["step"] == steps
    assert len(b["training_state"]["rng_by_rank"]) == 2  # each process's random state, not just rank 0's
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), name


def test_tensorboard_logs_loss_dev_rates_and_an_alignment_image_per_evaluation(tmp_path, corpus):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from asr.training.trainer import train

    torch.set_num_threads(1)
    exp = tmp_path / "tb"
    train(load_config(_config(tmp_path, corpus, exp_dir=str(exp)), ["optim.max_steps=4", "train.eval_every=2"]))
    events = EventAccumulator(str(exp / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    scalars = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    assert [step for step, _ in scalars["train/loss"]] == [1, 2, 3, 4]  # log_every=1
    assert all(loss > 0 for _, loss in scalars["train/loss"])
    for rate in ("dev/cer", "dev/wer"):
        assert [step for step, _ in scalars[rate]] == [2, 4] and all(value >= 0 for _, value in scalars[rate])
    # One per evaluation at which the model said anything: this tiny one says nothing at step 2.
    images = events.Images("dev/alignment")
    assert [image.step for image in images] in ([2, 4], [4])
    assert all(image.width > 1 and image.height > 1 and image.encoded_image_string[:4] == b"\x89PNG"
               for image in images)


def test_init_from_starts_a_fresh_run_from_another_checkpoints_weights(tmp_path, corpus):
    from asr.training.trainer import Trainer, train

    torch.set_num_threads(1)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    base = train(load_config(_config(tmp_path, corpus, exp_dir=str(tmp_path / "base")), ["optim.max_steps=4"]))
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers  # the caller's Ctrl-C works again
    source = read_checkpoint(base)

    tuned = Trainer(load_config(_config(tmp_path, corpus, exp_dir=str(tmp_path / "tuned")),
                                [f"train.init_from={base}", "model.dropout=0.3", "model.ctc_loss_weight=0.8"]))
    try:
        assert tuned.step == 0 and not tuned.optimizer.state  # optimiser and schedule start afresh
        for name, tensor in tuned.model.state_dict().items():  # CMVN statistics included
            assert torch.equal(tensor, source["state_dict"][name]), name
        assert tuned.model.config.dropout == 0.3
    finally:
        tuned.writer.close()

    with pytest.raises(ValueError, match="different model: embedding_dim"):
        Trainer(load_config(_config(tmp_path, corpus, exp_dir=str(tmp_path / "bad")),
                            [f"train.init_from={base}", f"model.embedding_dim={TINY['embedding_dim'] * 2}"]))

    # A wider listener or speller is the exception: it starts out computing what the narrow one did.
    from asr.model.checkpoint import load_model

    narrow = load_model(base)
    wide = Trainer(load_config(_config(tmp_path, corpus, exp_dir=str(tmp_path / "wide")),
                               [f"train.init_from={base}", f"model.encoder_hidden={TINY['encoder_hidden'] * 2}",
                                f"model.decoder_hidden={TINY['decoder_hidden'] * 3}"]))
    try:
        assert wide.model.listener.output_dim == 2 * narrow.listener.output_dim
        assert wide.model.speller.hidden == 3 * narrow.speller.hidden
        feats = torch.randn(1, 40, narrow.config.features.n_mels)
        inputs = torch.tensor([[narrow.vocabulary.sos_id, 5, 6, 7]])

        def outputs(model):  # CTC logits, speller logits, attention weights
            with torch.no_grad():
                encoder_out, _ = model.eval().listener(feats, torch.tensor([40]))
                mask = torch.ones(encoder_out.shape[:2], dtype=torch.bool)
                return (model.ctc_head(encoder_out), *model.speller(encoder_out, mask, inputs))

        for before, after in zip(outputs(narrow), outputs(wide.model)):
            torch.testing.assert_close(after, before, atol=2e-5, rtol=1e-4)
    finally:
        wide.writer.close()
    with pytest.raises(ValueError, match=r"encoder_hidden 32 there, 48 here \(a listener or speller can only grow, by a whole"):
        Trainer(load_config(_config(tmp_path, corpus, exp_dir=str(tmp_path / "bad")),
                            [f"train.init_from={base}", "model.encoder_hidden=48"]))


class _BrokenAudio(torch.utils.data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, index):
        from asr.audio.io import AudioError

        raise AudioError("/data/clip.wav: file is empty")


def test_asr_train_reports_bad_input_in_one_line(tmp_path, corpus, capsys):
    from asr.cli import main
    from asr.cli.train import _one_line

    broken = tmp_path / "broken.yaml"
    broken.write_text("optim: {peak_lr: [1}\n")
    bad_dev = tmp_path / "dev.jsonl"
    bad_dev.write_text(json.dumps({"audio_filepath": str(tmp_path / "gone.wav"), "duration": 1.0, "text": "gone"}) + "\n")
    cases = {("--config", str(broken)): "broken.yaml: not valid YAML at line 1",
             ("--config", str(tmp_path)): "cannot read it (IsADirectoryError)",
             ("--config", str(_config(tmp_path, corpus)), "optim.max_steps=lots"): "optim.max_steps: expected a whole number",
             ("--config", str(_config(tmp_path, corpus)), f"data.dev_manifest={bad_dev}"): "gone.wav: no such file"}
    for arguments, message in cases.items():
        with pytest.raises(SystemExit) as exit_status:
            main(["train", *arguments])
        err = capsys.readouterr().err
        assert exit_status.value.code == 2 and err.startswith("asr train: ") and message in err
        assert err.count("\n") == 1, err

    # An error raised in a data-loading worker reaches us wrapped in the worker's traceback.
    loader = torch.utils.data.DataLoader(_BrokenAudio(), num_workers=1)
    with pytest.raises(ValueError) as caught:
        next(iter(loader))
    assert str(caught.value).startswith("Caught AudioError in DataLoader worker")
    assert _one_line(caught.value) == "/data/clip.wav: file is empty"
