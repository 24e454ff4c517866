"""A character language model for shallow fusion: P(next character | the characters so far).

The speller learns spelling and grammar only from the transcripts of the audio it
was trained on.  Text is far cheaper than transcribed speech, so a language model
trained on text alone knows more English than the speller does.  Beam search adds
its weighted log-probabilities to the speller's (Gulcehre et al. 2015, "shallow
fusion"; Chorowski & Jaitly 2017 for LAS):

    score(c) = log P_speller(c | audio, y<t) + lm_weight * log P_lm(c | y<t)

It uses the speller's vocabulary, so both score the same characters, and it lives
in the same checkpoint file as the acoustic model (:mod:`asr.model.checkpoint`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from asr.model.vocab import Vocabulary


@dataclass(frozen=True)
class LanguageModelConfig:
    """Architecture hyperparameters; saved with the weights."""

    vocab_size: int = len(Vocabulary())
    embedding_dim: int = 64
    hidden: int = 512
    layers: int = 1
    dropout: float = 0.1


@dataclass
class LanguageModelState:
    """The LSTM state after the characters so far; batch is dimension 1 (one row per hypothesis)."""

    hidden: torch.Tensor  # (L, B, H)
    cell: torch.Tensor  # (L, B, H)

    def select(self, index: torch.Tensor) -> "LanguageModelState":
        """Reorder or repeat hypotheses (beam search)."""
        return LanguageModelState(self.hidden[:, index], self.cell[:, index])


class CharLanguageModel(nn.Module):
    def __init__(self, config: LanguageModelConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.lstm = nn.LSTM(config.embedding_dim, config.hidden, num_layers=config.layers, batch_first=True,
                            dropout=config.dropout if config.layers > 1 else 0.0)
        self.dropout = nn.Dropout(config.dropout)
        self.classify = nn.Linear(config.hidden, config.vocab_size)
        self.metadata: dict = {}  # what it was trained on, saved with the checkpoint

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits (B, U, V) for the character after each of ``inputs`` (B, U) (``<sos>`` first)."""
        out, _ = self.lstm(self.dropout(self.embed(inputs)))
        return self.classify(self.dropout(out))

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> LanguageModelState:
        c = self.config
        zeros = torch.zeros(c.layers, batch, c.hidden, device=device)
        return LanguageModelState(zeros, zeros.clone())

    def step(self, tokens: torch.Tensor, state: LanguageModelState) -> tuple[torch.Tensor, LanguageModelState]:
        """Feed one character per hypothesis (B,); log-probabilities (B, V) of the next one, and the new state."""
        out, (hidden, cell) = self.lstm(self.embed(tokens)[:, None, :], (state.hidden, state.cell))
        log_probs = torch.log_softmax(self.classify(out[:, 0]).float(), dim=-1)
        return log_probs, LanguageModelState(hidden, cell)

    def loss(self, texts: list[list[int]], vocabulary: Vocabulary) -> tuple[torch.Tensor, int]:
        """Summed negative log-likelihood (nats) of character-id sequences, ``<eos>`` included; and its count."""
        device = self.classify.weight.device
        longest = max(len(t) for t in texts) + 1
        inputs = torch.full((len(texts), longest), vocabulary.eos_id, dtype=torch.long)
        targets = torch.full((len(texts), longest), -100, dtype=torch.long)  # -100: padding, not scored
        for row, ids in enumerate(texts):
            inputs[row, : len(ids) + 1] = torch.tensor([vocabulary.sos_id, *ids])
            targets[row, : len(ids) + 1] = torch.tensor([*ids, vocabulary.eos_id])
        logits = self(inputs.to(device))
        targets = targets.to(device)
        total = F.cross_entropy(logits.transpose(1, 2).float(), targets, ignore_index=-100, reduction="sum")
        return total, int((targets != -100).sum())
