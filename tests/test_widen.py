"""Widening a trained listener or speller (asr.training.widen): the wider model computes what the narrow one did."""

import dataclasses

import pytest
import torch

from asr.model.attention import ATTENTION_TYPES
from asr.model.las import LAS
from asr.training.widen import split_columns, widen, widen_listener, widen_speller
from conftest import tiny_model


def _scrambled(model: LAS) -> LAS:
    """Random values in every parameter, LayerNorm gains and biases included, as after training."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return model


def _outputs(model: LAS, feats: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor):
    with torch.no_grad():
        encoder_out, encoder_lengths = model.listener(feats, lengths)
        mask = torch.arange(encoder_out.shape[1])[None] < encoder_lengths[:, None]
        logits, attention = model.speller(encoder_out, mask, targets)
        return model.ctc_head(encoder_out), logits, attention


@pytest.mark.parametrize("attention", ATTENTION_TYPES)
@pytest.mark.parametrize("factor, reduction", [(2, 4), (3, 8)])
def test_the_wider_model_gives_the_same_outputs(attention, factor, reduction):
    narrow = _scrambled(tiny_model(attention=attention, reduction=reduction, encoder_layers=3))
    wide_config = dataclasses.replace(narrow.config, encoder_hidden=narrow.config.encoder_hidden * factor)
    wide = LAS(wide_config).eval()
    wide.load_state_dict(widen_listener(narrow.state_dict(), narrow.config, factor))
    assert sum(p.numel() for p in wide.listener.parameters()) > 2 * sum(p.numel() for p in narrow.listener.parameters())

    generator = torch.Generator().manual_seed(2)
    feats = torch.randn(2, 83, narrow.config.features.n_mels, generator=generator)
    lengths = torch.tensor([83, 57])  # padding in the batch: the backward LSTMs and masks must still agree
    targets = torch.randint(0, narrow.config.vocab_size, (2, 7), generator=generator)
    for before, after in zip(_outputs(narrow, feats, lengths, targets), _outputs(wide, feats, lengths, targets)):
        assert before.abs().max() > 0.01  # not trivially equal
        torch.testing.assert_close(after, before, atol=2e-5, rtol=1e-4)


def _same_outputs(narrow: LAS, wide: LAS) -> None:
    generator = torch.Generator().manual_seed(2)
    feats = torch.randn(2, 83, narrow.config.features.n_mels, generator=generator)
    lengths = torch.tensor([83, 57])
    targets = torch.randint(0, narrow.config.vocab_size, (2, 7), generator=generator)
    for before, after in zip(_outputs(narrow, feats, lengths, targets), _outputs(wide, feats, lengths, targets)):
        assert before.abs().max() > 0.01
        torch.testing.assert_close(after, before, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("attention", ATTENTION_TYPES)
@pytest.mark.parametrize("factor, decoder_layers", [(2, 1), (3, 2)])
def test_a_wider_speller_gives_the_same_outputs(attention, factor, decoder_layers):
    narrow = _scrambled(tiny_model(attention=attention, decoder_layers=decoder_layers))
    wide_config = dataclasses.replace(narrow.config, decoder_hidden=narrow.config.decoder_hidden * factor)
    wide = LAS(wide_config).eval()
    wide.load_state_dict(widen_speller(narrow.state_dict(), narrow.config, factor))
    assert sum(p.numel() for p in wide.speller.lstm.parameters()) > 2 * sum(p.numel() for p in narrow.speller.lstm.parameters())
    _same_outputs(narrow, wide)


@pytest.mark.parametrize("attention", ATTENTION_TYPES)
def test_both_grow_at_once(attention):
    narrow = _scrambled(tiny_model(attention=attention))
    wide_config = dataclasses.replace(narrow.config, encoder_hidden=narrow.config.encoder_hidden * 2,
                                      decoder_hidden=narrow.config.decoder_hidden * 2)
    wide = LAS(wide_config).eval()
    wide.load_state_dict(widen(narrow.state_dict(), narrow.config, wide_config))
    _same_outputs(narrow, wide)
    with pytest.raises(ValueError, match="decoder_hidden can only grow, by a whole factor: 32 -> 48"):
        widen(narrow.state_dict(), narrow.config, dataclasses.replace(narrow.config, decoder_hidden=48))


def test_copies_read_different_shares_so_training_can_tell_them_apart():
    weight = torch.randn(5, 4)
    index = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    split = split_columns(weight, index, torch.Generator().manual_seed(0))
    torch.testing.assert_close(split[:, :4] + split[:, 4:], weight)  # together: the original
    assert not torch.allclose(split[:, :4], split[:, 4:])  # apart: not twins
    shares = split[:, :4] / weight
    assert shares.min() >= 0.25 and shares.max() <= 0.75  # neither copy starts near zero


def test_only_whole_factors():
    model = tiny_model()
    with pytest.raises(ValueError, match="whole factor, not 1.5"):
        widen_listener(model.state_dict(), model.config, 1.5)
    with pytest.raises(ValueError, match="whole factor, not 2.5"):
        widen_speller(model.state_dict(), model.config, 2.5)
