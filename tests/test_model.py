"""The model as a whole: padding invariance, checkpoints, and learning through the public API."""

import numpy as np
import pytest
import torch

import asr
from asr.model.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from asr.model.listener import Listener, reverse_within_lengths
from asr.metrics import cer
from asr.model.las import ModelConfig
from conftest import TINY, speak, tiny_model


@pytest.mark.parametrize("reduction, conv_reduction", [(4, 2), (8, 2), (4, 4), (8, 4)])
def test_listener_batch_equals_each_utterance_alone(reduction, conv_reduction):
    torch.manual_seed(0)
    listener = Listener(n_mels=20, conv_channels=4, hidden=8, num_layers=3, reduction=reduction, dropout=0.0,
                        conv_reduction=conv_reduction).eval()
    lengths = torch.tensor([37, 50, 21])
    feats = torch.randn(3, 50, 20)
    h, h_lengths = listener(feats, lengths)
    assert h.shape[1] == -(-50 // reduction)
    for i, n in enumerate(lengths.tolist()):
        alone, alone_length = listener(feats[i:i + 1, :n], lengths[i:i + 1])
        assert int(alone_length) == int(h_lengths[i]) == -(-n // reduction)
        # Batched and single LSTM matrix products round differently (~1e-6); padding read by
        # either direction would change the outputs by ~1e-1.
        torch.testing.assert_close(h[i:i + 1, : int(alone_length)], alone, rtol=1e-4, atol=1e-5)
        assert (h[i, int(alone_length):] == 0).all()


def test_reverse_within_lengths_keeps_padding_in_place_and_undoes_itself():
    x = torch.arange(2 * 5, dtype=torch.float32).view(2, 5, 1)
    lengths = torch.tensor([3, 5])
    reversed_ = reverse_within_lengths(x, lengths)
    assert reversed_[..., 0].tolist() == [[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]]
    assert torch.equal(reverse_within_lengths(reversed_, lengths), x)


def test_listener_reads_weights_saved_from_bidirectional_lstm_layers():
    """Checkpoints written before the BLSTM layers were split into two LSTMs still load."""
    torch.manual_seed(0)
    listener = Listener(n_mels=20, conv_channels=4, hidden=8, num_layers=2, reduction=4, dropout=0.0).eval()
    old_names = {}
    for name, tensor in listener.state_dict().items():
        name = name.replace("forward_lstm.", "")
        if "backward_lstm." in name:
            name = name.replace("backward_lstm.", "") + "_reverse"
        old_names[name] = tensor.clone()
    assert "blstm.layers.0.weight_ih_l0_reverse" in old_names
    loaded = Listener(n_mels=20, conv_channels=4, hidden=8, num_layers=2, reduction=4, dropout=0.0).eval()
    loaded.load_state_dict(old_names)
    feats, lengths = torch.randn(2, 40, 20), torch.tensor([40, 31])
    assert torch.equal(loaded(feats, lengths)[0], listener(feats, lengths)[0])


def test_model_encoding_is_padding_invariant():
    torch.manual_seed(0)
    model = tiny_model()
    waves = torch.randn(2, 16000) * 0.1
    lengths = torch.tensor([16000, 9000])
    h, h_lengths = model.encode(waves, lengths)
    alone, _ = model.encode(waves[1:, :9000], lengths[1:])
    torch.testing.assert_close(h[1:, : alone.shape[1]], alone, rtol=1e-5, atol=1e-6)


def test_checkpoint_round_trip_gives_identical_output(tmp_path):
    torch.manual_seed(0)
    model = tiny_model(attention="multihead", num_heads=2)
    model.frontend.cmvn.mean.fill_(-3.0)  # statistics travel with the weights
    model.metadata = {"step": 7, "note": "round trip"}
    path = tmp_path / "model.pt"
    save_checkpoint(model, path)
    raw = torch.load(path, weights_only=True)  # no pickled code needed
    assert raw["vocabulary"] == list(model.vocabulary.tokens)
    assert raw["model_config"]["attention"] == "multihead"
    reloaded = asr.load_model(path)
    assert reloaded.config == model.config
    assert reloaded.metadata["step"] == 7
    assert (reloaded.frontend.cmvn.mean == -3.0).all()
    audio = np.random.default_rng(0).standard_normal(12000).astype(np.float32) * 0.1
    a, b = model.transcribe(audio), reloaded.transcribe(audio)
    assert a.text == b.text
    np.testing.assert_array_equal(a.attention, b.attention)
    np.testing.assert_array_equal(a.token_log_probs, b.token_log_probs)


def test_a_packed_checkpoint_is_fp16_on_disk_smaller_and_decodes_alike(tmp_path, capsys):
    from asr.cli import main
    from asr.model.char_lm import CharLanguageModel, LanguageModelConfig

    def cli(argv) -> int:
        with pytest.raises(SystemExit) as exited:
            main(argv)
        return exited.value.code

    torch.manual_seed(0)
    model = tiny_model()
    model.language_model = CharLanguageModel(LanguageModelConfig(hidden=32, layers=1)).eval()
    save_checkpoint(model, tmp_path / "full.pt", training_state={"step": 3, "optimizer": {"m": torch.ones(5000)}})
    assert cli(["pack", str(tmp_path / "full.pt"), str(tmp_path / "packed.pt")]) == 0
    assert "packed.pt" in capsys.readouterr().out
    raw = torch.load(tmp_path / "packed.pt", weights_only=True)
    assert "training_state" not in raw
    assert {t.dtype for t in raw["state_dict"].values() if t.is_floating_point()} == {torch.float16}
    assert {t.dtype for t in raw["language_model"]["state_dict"].values()} == {torch.float16}
    assert (tmp_path / "packed.pt").stat().st_size < 0.6 * (tmp_path / "full.pt").stat().st_size
    packed = asr.load_model(tmp_path / "packed.pt")
    assert packed.language_model is not None
    assert all(p.dtype == torch.float32 for p in packed.parameters())  # decodes in fp32, as before
    audio = speak("open the door", tmp_path / "speech.wav")
    a, b = model.transcribe(audio), packed.transcribe(audio)
    np.testing.assert_allclose(a.segments[0].attention, b.segments[0].attention, atol=5e-3)
    assert cli(["pack", str(tmp_path / "packed.pt"), str(tmp_path / "packed.pt")]) == 2
    assert cli(["pack", str(tmp_path / "missing.pt"), str(tmp_path / "out.pt")]) == 1
    assert "no such checkpoint file" in capsys.readouterr().err


def test_a_checkpoint_from_before_the_loss_weight_was_renamed_still_loads(tmp_path):
    model = tiny_model(ctc_loss_weight=0.7)
    save_checkpoint(model, tmp_path / "new.pt")
    raw = torch.load(tmp_path / "new.pt", weights_only=True)
    raw["model_config"]["ctc_weight"] = raw["model_config"].pop("ctc_loss_weight")  # the old name
    torch.save(raw, tmp_path / "old.pt")
    assert asr.load_model(tmp_path / "old.pt").config.ctc_loss_weight == 0.7


def test_checkpoint_write_is_atomic_and_bad_files_are_clear_errors(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(tiny_model(), path)
    before = path.read_bytes()
    with pytest.raises(Exception):
        save_checkpoint(tiny_model(), tmp_path / "model.pt", training_state={"unpicklable": lambda: 0})
    assert path.read_bytes() == before  # the failed write left the old file whole
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # and no temporary behind
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        read_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        asr.load_model(tmp_path / "missing.pt")


@pytest.mark.slow
def test_tiny_model_learns_three_utterances_to_zero_error(tmp_path):
    """Train through the model's loss, save, reload with asr.load_model and transcribe files."""
    texts = ["yes", "stop now", "go left"]
    paths = [tmp_path / f"{i}.wav" for i in range(len(texts))]
    samples = [speak(t, p) for t, p in zip(texts, paths)]
    torch.manual_seed(0)
    config = ModelConfig(**TINY | dict(encoder_hidden=48, decoder_hidden=64, ctc_loss_weight=0.3, label_smoothing=0.0,
                                       features=asr.model.las.FeatureConfig(freq_masks=0, time_masks=0, vtlp_range=0)))
    model = asr.LAS(config)
    lengths = torch.tensor([s.size for s in samples])
    waves = torch.zeros(len(samples), int(lengths.max()))
    for i, s in enumerate(samples):
        waves[i, : s.size] = torch.from_numpy(s)
    targets = [torch.tensor(model.vocabulary.encode(t)) for t in texts]
    target_lengths = torch.tensor([t.numel() for t in targets])
    padded = torch.nn.utils.rnn.pad_sequence(targets, batch_first=True)
    with torch.no_grad():  # normalisation statistics from the "training set"
        feats, _ = model.frontend.log_mel(waves, lengths)
        valid = torch.cat([feats[i, : int(n)] for i, n in enumerate(model.frontend.log_mel(waves, lengths)[1])])
        model.frontend.cmvn.set_statistics(valid.sum(0), (valid**2).sum(0), valid.shape[0])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for step in range(300):
        loss = model(waves, lengths, padded, target_lengths)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 24 and loss.item() < 0.02:
            break
    save_checkpoint(model, tmp_path / "tiny.pt")
    reloaded = asr.load_model(tmp_path / "tiny.pt")
    for text, path in zip(texts, paths):
        result = reloaded.transcribe(str(path))
        assert cer(text, result.text) == 0.0, (text, result.text)
        assert result.attention.shape[0] == len(text)
        assert np.all(np.diff(result.char_starts) >= 0)
    beam = reloaded.transcribe(str(paths[1]), beam_size=4, ctc_weight=0.3)
    assert beam.text == texts[1]
    assert beam.nbest[0][0] == texts[1] and len(beam.nbest) > 1


def test_a_pyramid_step_needs_a_layer_after_it():
    with pytest.raises(ValueError, match="pyramid step"):
        Listener(n_mels=20, conv_channels=4, hidden=8, num_layers=1, reduction=4, dropout=0.0)
