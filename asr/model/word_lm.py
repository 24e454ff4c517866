"""A word bigram language model: which word tends to follow which, for beam search.

The character LM (:mod:`asr.model.char_lm`) learnt English from the synthetic corpus's
text alone; it cannot know that "please enter" is far likelier than "please and here".
A word n-gram estimated on a large general text can.  Beam search spells character by
character, so the word model is used the way word LMs are fused into character decoders
(Hori et al. 2018, *End-to-end speech recognition with word-based RNN language models*):

- while a word is being spelled, a hypothesis is credited with the *look-ahead* score of
  its prefix, the best log-probability of any word that starts with it;
- when the word ends, the look-ahead is replaced by the word's own log-probability.

So "please en" already scores as well as "please enter" will, and a prefix no likely
word starts with falls behind before the misspelling is complete.

The model is read from an ARPA file (the format SRILM and KenLM write) and keeps its
unigrams and bigrams, with their back-off weights; higher orders are dropped.  Bigrams
that say little more than their back-off estimate are pruned (``prune``), so the model
fits in a checkpoint.  It travels in the checkpoint as its word list (one string) and
index and fp16 log-probability tensors (:mod:`asr.model.checkpoint`).  Scores are natural
logarithms.
"""

from __future__ import annotations

import math
from bisect import bisect_left

import numpy as np
import torch

LN10 = math.log(10.0)
SENTENCE_START, SENTENCE_END = "<s>", "</s>"
UNKNOWN_LOG_PROB = -18.0  # a word the model has never seen (natural log): about one in 65 million
_CACHE_LIMIT = 200_000  # look-ahead answers remembered


class WordLanguageModel:
    """Unigrams and bigrams in arrays: word ``i`` is ``words[i]`` (sorted, so the words that
    share a prefix are one index range), and the followers of history ``h`` are
    ``followers[offsets[h]:offsets[h + 1]]``, sorted by index, with their log-probabilities."""

    def __init__(self, words: list[str], unigram_log_probs, backoffs, offsets, followers, follower_log_probs,
                 metadata: dict | None = None):
        self.words = list(words)
        if self.words != sorted(self.words):
            raise ValueError("word LM: the words must be sorted")
        self.index = {w: i for i, w in enumerate(self.words)}
        self.unigram_log_probs = np.asarray(unigram_log_probs, dtype=np.float32)
        self.backoffs = np.asarray(backoffs, dtype=np.float32)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.followers = np.asarray(followers, dtype=np.int32)
        self.follower_log_probs = np.asarray(follower_log_probs, dtype=np.float32)
        if not (len(self.unigram_log_probs) == len(self.backoffs) == len(self.words) == len(self.offsets) - 1
                and len(self.followers) == len(self.follower_log_probs) == self.offsets[-1]):
            raise ValueError("word LM: its arrays disagree in length")
        self.metadata: dict = dict(metadata or {})
        # What look-ahead ranges over: every word but the sentence markers (never spelled).
        self._spelled = self.unigram_log_probs.copy()
        for marker in (SENTENCE_START, SENTENCE_END):
            if marker in self.index:
                self._spelled[self.index[marker]] = -np.inf
        self._lookahead: dict[tuple[str, str], float] = {}

    def __len__(self) -> int:
        return len(self.words)

    def bigram_count(self) -> int:
        return len(self.followers)

    def _bigram_slice(self, history: int) -> slice:
        return slice(int(self.offsets[history]), int(self.offsets[history + 1]))

    def log_prob(self, history: str, word: str) -> float:
        """log P(word | history), backing off to the unigram; UNKNOWN_LOG_PROB for an unknown word."""
        w = self.index.get(word)
        if w is None:
            return UNKNOWN_LOG_PROB
        h = self.index.get(history)
        if h is None:
            return float(self.unigram_log_probs[w])
        span = self._bigram_slice(h)
        followers = self.followers[span]
        j = int(np.searchsorted(followers, w))
        if j < len(followers) and followers[j] == w:
            return float(self.follower_log_probs[span][j])
        return float(self.backoffs[h] + self.unigram_log_probs[w])

    def lookahead(self, history: str, prefix: str) -> float:
        """The best log P(word | history) of any word that starts with ``prefix``.

        UNKNOWN_LOG_PROB when none does: the prefix is on its way to a word the model doesn't know.
        """
        key = (history, prefix)
        found = self._lookahead.get(key)  # read once: the demo decodes in several threads, and one may clear
        if found is None:
            if len(self._lookahead) > _CACHE_LIMIT:  # a long-running demo must not grow without bound
                self._lookahead.clear()
            found = self._lookahead[key] = self._best_with_prefix(history, prefix)
        return found

    def _best_with_prefix(self, history: str, prefix: str) -> float:
        first = bisect_left(self.words, prefix)
        end = bisect_left(self.words, prefix + "\U0010ffff")  # past every word with this prefix
        best = float(self._spelled[first:end].max()) if end > first else -math.inf
        if not math.isfinite(best):
            return UNKNOWN_LOG_PROB
        h = self.index.get(history)
        if h is None:
            return best
        best += float(self.backoffs[h])
        span = self._bigram_slice(h)
        followers = self.followers[span]
        lo, hi = np.searchsorted(followers, [first, end])
        if hi > lo:
            best = max(best, float(self.follower_log_probs[span][lo:hi].max()))
        return best

    def to_dict(self) -> dict:
        """Plain strings and tensors, for a ``weights_only`` checkpoint (log-probabilities in fp16)."""
        return {"words": "\n".join(self.words),
                "unigram_log_probs": torch.from_numpy(self.unigram_log_probs).half(),
                "backoffs": torch.from_numpy(self.backoffs).half(),
                "offsets": torch.from_numpy(self.offsets.astype(np.int32)),
                "followers": torch.from_numpy(self.followers),
                "follower_log_probs": torch.from_numpy(self.follower_log_probs).half(),
                "metadata": dict(self.metadata)}

    @classmethod
    def from_dict(cls, section: dict) -> "WordLanguageModel":
        arrays = [section[k].float().numpy() if section[k].is_floating_point() else section[k].numpy()
                  for k in ("unigram_log_probs", "backoffs", "offsets", "followers", "follower_log_probs")]
        return cls(section["words"].split("\n"), *arrays, metadata=section.get("metadata", {}))


def read_arpa(path, prune: float = 0.0) -> WordLanguageModel:
    """The unigrams and bigrams of an ARPA file, as a :class:`WordLanguageModel`.

    ``prune`` (log10) drops a bigram whose probability is within that much of its back-off
    estimate, as it adds nothing the unigrams don't say.
    A one-line ValueError for a file that is not ARPA or is cut short.
    """
    unigrams: dict[str, tuple[float, float]] = {}
    raw_bigrams: list[tuple[str, str, float]] = []
    expected: dict[int, int] = {}
    seen = {1: 0, 2: 0}
    order = 0
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                if line == "\\data\\":
                    order = -1
                    continue
                if line.startswith("\\") and line.endswith("-grams:"):
                    order = int(line[1:-len("-grams:")])
                    continue
                if line == "\\end\\":
                    break
                if order == -1 and line.startswith("ngram "):
                    n, count = line[len("ngram "):].split("=")
                    expected[int(n)] = int(count)
                    continue
                if order not in (1, 2):
                    continue
                fields = line.split()
                if len(fields) < 1 + order:
                    raise ValueError(f"{path}:{number}: not an ARPA {order}-gram line")
                prob = float(fields[0]) * LN10
                seen[order] += 1
                if order == 1:
                    backoff = float(fields[2]) * LN10 if len(fields) > 2 else 0.0
                    word = fields[1]
                    unigrams[word] = (prob, backoff)
                else:
                    raw_bigrams.append((fields[1], fields[2], prob))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text ARPA file") from None
    except ValueError as error:
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not an ARPA language model ({error})") from None
    if not expected or not unigrams:
        raise ValueError(f"{path}: not an ARPA language model (no \\data\\ section or no unigrams)")
    for n in (1, 2):
        if n in expected and seen[n] != expected[n]:
            raise ValueError(f"{path}: cut short: {seen[n]} of {expected[n]} {n}-grams")
    words = sorted(unigrams)
    index = {w: i for i, w in enumerate(words)}
    pairs = []
    pruned = 0
    for history, word, prob in raw_bigrams:
        if history not in unigrams or word not in unigrams:
            continue
        if abs(prob - (unigrams[history][1] + unigrams[word][0])) < prune * LN10:
            pruned += 1
            continue
        pairs.append((index[history], index[word], prob))
    pairs.sort()
    counts = np.bincount(np.array([h for h, _, _ in pairs], dtype=np.int64), minlength=len(words))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    model = WordLanguageModel(words, [unigrams[w][0] for w in words], [unigrams[w][1] for w in words], offsets,
                              [w for _, w, _ in pairs], [p for _, _, p in pairs])
    model.metadata = {"source": str(path), "unigrams": len(words), "bigrams": len(pairs),
                      "pruned_bigrams": pruned, "prune_log10": prune}
    return model
