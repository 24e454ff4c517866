"""Capitals and punctuation for the speller's words: a small text model run after decoding.

The speller writes lower-case spoken-form words (``a``-``z`` and the apostrophe) and no
punctuation. The punctuator reads those words, and the silence after each of them, and
predicts per word

- its **case**: ``lower``, ``title`` ("Paris", the "I" of "I'm") or ``upper`` ("NASA"), and
- the **mark** after it: none, ``.``, ``,``, ``?``, ``!``, ``:`` or ``;``.

It is a tagger (:class:`Punctuator`): each word is a hashed word embedding (two hashes of the
word summed, so a collision in one table is told apart by the other) and a character CNN
over its letters, plus the pause after it; a bidirectional GRU reads the sentence both ways,
and two linear heads give the case and the mark. A few words whose written form is mixed
case ("McDonald", "iPhone") are looked up in a small table learnt from the training text.

It is trained on punctuated text only (:mod:`asr.training.punctuator`), with pauses simulated;
it travels as the optional ``"punctuation"`` section of the checkpoint (:mod:`asr.model.checkpoint`)
as fp16 tensors and plain data. :func:`restore` is the one call a front end needs.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CASES = ("lower", "title", "upper")
MARKS = ("", ".", ",", "?", "!", ":", ";")
SENTENCE_END_MARKS = (".", "?", "!")
_LETTERS = "abcdefghijklmnopqrstuvwxyz'"
_CHAR_IDS = {c: i + 2 for i, c in enumerate(_LETTERS)}  # 0 pads, 1 is any other character
CHAR_VOCAB_SIZE = len(_LETTERS) + 2
MAX_WORD_CHARS = 16  # longer words keep their first 16 characters
PAUSE_SCALE_SECONDS = 0.05  # the pause feature is log(1 + pause / 50 ms)
LONG_PAUSE_SECONDS = 0.15  # and a flag for a pause at least this long
MAX_PAUSE_SECONDS = 3.0


@dataclass(frozen=True)
class PunctuatorConfig:
    """Architecture hyperparameters; saved with the weights."""

    buckets: int = 8192  # rows of the hashed word embedding
    word_dim: int = 32
    char_dim: int = 16
    char_channels: int = 48  # character CNN filters, max-pooled over the word
    hidden: int = 128  # GRU units per direction
    layers: int = 1
    dropout: float = 0.2


def word_buckets(word: str, buckets: int) -> tuple[int, int]:
    """The word's two rows of the embedding table: stable across processes (unlike ``hash``)."""
    data = word.encode("utf-8")
    return zlib.crc32(data) % buckets, zlib.crc32(b"\x01" + data) % buckets


def _char_ids(word: str) -> list[int]:
    ids = [_CHAR_IDS.get(c, 1) for c in word[:MAX_WORD_CHARS]]
    return ids + [0] * (MAX_WORD_CHARS - len(ids))


def pause_features(pause: float) -> tuple[float, float]:
    pause = min(max(float(pause), 0.0), MAX_PAUSE_SECONDS)
    return math.log1p(pause / PAUSE_SCALE_SECONDS), float(pause >= LONG_PAUSE_SECONDS)


class Punctuator(nn.Module):
    def __init__(self, config: PunctuatorConfig | None = None, forms: dict[str, str] | None = None):
        super().__init__()
        self.config = config = config or PunctuatorConfig()
        self.words = nn.Embedding(config.buckets, config.word_dim)
        self.chars = nn.Embedding(CHAR_VOCAB_SIZE, config.char_dim, padding_idx=0)
        self.char_conv = nn.Conv1d(config.char_dim, config.char_channels, kernel_size=3, padding=1)
        self.dropout = nn.Dropout(config.dropout)
        self.rnn = nn.GRU(config.word_dim + config.char_channels + 2, config.hidden, config.layers,
                          batch_first=True, bidirectional=True,
                          dropout=config.dropout if config.layers > 1 else 0.0)
        self.case_head = nn.Linear(2 * config.hidden, len(CASES))
        self.mark_head = nn.Linear(2 * config.hidden, len(MARKS))
        # Lower-case word -> its mixed-case written form, used when the word is predicted capitalised.
        self.forms: dict[str, str] = dict(forms or {})
        self.metadata: dict = {}

    def encode(self, sentences: list[list[str]], pauses: list[list[float]]) -> dict[str, torch.Tensor]:
        """Padded inputs for a batch of word sequences: ``buckets`` (B, N, 2), ``chars`` (B, N, C),
        ``pauses`` (B, N, 2) and ``lengths`` (B,)."""
        longest = max((len(s) for s in sentences), default=0)
        buckets, chars, features = [], [], []
        for words, gaps in zip(sentences, pauses):
            padding = longest - len(words)
            buckets.append([word_buckets(w, self.config.buckets) for w in words] + [(0, 0)] * padding)
            chars.append([_char_ids(w) for w in words] + [[0] * MAX_WORD_CHARS] * padding)
            features.append([pause_features(g) for g in gaps] + [(0.0, 0.0)] * padding)
        buckets = torch.tensor(buckets, dtype=torch.long).view(len(sentences), longest, 2)
        chars = torch.tensor(chars, dtype=torch.long).view(len(sentences), longest, MAX_WORD_CHARS)
        features = torch.tensor(features, dtype=torch.float32).view(len(sentences), longest, 2)
        lengths = torch.tensor([len(s) for s in sentences], dtype=torch.long)
        return {"buckets": buckets, "chars": chars, "pauses": features, "lengths": lengths}

    def forward(self, buckets: torch.Tensor, chars: torch.Tensor, pauses: torch.Tensor,
                lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Case logits (B, N, len(CASES)) and mark logits (B, N, len(MARKS)) of every word.

        Args:
            buckets: (B, N, 2) embedding rows of each word (:func:`word_buckets`).
            chars: (B, N, MAX_WORD_CHARS) character ids, 0-padded.
            pauses: (B, N, 2) :func:`pause_features` of the silence after each word.
            lengths: (B,) words in each sequence, each at least 1.
        """
        batch, words, width = chars.shape
        word_vectors = self.words(buckets).sum(dim=2)  # (B, N, word_dim)
        c = self.chars(chars.view(batch * words, width)).transpose(1, 2)  # (B*N, char_dim, C)
        c = torch.relu(self.char_conv(c))  # (B*N, char_channels, C)
        c = c.masked_fill((chars.view(batch * words, 1, width) == 0), 0.0).amax(dim=2)
        x = torch.cat([word_vectors, c.view(batch, words, -1), pauses], dim=-1)  # (B, N, in)
        if bool((lengths == words).all()):  # no padding: packing would only cost time (training batches)
            h, _ = self.rnn(self.dropout(x))  # (B, N, 2 * hidden)
        else:
            packed = pack_padded_sequence(self.dropout(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
            h, _ = self.rnn(packed)
            h, _ = pad_packed_sequence(h, batch_first=True, total_length=words)  # (B, N, 2 * hidden)
        h = self.dropout(h)
        return self.case_head(h), self.mark_head(h)

    @torch.no_grad()
    def predict(self, sentences: list[list[str]], pauses: list[list[float]]) -> list[list[tuple[int, int]]]:
        """(case index, mark index) of every word of every sequence."""
        was_training = self.training
        self.eval()
        inputs = self.encode(sentences, pauses)
        case_logits, mark_logits = self(**{k: v.to(self.device) for k, v in inputs.items()})
        self.train(was_training)
        cases, marks = case_logits.argmax(-1).tolist(), mark_logits.argmax(-1).tolist()
        out = []
        for b, words in enumerate(sentences):
            tags = list(zip(cases[b][:len(words)], marks[b][:len(words)]))
            # The two heads decide apart; the first word, and a word after a sentence's end, starts one.
            for n in range(len(tags)):
                starts = n == 0 or MARKS[tags[n - 1][1]] in SENTENCE_END_MARKS
                if starts and CASES[tags[n][0]] == "lower":
                    tags[n] = (CASES.index("title"), tags[n][1])
            out.append(tags)
        return out

    @property
    def device(self) -> torch.device:
        return self.words.weight.device

    def to_dict(self) -> dict:
        """The checkpoint section: fp16 weights, config, mixed-case forms and metadata, all plain data."""
        return {"config": dataclasses.asdict(self.config),
                "state_dict": {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
                               for k, v in self.state_dict().items()},
                "forms": dict(self.forms), "metadata": dict(self.metadata)}

    @classmethod
    def from_dict(cls, section: dict) -> "Punctuator":
        model = cls(PunctuatorConfig(**section["config"]), section.get("forms", {}))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in section["state_dict"].items()})
        model.metadata = dict(section.get("metadata", {}))
        return model.eval()


def apply_case(word: str, case: str, forms: dict[str, str] | None = None) -> str:
    """``word`` written in ``case`` (one of :data:`CASES`); a known mixed-case form wins over title case."""
    if case == "upper":
        stem, apostrophe, ending = word.rpartition("'")
        return stem.upper() + apostrophe + ending if apostrophe and len(ending) <= 2 else word.upper()
    if case == "title":
        if forms and word in forms:
            return forms[word]
        return word[:1].upper() + word[1:]
    return word


def restore(punctuator: Punctuator, words: list[str], pauses: list[float]) -> list[str]:
    """The speller's words with capitals and the punctuation after each.

    Args:
        punctuator: a trained :class:`Punctuator` (``model.punctuator`` of a checkpoint that has one).
        words: lower-case spoken-form words, as the speller writes them.
        pauses: seconds of silence after each word (from the word timings); 0.0 where unknown.
    Returns:
        One written word per input word, in order: its letters unchanged but for case, and any
        mark after it (``"Hello,"``, ``"I"``, ``"Paris."``).
    """
    if len(words) != len(pauses):
        raise ValueError(f"restore: {len(words)} words but {len(pauses)} pauses")
    if not words:
        return []
    (predicted,) = punctuator.predict([list(words)], [list(pauses)])
    return [apply_case(word, CASES[case], punctuator.forms) + MARKS[mark]
            for word, (case, mark) in zip(words, predicted)]
