"""Attention: how the speller decides which audio to listen to for the next character.

Every variant does the same three things, written as three lines in its
``forward``:

1. **score** every encoder frame against the speller's current state;
2. **normalise** the scores with a softmax over the frames, masking padding
   so padded frames get exactly zero weight;
3. take the **weighted sum** of the encoder frames: the context vector.

They differ only in step 1.  All share one interface::

    keys = attention.precompute(encoder_out)             # once per utterance
    context, weights = attention(query, keys, encoder_out, mask, previous_weights)

``weights`` (B, T) is what the alignment plots show.  Variants:

- ``dot``: Luong dot-product attention, ``score = q . k``, like Keras'
  ``tf.keras.layers.Attention`` with ``use_scale=True``;
- ``additive``: Bahdanau, ``score = v . tanh(Wq q + Wk k)``;
- ``location``: Chorowski et al. 2015, additive plus a convolution over the
  previous step's weights, so attention knows where it was and moves on;
- ``multihead``: several scaled dot-product heads over projected subspaces.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ATTENTION_TYPES = ("dot", "additive", "location", "multihead")


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis where ``mask`` is True; exactly 0 elsewhere.

    Args:
        scores: (B, T) or (B, H, T); mask: (B, T) bool, True for real frames.
    """
    if scores.dim() == 3:
        mask = mask.unsqueeze(1)
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    # An utterance with no frames at all would be NaN; give it no attention instead.
    return torch.where(mask, weights, torch.zeros_like(weights))


def weighted_sum(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """(B, T) weights x (B, T, D) values -> (B, D) context."""
    return torch.bmm(weights.unsqueeze(1), values).squeeze(1)


class DotProductAttention(nn.Module):
    """Luong's scaled dot product, with the query projected to the key size."""

    def __init__(self, query_dim: int, key_dim: int, attention_dim: int):
        super().__init__()
        self.query = nn.Linear(query_dim, key_dim, bias=False)
        # Keras' use_scale: a learned temperature, started at 1/sqrt(d) as in scaled dot product.
        self.scale = nn.Parameter(torch.tensor(1.0 / math.sqrt(key_dim)))

    def precompute(self, encoder_out: torch.Tensor) -> torch.Tensor:
        return encoder_out  # the keys are the encoder states themselves

    def forward(self, query, keys, values, mask, previous_weights=None):
        scores = self.scale * torch.bmm(keys, self.query(query).unsqueeze(2)).squeeze(2)  # (B, T)
        weights = masked_softmax(scores, mask)  # (B, T)
        context = weighted_sum(weights, values)  # (B, D)
        return context, weights


class AdditiveAttention(nn.Module):
    """Bahdanau's attention: a one-hidden-layer network scores each (query, frame) pair."""

    def __init__(self, query_dim: int, key_dim: int, attention_dim: int):
        super().__init__()
        self.query = nn.Linear(query_dim, attention_dim, bias=False)
        self.key = nn.Linear(key_dim, attention_dim)
        self.energy = nn.Linear(attention_dim, 1, bias=False)

    def precompute(self, encoder_out: torch.Tensor) -> torch.Tensor:
        return self.key(encoder_out)  # (B, T, A): independent of the step, so computed once

    def forward(self, query, keys, values, mask, previous_weights=None):
        scores = self.energy(torch.tanh(keys + self.query(query).unsqueeze(1))).squeeze(2)  # (B, T)
        weights = masked_softmax(scores, mask)  # (B, T)
        context = weighted_sum(weights, values)  # (B, D)
        return context, weights


class LocationAwareAttention(nn.Module):
    """Additive attention that also sees the previous weights through a 1-D convolution."""

    def __init__(self, query_dim: int, key_dim: int, attention_dim: int, channels: int = 10,
                 kernel_size: int = 31):
        super().__init__()
        self.query = nn.Linear(query_dim, attention_dim, bias=False)
        self.key = nn.Linear(key_dim, attention_dim)
        self.location_conv = nn.Conv1d(1, channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.location = nn.Linear(channels, attention_dim, bias=False)
        self.energy = nn.Linear(attention_dim, 1, bias=False)

    def precompute(self, encoder_out: torch.Tensor) -> torch.Tensor:
        return self.key(encoder_out)  # (B, T, A)

    def forward(self, query, keys, values, mask, previous_weights):
        where_it_was = self.location(self.location_conv(previous_weights.unsqueeze(1)).transpose(1, 2))  # (B, T, A)
        scores = self.energy(torch.tanh(keys + self.query(query).unsqueeze(1) + where_it_was)).squeeze(2)  # (B, T)
        weights = masked_softmax(scores, mask)  # (B, T)
        context = weighted_sum(weights, values)  # (B, D)
        return context, weights


class MultiHeadAttention(nn.Module):
    """``num_heads`` scaled dot-product heads; the returned weights are the heads' mean."""

    def __init__(self, query_dim: int, key_dim: int, attention_dim: int, num_heads: int = 4):
        super().__init__()
        if attention_dim % num_heads:
            raise ValueError(f"attention_dim {attention_dim} is not divisible by {num_heads} heads")
        self.num_heads, self.head_dim = num_heads, attention_dim // num_heads
        self.query = nn.Linear(query_dim, attention_dim, bias=False)
        self.key = nn.Linear(key_dim, attention_dim)
        self.value = nn.Linear(key_dim, attention_dim)
        self.output = nn.Linear(attention_dim, key_dim)

    def precompute(self, encoder_out: torch.Tensor) -> torch.Tensor:
        batch, frames, _ = encoder_out.shape
        keys = self.key(encoder_out).view(batch, frames, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, T, d)
        values = self.value(encoder_out).view(batch, frames, self.num_heads, self.head_dim).transpose(1, 2)
        return torch.cat([keys, values], dim=-1)  # (B, H, T, 2d): both depend only on the encoder

    def forward(self, query, keys, values, mask, previous_weights=None):
        keys, head_values = keys.split(self.head_dim, dim=-1)  # (B, H, T, d) each
        q = self.query(query).view(-1, self.num_heads, self.head_dim, 1)  # (B, H, d, 1)
        scores = torch.matmul(keys, q).squeeze(-1) / math.sqrt(self.head_dim)  # (B, H, T)
        weights = masked_softmax(scores, mask)  # (B, H, T)
        context = torch.matmul(weights.unsqueeze(2), head_values).flatten(1)  # (B, H*d)
        return self.output(context), weights.mean(dim=1)


def monotonic_window(previous_weights: torch.Tensor, mask: torch.Tensor, back: int, ahead: int) -> torch.Tensor:
    """``mask`` narrowed to the frames from ``back`` before to ``ahead`` after the previous step's peak.

    A decode-time constraint (as in Chorowski et al. 2015's windowed decoding): on a long segment
    attention can only move on from where it was, never jump to a look-alike word far away.

    Args:
        previous_weights: (B, T) the previous step's attention; mask: (B, T) bool, True for real frames.
    """
    peak = previous_weights.argmax(dim=-1, keepdim=True)  # (B, 1), always a real frame
    frames = torch.arange(mask.shape[-1], device=mask.device)[None, :]
    return mask & (frames >= peak - back) & (frames <= peak + ahead)


def build_attention(kind: str, query_dim: int, key_dim: int, attention_dim: int, num_heads: int = 4,
                    location_channels: int = 10, location_kernel: int = 31) -> nn.Module:
    """The attention variant named ``kind`` (one of :data:`ATTENTION_TYPES`)."""
    if kind == "dot":
        return DotProductAttention(query_dim, key_dim, attention_dim)
    if kind == "additive":
        return AdditiveAttention(query_dim, key_dim, attention_dim)
    if kind == "location":
        return LocationAwareAttention(query_dim, key_dim, attention_dim, location_channels, location_kernel)
    if kind == "multihead":
        return MultiHeadAttention(query_dim, key_dim, attention_dim, num_heads)
    raise ValueError(f"unknown attention {kind!r}; choose from {', '.join(ATTENTION_TYPES)}")
