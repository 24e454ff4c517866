"""The character language model: training, resuming, bundling into a checkpoint, shallow fusion."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from asr.model.checkpoint import load_model, model_to_dict, read_checkpoint, save_checkpoint
from asr.decoding.search import DecodeOptions, beam_search
from asr.model.char_lm import CharLanguageModel, LanguageModelConfig
from asr.text import read_texts
from asr.training.lm import LMTrainingConfig, bits_per_character, bundle, plan_batches, train_language_model
from asr.model.vocab import Vocabulary
from conftest import tiny_model

VOCAB = Vocabulary()
SMALL = LanguageModelConfig(embedding_dim=16, hidden=48, dropout=0.1)
QUICK = LMTrainingConfig(epochs=4, batch_characters=100, peak_lr=1e-2, warmup_steps=5, save_every=5, device="cpu")
TEXTS = ["hello world", "hello there", "the world is round", "say hello to the world"] * 30


def train(tmp_path, texts=TEXTS, config=QUICK, **kwargs) -> CharLanguageModel:
    return train_language_model(texts, texts[:8], VOCAB, SMALL, config, tmp_path / "lm", progress=False,
                                log=lambda *_: None, **kwargs)


def test_one_step_at_a_time_equals_the_whole_sequence():
    torch.manual_seed(0)
    lm = CharLanguageModel(SMALL).eval()
    ids = [VOCAB.sos_id] + VOCAB.encode("hello world")
    whole = torch.log_softmax(lm(torch.tensor([ids])), dim=-1)[0]
    state = lm.initial_state(1)
    for position, token in enumerate(ids):
        log_probs, state = lm.step(torch.tensor([token]), state)
        torch.testing.assert_close(log_probs[0], whole[position], atol=1e-5, rtol=1e-5)


def test_training_learns_the_text(tmp_path):
    untrained = CharLanguageModel(SMALL)
    before = bits_per_character(untrained, TEXTS[:8], VOCAB)
    after = bits_per_character(train(tmp_path), TEXTS[:8], VOCAB)
    assert before > 4.0  # about log2(32): a uniform guess
    assert after < 1.5, f"{after:.2f} bits per character after training on the same four sentences"


def test_batches_cover_every_sentence_once_within_the_budget():
    lengths = [random.Random(i).randint(1, 60) for i in range(500)]
    batches = plan_batches(lengths, 600, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(500))
    assert all(max(lengths[i] + 1 for i in b) * len(b) <= 600 for b in batches)
    assert batches != plan_batches(lengths, 600, random.Random(1))  # another epoch, another order


def test_a_stopped_run_resumes_to_the_same_weights(tmp_path):
    uninterrupted = train(tmp_path / "a")
    original_loss, handler_before = CharLanguageModel.loss, signal.getsignal(signal.SIGINT)
    calls = []

    def loss_then_stop(self, *args):  # Ctrl-C arriving during the 7th training step
        calls.extend([1] if self.training else [])
        if len(calls) == 7 and self.training:
            os.kill(os.getpid(), signal.SIGINT)
        return original_loss(self, *args)

    CharLanguageModel.loss = loss_then_stop
    try:
        with pytest.raises(KeyboardInterrupt, match="stopped at step 7"):
            train(tmp_path / "b")
    finally:
        CharLanguageModel.loss = original_loss
    assert signal.getsignal(signal.SIGINT) is handler_before  # the handler is given back
    resumed = train(tmp_path / "b")
    for name, value in uninterrupted.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value)


def test_a_different_run_in_the_same_directory_is_refused(tmp_path):
    train(tmp_path)
    with pytest.raises(ValueError, match="different language-model run"):
        train(tmp_path, texts=TEXTS[:40])


def test_text_files_that_cannot_be_read_are_one_line_errors(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    for path, message in [(tmp_path / "missing.txt", "no such text file"), (tmp_path, "is a directory"),
                          (tmp_path / "latin1.txt", "not UTF-8")]:
        with pytest.raises(ValueError, match=message):
            read_texts([path])
    (tmp_path / "ok.txt").write_text("Hello, World!\n\n  \n3 cats\n")
    assert read_texts([tmp_path / "ok.txt"]) == ["hello world", "three cats"]


def test_the_bundle_carries_the_language_model_and_the_acoustic_weights_stay_apart(tmp_path):
    torch.manual_seed(0)
    acoustic = tiny_model()
    save_checkpoint(acoustic, tmp_path / "am.pt")
    lm = train(tmp_path)
    bundle(read_checkpoint(tmp_path / "am.pt"), lm, tmp_path / "bundle.pt")
    model = load_model(tmp_path / "bundle.pt")
    assert model.language_model is not None and not model.language_model.training
    assert model.language_model.metadata["sentences"] == len(TEXTS)
    lm_parameters = sum(p.numel() for p in lm.parameters())
    assert model.num_parameters() == sum(p.numel() for p in acoustic.parameters())
    assert model.num_parameters(language_model=True) == model.num_parameters() + lm_parameters
    # The acoustic section loads into a plain model, as train.init_from does.
    saved = model_to_dict(model)
    assert set(saved["state_dict"]) == set(acoustic.state_dict())
    for name, value in lm.state_dict().items():
        torch.testing.assert_close(saved["language_model"]["state_dict"][name], value)


def test_fusion_pulls_the_transcript_towards_the_language_model(tmp_path):
    torch.manual_seed(0)
    model = tiny_model()  # untrained: its own guesses are noise
    model.language_model = train(tmp_path, texts=["hello world"] * 200)
    audio = torch.randn(1, 16000) * 0.1
    lengths = torch.tensor([16000])
    without = beam_search(model, audio, lengths, DecodeOptions(beam_size=3))[0].text
    fused = beam_search(model, audio, lengths, DecodeOptions(beam_size=3, lm_weight=2.0))[0].text
    assert fused.startswith("hello world") and not without.startswith("hello")


def test_lm_weight_without_a_language_model_is_an_error():
    with pytest.raises(ValueError, match="language model"):
        beam_search(tiny_model(), torch.zeros(1, 8000), torch.tensor([8000]), DecodeOptions(lm_weight=0.5))
    with pytest.raises(ValueError, match="lm_weight"):
        DecodeOptions(lm_weight=-1)


@pytest.mark.slow
def test_train_lm_command_end_to_end(tmp_path):
    torch.manual_seed(0)
    save_checkpoint(tiny_model(), tmp_path / "am.pt")
    (tmp_path / "train.txt").write_text("\n".join(TEXTS) + "\n")
    (tmp_path / "dev.txt").write_text("hello world\n")
    (tmp_path / "words.txt").write_text("Zebra\nQuartz\n")
    asr = [sys.executable, "-m", "asr"]
    command = asr + ["train-lm", "--text", str(tmp_path / "train.txt"), "--dev-text", str(tmp_path / "dev.txt"),
                     "--checkpoint", str(tmp_path / "am.pt"), "--out", str(tmp_path / "out.pt"),
                     "--exp-dir", str(tmp_path / "lm"), "--hidden", "32", "--epochs", "1", "--threads", "1",
                     "--lexicon", str(tmp_path / "words.txt")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "bits per character" in done.stdout
    bundled = load_model(tmp_path / "out.pt")
    assert bundled.language_model.config.hidden == 32
    # The lexicon: the word list's words and the training text's, normalised.
    text_words = {w for line in TEXTS for w in line.split()}
    assert set(bundled.lexicon.words) == {"zebra", "quartz"} | text_words

    wav = tmp_path / "noise.wav"
    from asr.audio.io import write_wav
    write_wav(wav, (torch.randn(8000) * 0.05).numpy())
    fused = subprocess.run(asr + ["transcribe", str(wav), "--checkpoint", str(tmp_path / "out.pt"),
                                  "--beam-size", "2", "--lm-weight", "0.5"], capture_output=True, text=True)
    assert fused.returncode == 0, fused.stderr
    lexical = subprocess.run(asr + ["transcribe", str(wav), "--checkpoint", str(tmp_path / "out.pt"),
                                    "--beam-size", "2", "--oov-penalty", "inf"], capture_output=True, text=True)
    assert lexical.returncode == 0, lexical.stderr
    assert all(w in bundled.lexicon for w in lexical.stdout.split()), lexical.stdout
    plain = subprocess.run(asr + ["transcribe", str(wav), "--checkpoint", str(tmp_path / "am.pt"),
                                  "--lm-weight", "0.5"], capture_output=True, text=True)
    assert plain.returncode == 2 and "has no language model" in plain.stderr
    plain = subprocess.run(asr + ["transcribe", str(wav), "--checkpoint", str(tmp_path / "am.pt"),
                                  "--oov-penalty", "2"], capture_output=True, text=True)
    assert plain.returncode == 2 and "has no lexicon" in plain.stderr and plain.stderr.count("\n") == 1
    assert "Traceback" not in plain.stderr

    missing = subprocess.run(command[:5] + [str(tmp_path / "nope.txt")] + command[6:], capture_output=True,
                             text=True)
    assert missing.returncode == 2 and missing.stderr.strip().endswith("no such text file")
    for flags, message in [(["--device", "gpu"], "is not a torch device"), (["--threads", "-2"], "--threads")]:
        bad = subprocess.run(command + flags, capture_output=True, text=True)
        assert bad.returncode == 2 and message in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr


def _read_until(stream, marker: str, timeout: float) -> str:
    """What ``stream`` says up to and including ``marker`` (or all of it, if it ends first)."""
    seen, deadline = "", time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        character = stream.read(1)
        if not character:
            break
        seen += character
    return seen


@pytest.mark.slow
def test_sigterm_in_the_middle_of_training_stops_cleanly_and_resumes(tmp_path):
    """A stop request lands during a backward pass (most of each step here): torch's CPU LSTM
    backward used to abort the process with heap corruption when a signal arrived in it."""
    save_checkpoint(tiny_model(), tmp_path / "am.pt")
    rng = random.Random(0)
    words = ["hello", "world", "the", "cat", "sat", "on", "a", "mat", "of", "speech"]
    (tmp_path / "train.txt").write_text("\n".join(" ".join(rng.choices(words, k=12)) for _ in range(3000)) + "\n")
    command = [sys.executable, "-m", "asr", "train-lm", "--text", str(tmp_path / "train.txt"),
               "--checkpoint", str(tmp_path / "am.pt"), "--out", str(tmp_path / "out.pt"),
               "--exp-dir", str(tmp_path / "lm"), "--hidden", "384", "--epochs", "1", "--threads", "1"]
    for attempt in range(3):  # each stop is a fresh chance to land inside a backward pass
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Stop it once training runs (its progress bar is out), however long start-up took.
        started = _read_until(process.stderr, "train-lm:", timeout=120)
        time.sleep(1 + attempt)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
        err = started + err
        if process.returncode == 0:
            break  # finished before the signal: nothing left to stop
        assert process.returncode == 130, err[-1500:]  # not -6 (SIGABRT)
        assert "stopped at step" in err and "continue" in err
        assert (tmp_path / "lm" / "last.pt").is_file()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-1500:]
    assert load_model(tmp_path / "out.pt").language_model is not None
