"""Every attention variant: weights are a distribution over real frames only, and batching changes nothing."""

import pytest
import torch

from asr.model.attention import ATTENTION_TYPES, build_attention, masked_softmax, monotonic_window

QUERY, KEY, ATT = 12, 10, 8


def _inputs(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = max(lengths)
    encoder_out = torch.randn(len(lengths), frames, KEY, generator=g)
    mask = torch.arange(frames)[None, :] < torch.tensor(lengths)[:, None]
    encoder_out = encoder_out * mask.unsqueeze(-1)
    query = torch.randn(len(lengths), QUERY, generator=g)
    previous = torch.softmax(torch.randn(len(lengths), frames, generator=g).masked_fill(~mask, -1e9), -1) * mask
    return query, encoder_out, mask, previous


@pytest.fixture(params=ATTENTION_TYPES)
def attention(request):
    torch.manual_seed(0)
    return build_attention(request.param, QUERY, KEY, ATT, num_heads=2, location_channels=3, location_kernel=5).eval()


def _attend(attention, query, encoder_out, mask, previous):
    keys = attention.precompute(encoder_out)
    return attention(query, keys, encoder_out, mask, previous)


def test_weights_sum_to_one(attention):
    context, weights = _attend(attention, *_inputs([7, 4, 9]))
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    assert (weights >= 0).all()
    assert context.shape == (3, KEY)


def test_padding_gets_exactly_zero_weight(attention):
    query, encoder_out, mask, previous = _inputs([7, 4, 9])
    # Garbage in the padding must neither receive weight nor leak into the context.
    encoder_out = encoder_out + (~mask).unsqueeze(-1) * 1e3
    context, weights = _attend(attention, query, encoder_out, mask, previous)
    assert (weights[~mask] == 0).all()
    clean_context, _ = _attend(attention, *_inputs([7, 4, 9]))
    torch.testing.assert_close(context, clean_context)


def test_batch_equals_each_utterance_alone(attention):
    lengths = [7, 4, 9]
    query, encoder_out, mask, previous = _inputs(lengths)
    context, weights = _attend(attention, query, encoder_out, mask, previous)
    for i, n in enumerate(lengths):
        alone_context, alone_weights = _attend(attention, query[i:i + 1], encoder_out[i:i + 1, :n],
                                               mask[i:i + 1, :n], previous[i:i + 1, :n])
        torch.testing.assert_close(context[i:i + 1], alone_context, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(weights[i:i + 1, :n], alone_weights, rtol=1e-5, atol=1e-6)


def test_location_attention_uses_previous_weights():
    torch.manual_seed(0)
    attention = build_attention("location", QUERY, KEY, ATT, location_channels=3, location_kernel=5)
    query, encoder_out, mask, previous = _inputs([9])
    _, a = _attend(attention, query, encoder_out, mask, previous)
    _, b = _attend(attention, query, encoder_out, mask, previous.roll(3, dims=-1))
    assert not torch.allclose(a, b)


def test_masked_softmax_of_an_empty_utterance_is_all_zero():
    weights = masked_softmax(torch.randn(2, 5), torch.tensor([[True] * 5, [False] * 5]))
    assert torch.isfinite(weights).all()
    assert weights[1].abs().sum() == 0
    torch.testing.assert_close(weights[0].sum(), torch.tensor(1.0))


def test_unknown_variant_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown attention"):
        build_attention("cosine", QUERY, KEY, ATT)


def test_the_monotonic_window_keeps_real_frames_around_the_last_peak_only():
    previous = torch.zeros(2, 10)
    previous[0, 4] = 1.0
    previous[1, 1] = 1.0
    mask = torch.arange(10)[None, :] < torch.tensor([10, 3])[:, None]
    window = monotonic_window(previous, mask, back=1, ahead=3)
    assert window[0].nonzero().flatten().tolist() == [3, 4, 5, 6, 7]
    assert window[1].nonzero().flatten().tolist() == [0, 1, 2]  # the padding stays out


def test_attention_inside_a_window_gives_no_weight_outside_it(attention):
    query, encoder_out, mask, previous = _inputs([12, 12])
    window = monotonic_window(previous, mask, back=2, ahead=4)
    _, weights = _attend(attention, query, encoder_out, window, previous)
    assert torch.all(weights[~window] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
