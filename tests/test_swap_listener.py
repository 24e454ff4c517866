"""Moving a trained adapter and speller onto another encoder (asr.training.swap_listener)."""

import numpy as np
import pytest
import torch

from asr.model.checkpoint import read_checkpoint, save_checkpoint
from asr.model.ctranslate2 import save_encoder
from asr.training.encoder_states import state_path
from asr.training.manifest import write_manifest
from asr.model.las import LAS, ModelConfig
from asr.training.swap_listener import bridge_score, fit_bridge, main, swap_listener
from asr.model.whisper import WHISPER_SIZES, WhisperEncoder

SMALL = dict(listener="whisper-tiny", encoder_hidden=16, encoder_layers=2, decoder_hidden=16, attention_dim=16,
             embedding_dim=8, location_channels=2, location_kernel=5, dropout=0.0)
TINY, BASE = WHISPER_SIZES["whisper-tiny"].width, WHISPER_SIZES["whisper-base"].width


def _states_related_by_a_map(seed: int = 0, utterances: int = 12):
    """New-encoder states, and old-encoder states that are an exact affine map of them."""
    generator = np.random.default_rng(seed)
    weights = generator.normal(0, 0.1, (BASE, TINY))
    bias = generator.normal(0, 1, TINY)
    new = [generator.normal(0, 1, (int(generator.integers(20, 60)), BASE)).astype(np.float32)
           for _ in range(utterances)]
    old = [(n @ weights + bias).astype(np.float32) for n in new]
    return old, new, weights, bias


def test_the_bridge_recovers_an_exact_affine_map_and_skips_unpaired_utterances():
    old, new, weights, bias = _states_related_by_a_map(utterances=40)  # more frames than unknowns
    # An utterance whose two takes differ in length (remade audio) must not be paired frame by frame.
    old.append(np.zeros((7, TINY), np.float32))
    new.append(np.ones((9, BASE), np.float32))
    fitted_weights, fitted_bias, explained = fit_bridge(old, new, ridge=1e-9)
    assert explained > 0.999
    np.testing.assert_allclose(fitted_weights.numpy(), weights, atol=1e-3)
    np.testing.assert_allclose(fitted_bias.numpy(), bias, atol=1e-3)
    assert bridge_score(old[:-1], new[:-1], fitted_weights, fitted_bias) > 0.999
    with pytest.raises(ValueError, match="same length"):
        fit_bridge(old[-1:], new[-1:])


def _trained_tiny_model() -> LAS:
    torch.manual_seed(0)
    model = LAS(ModelConfig(**SMALL)).eval()
    model.metadata = {"pretrained_encoder": {"size": "whisper-tiny", "sha256": "a" * 64}, "step": 7}
    return model


def _base_encoder_file(tmp_path):
    torch.manual_seed(1)
    path = tmp_path / "base.pt"
    save_encoder(WhisperEncoder(WHISPER_SIZES["whisper-base"]).eval(),
                 {"file": "model.bin", "sha256": "b" * 64, "size": "whisper-base"}, path)
    return path


def test_the_swapped_model_computes_on_new_states_what_the_old_one_did_on_the_mapped_states(tmp_path):
    old_model = _trained_tiny_model()
    generator = torch.Generator().manual_seed(2)
    weights, bias = 0.1 * torch.randn(BASE, TINY, generator=generator), torch.randn(TINY, generator=generator)
    new_model = swap_listener(old_model, "whisper-base", _base_encoder_file(tmp_path), weights, bias)

    assert new_model.config.listener == "whisper-base"
    assert new_model.metadata["pretrained_encoder"]["size"] == "whisper-base"
    assert new_model.metadata["swapped_from"] == {"listener": "whisper-tiny", "step": 7}
    new_states, lengths = torch.randn(2, 30, BASE, generator=generator), torch.tensor([30, 22])
    with torch.no_grad():
        expected, expected_lengths = old_model.listener.adapt(new_states @ weights + bias, lengths)
        got, got_lengths = new_model.listener.adapt(new_states, lengths)
    assert torch.equal(got_lengths, expected_lengths)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    # Everything above the adapter's first layer is the trained model's, untouched.
    old_state, new_state = old_model.state_dict(), new_model.state_dict()
    untouched = [k for k in old_state if not k.startswith(("listener.encoder.", "listener.adapter.layers.0."))]
    assert len(untouched) > 20
    for name in untouched:
        assert torch.equal(old_state[name], new_state[name]), name
    assert not torch.equal(old_state["listener.encoder.conv1.weight"].flatten()[:10],
                           new_state["listener.encoder.conv1.weight"].flatten()[:10])


def test_command_writes_an_init_checkpoint_from_cached_states_and_refuses_a_blstm_model(tmp_path, capsys):
    old_model = _trained_tiny_model()
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(old_model, checkpoint)
    old, new, _, _ = _states_related_by_a_map(utterances=20)
    rows = []
    for i, (o, n) in enumerate(zip(old, new)):
        audio = tmp_path / f"u{i}.wav"
        audio.write_bytes(b"")  # only its path and age matter: states must be newer than it
        rows.append({"audio_filepath": str(audio), "text": "a", "duration": 1.0})
        for folder, states in (("old", o), ("new", n)):
            path = state_path(tmp_path / folder, str(audio))
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, states.astype(np.float16))
    write_manifest(tmp_path / "train.jsonl", rows)
    out = tmp_path / "init.pt"
    arguments = ["--checkpoint", str(checkpoint), "--encoder", str(_base_encoder_file(tmp_path)),
                 "--listener", "whisper-base", "--states", str(tmp_path / "old"),
                 "--new-states", str(tmp_path / "new"), "--manifest", str(tmp_path / "train.jsonl"),
                 "--out", str(out)]
    assert main(arguments) == 0
    assert "20 utterances" in capsys.readouterr().out
    assert read_checkpoint(out)["model_config"]["listener"] == "whisper-base"

    blstm = LAS(ModelConfig(listener="blstm", encoder_hidden=16, encoder_layers=2, decoder_hidden=16,
                            attention_dim=16, embedding_dim=8, location_channels=2, location_kernel=5))
    save_checkpoint(blstm, checkpoint)
    assert main(arguments) == 2
    assert capsys.readouterr().err.startswith("error: the blstm listener has no pretrained encoder")
