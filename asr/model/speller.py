"""The speller: a character LSTM decoder that attends to the listener's output.

One step (Luong-style, with input feeding):

    s_t      = LSTM([embed(y_{t-1}); c_{t-1}], s_{t-1})
    c_t, a_t = attention(s_t, h, a_{t-1})
    logits_t = W_out tanh(W [s_t; c_t])

Decoding algorithms drive :meth:`Speller.step` one character at a time;
training can run :meth:`Speller.forward` over a whole target with teacher
forcing, optionally feeding back its own predictions (scheduled sampling).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn


@dataclass
class SpellerState:
    """Everything one decoding step hands to the next; every field has batch first."""

    hidden: torch.Tensor  # (L, B, H) LSTM hidden states
    cell: torch.Tensor  # (L, B, H) LSTM cell states
    context: torch.Tensor  # (B, D) last context vector
    weights: torch.Tensor  # (B, T) last attention weights

    def select(self, index: torch.Tensor) -> "SpellerState":
        """Reorder or repeat hypotheses (beam search)."""
        return SpellerState(self.hidden[:, index], self.cell[:, index], self.context[index], self.weights[index])


class Speller(nn.Module):
    def __init__(self, vocab_size: int, embedding_dim: int, hidden: int, num_layers: int, encoder_dim: int,
                 attention: nn.Module, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim + encoder_dim, hidden, num_layers=num_layers,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.attention = attention
        self.combine = nn.Linear(hidden + encoder_dim, hidden)
        self.dropout = nn.Dropout(dropout)
        self.classify = nn.Linear(hidden, vocab_size)
        self.num_layers, self.hidden = num_layers, hidden

    def initial_state(self, encoder_out: torch.Tensor, mask: torch.Tensor) -> SpellerState:
        """Zero LSTM state; "previous" weights on the first frame, so location attention starts at the start."""
        batch, frames, dim = encoder_out.shape
        zeros = encoder_out.new_zeros(self.num_layers, batch, self.hidden)
        weights = encoder_out.new_zeros(batch, frames)
        weights[:, 0] = mask[:, 0].to(weights.dtype)
        return SpellerState(zeros, zeros.clone(), encoder_out.new_zeros(batch, dim), weights)

    def step(self, tokens: torch.Tensor, state: SpellerState, keys: torch.Tensor, encoder_out: torch.Tensor,
             mask: torch.Tensor) -> tuple[torch.Tensor, SpellerState]:
        """One character.

        Args:
            tokens: (B,) previous characters.
            keys: ``attention.precompute(encoder_out)``; encoder_out: (B, T, D); mask: (B, T).
        Returns:
            logits (B, V) for the next character, and the new state (its ``weights`` are this step's attention).
        """
        lstm_in = torch.cat([self.embed(tokens), state.context], dim=-1).unsqueeze(0)  # (1, B, E+D)
        out, (hidden, cell) = self.lstm(lstm_in, (state.hidden, state.cell))
        query = out.squeeze(0)  # (B, H)
        context, weights = self.attention(query, keys, encoder_out, mask, state.weights)  # (B, D), (B, T)
        features = self.dropout(torch.tanh(self.combine(torch.cat([query, context], dim=-1))))  # (B, H)
        return self.classify(features), replace(state, hidden=hidden, cell=cell, context=context, weights=weights)

    def forward(self, encoder_out: torch.Tensor, mask: torch.Tensor, inputs: torch.Tensor,
                sampling_probability: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced decoding of whole targets.

        Args:
            encoder_out: (B, T, D); mask: (B, T) bool.
            inputs: (B, U) ``<sos>`` followed by the target characters (padding: any id).
            sampling_probability: chance that a step is fed the model's own previous
                prediction instead of the true character (scheduled sampling, Bengio et al. 2015).
        Returns:
            logits (B, U, V) and attention weights (B, U, T).
        """
        keys = self.attention.precompute(encoder_out)
        state = self.initial_state(encoder_out, mask)
        all_logits, all_weights = [], []
        tokens = inputs[:, 0]
        for u in range(inputs.shape[1]):
            if u > 0:
                tokens = inputs[:, u]
                if sampling_probability > 0:
                    sampled = all_logits[-1].argmax(dim=-1)
                    use_own = torch.rand(tokens.shape, device=tokens.device) < sampling_probability
                    tokens = torch.where(use_own, sampled, tokens)
            logits, state = self.step(tokens, state, keys, encoder_out, mask)
            all_logits.append(logits)
            all_weights.append(state.weights)
        return torch.stack(all_logits, dim=1), torch.stack(all_weights, dim=1)
