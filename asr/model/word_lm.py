"""A word n-gram language model (bigrams, and trigrams where it has them), for beam search.

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
unigrams, bigrams and trigrams, with their back-off weights; higher orders are dropped.
N-grams that say little more than their back-off estimate are pruned (``prune``), so the
model fits in a checkpoint.  A history is the last words written, most recent last: a
trigram needs two, and a two-word history the model has no trigrams for backs off to the
bigram of its last word.  The model travels in the checkpoint as its word list (one string)
and index and fp16 log-probability tensors (:mod:`asr.model.checkpoint`).  Scores are
natural logarithms.
"""

from __future__ import annotations

import math
from bisect import bisect_left

import numpy as np
import torch

LN10 = math.log(10.0)
SENTENCE_START, SENTENCE_END = "<s>", "</s>"
UNKNOWN_LOG_PROB = -18.0  # a word the model has never seen (natural log): about one in 65 million
_CACHE_ROWS = 6_000  # look-ahead rows remembered (about 30 answers each: 1.4 MB)


TRIGRAM_ARRAYS = ("context_keys", "context_backoffs", "context_offsets", "trigram_followers", "trigram_log_probs")


class WordLanguageModel:
    """Unigrams and bigrams in arrays: word ``i`` is ``words[i]`` (sorted, so the words that
    share a prefix are one index range), and the followers of history ``h`` are
    ``followers[offsets[h]:offsets[h + 1]]``, sorted by index, with their log-probabilities.

    Trigrams, where given, are laid out the same way over two-word contexts: context ``c`` is the
    pair ``(h2, h1)`` with ``context_keys[c] == h2 * len(words) + h1`` (sorted), its back-off
    weight is ``context_backoffs[c]``, and its followers are
    ``trigram_followers[context_offsets[c]:context_offsets[c + 1]]``."""

    def __init__(self, words: list[str], unigram_log_probs, backoffs, offsets, followers, follower_log_probs,
                 metadata: dict | None = None, trigrams: dict | None = None):
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
        trigrams = trigrams or {name: [] for name in TRIGRAM_ARRAYS} | {"context_offsets": [0]}
        self.context_keys = np.asarray(trigrams["context_keys"], dtype=np.int64)
        self.context_backoffs = np.asarray(trigrams["context_backoffs"], dtype=np.float32)
        self.context_offsets = np.asarray(trigrams["context_offsets"], dtype=np.int64)
        self.trigram_followers = np.asarray(trigrams["trigram_followers"], dtype=np.int32)
        self.trigram_log_probs = np.asarray(trigrams["trigram_log_probs"], dtype=np.float32)
        if not (len(self.context_keys) == len(self.context_backoffs) == len(self.context_offsets) - 1
                and len(self.trigram_followers) == len(self.trigram_log_probs) == self.context_offsets[-1]):
            raise ValueError("word LM: its trigram arrays disagree in length")
        if np.any(np.diff(self.context_keys) <= 0):
            raise ValueError("word LM: its trigram contexts must be sorted and distinct")
        self.metadata: dict = dict(metadata or {})
        # What look-ahead ranges over: every word but the sentence markers (never spelled).
        self._spelled = self.unigram_log_probs.copy()
        for marker in (SENTENCE_START, SENTENCE_END):
            if marker in self.index:
                self._spelled[self.index[marker]] = -np.inf
        self._lookaheads: dict[tuple, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.words)

    def bigram_count(self) -> int:
        return len(self.followers)

    def trigram_count(self) -> int:
        return len(self.trigram_followers)

    def _bigram_slice(self, history: int) -> slice:
        return slice(int(self.offsets[history]), int(self.offsets[history + 1]))

    def _context(self, history: tuple[str, ...]) -> int | None:
        """The trigram context of a history's last two words, or None where the model has none."""
        if len(history) < 2 or not len(self.context_keys):
            return None
        h2, h1 = self.index.get(history[-2]), self.index.get(history[-1])
        if h2 is None or h1 is None:
            return None
        key = h2 * len(self.words) + h1
        c = int(np.searchsorted(self.context_keys, key))
        return c if c < len(self.context_keys) and self.context_keys[c] == key else None

    def log_prob(self, history: str | tuple[str, ...], word: str) -> float:
        """log P(word | history), backing off to the bigram and the unigram; UNKNOWN_LOG_PROB for an
        unknown word.  ``history``: the words before, most recent last (or one word)."""
        history = (history,) if isinstance(history, str) else tuple(history)
        w = self.index.get(word)
        if w is None:
            return UNKNOWN_LOG_PROB
        c = self._context(history)
        if c is not None:
            span = slice(int(self.context_offsets[c]), int(self.context_offsets[c + 1]))
            followers = self.trigram_followers[span]
            j = int(np.searchsorted(followers, w))
            if j < len(followers) and followers[j] == w:
                return float(self.trigram_log_probs[span][j])
            return float(self.context_backoffs[c]) + self._bigram_log_prob(history[-1], w)
        return self._bigram_log_prob(history[-1] if history else None, w)

    def next_word_log_probs(self, history: str | tuple[str, ...]) -> np.ndarray:
        """log P(w | history) for every word ``w`` at once (indexed as ``words``): what
        :meth:`log_prob` answers word by word, for sampling text from the model."""
        history = (history,) if isinstance(history, str) else tuple(history)
        scores = self.unigram_log_probs.copy()
        h = self.index.get(history[-1]) if history else None
        if h is not None:
            span = self._bigram_slice(h)
            scores += self.backoffs[h]
            scores[self.followers[span]] = self.follower_log_probs[span]
        c = self._context(history)
        if c is not None:
            span = slice(int(self.context_offsets[c]), int(self.context_offsets[c + 1]))
            scores += self.context_backoffs[c]
            scores[self.trigram_followers[span]] = self.trigram_log_probs[span]
        return scores

    def _bigram_log_prob(self, history: str | None, w: int) -> float:
        h = self.index.get(history)
        if h is None:
            return float(self.unigram_log_probs[w])
        span = self._bigram_slice(h)
        followers = self.followers[span]
        j = int(np.searchsorted(followers, w))
        if j < len(followers) and followers[j] == w:
            return float(self.follower_log_probs[span][j])
        return float(self.backoffs[h] + self.unigram_log_probs[w])

    def lookahead(self, history: str | tuple[str, ...], prefix: str) -> float:
        """The best log P(word | history) of any word that starts with ``prefix``.

        UNKNOWN_LOG_PROB when none does: the prefix is on its way to a word the model doesn't know.
        """
        history = (history,) if isinstance(history, str) else tuple(history)
        first, end = self._prefix_range(prefix)
        return float(self._best_in_ranges(history, np.array([first]), np.array([end]))[0])

    def lookaheads(self, history: str | tuple[str, ...], prefix: str, characters: str) -> np.ndarray:
        """``lookahead(history, prefix + c)`` for every character ``c`` of ``characters`` at once, as
        float64: what beam search asks for each hypothesis at every step.  ``characters`` must be in
        code-point order (the order of ``words``), so their words are consecutive index ranges."""
        history = (history,) if isinstance(history, str) else tuple(history)
        # Keyed by the words the answer depends on, so a cache hit looks nothing up.
        key = (history[-2:] if self.trigram_count() else history[-1:], prefix, characters)
        found = self._lookaheads.get(key)  # read once: the demo decodes in several threads, and one may clear
        if found is None:
            if len(self._lookaheads) > _CACHE_ROWS:  # a long-running demo must not grow without bound
                self._lookaheads.clear()
            first, end = self._prefix_range(prefix)
            lo = np.array([bisect_left(self.words, prefix + c, first, end) for c in characters], dtype=np.int64)
            hi = np.array([bisect_left(self.words, prefix + c + "\U0010ffff", first, end) for c in characters],
                          dtype=np.int64)
            found = self._lookaheads[key] = self._best_in_ranges(history, lo, hi)
        return found

    def _prefix_range(self, prefix: str) -> tuple[int, int]:
        """The indices of the words that start with ``prefix``: ``first`` to ``end - 1``."""
        return bisect_left(self.words, prefix), bisect_left(self.words, prefix + "\U0010ffff")

    def _best_in_ranges(self, history: tuple[str, ...], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """For each word-index range ``lo[i]:hi[i]`` (in order, not overlapping), the best log P(word |
        history) of its words: the history's trigrams where it has a context, else (and below them,
        after the context's back-off weight) its last word's bigrams, else the back-off weight plus
        the unigrams; UNKNOWN_LOG_PROB for a range of no spelled word."""
        best = _range_max(self._spelled, lo, hi)
        unknown = ~np.isfinite(best)
        h = self.index.get(history[-1]) if history else None
        if h is not None:
            best += float(self.backoffs[h])
            span = self._bigram_slice(h)
            best = np.maximum(best, _range_max(self.follower_log_probs[span], *_within(self.followers[span], lo, hi)))
        c = self._context(history)
        if c is not None:
            best += float(self.context_backoffs[c])
            span = slice(int(self.context_offsets[c]), int(self.context_offsets[c + 1]))
            best = np.maximum(best, _range_max(self.trigram_log_probs[span],
                                               *_within(self.trigram_followers[span], lo, hi)))
        best[unknown] = UNKNOWN_LOG_PROB
        return best

    def to_dict(self) -> dict:
        """Plain strings and tensors, for a ``weights_only`` checkpoint (log-probabilities in fp16)."""
        section = {"words": "\n".join(self.words),
                   "unigram_log_probs": torch.from_numpy(self.unigram_log_probs).half(),
                   "backoffs": torch.from_numpy(self.backoffs).half(),
                   "offsets": torch.from_numpy(self.offsets.astype(np.int32)),
                   "followers": torch.from_numpy(self.followers),
                   "follower_log_probs": torch.from_numpy(self.follower_log_probs).half(),
                   "metadata": dict(self.metadata)}
        if self.trigram_count():
            section |= {"context_keys": torch.from_numpy(self.context_keys),
                        "context_backoffs": torch.from_numpy(self.context_backoffs).half(),
                        "context_offsets": torch.from_numpy(self.context_offsets.astype(np.int32)),
                        "trigram_followers": torch.from_numpy(self.trigram_followers),
                        "trigram_log_probs": torch.from_numpy(self.trigram_log_probs).half()}
        return section

    @classmethod
    def from_dict(cls, section: dict) -> "WordLanguageModel":
        def array(name):
            return section[name].float().numpy() if section[name].is_floating_point() else section[name].numpy()

        arrays = [array(k) for k in ("unigram_log_probs", "backoffs", "offsets", "followers", "follower_log_probs")]
        trigrams = {k: array(k) for k in TRIGRAM_ARRAYS} if "context_keys" in section else None  # a bigram model
        return cls(section["words"].split("\n"), *arrays, metadata=section.get("metadata", {}), trigrams=trigrams)


def read_arpa(path, prune: float = 0.0) -> WordLanguageModel:
    """The unigrams, bigrams and trigrams of an ARPA file, as a :class:`WordLanguageModel`.

    ``prune`` (log10) drops an n-gram whose probability is within that much of its back-off
    estimate, as it adds nothing the lower orders don't say.
    A one-line ValueError for a file that is not ARPA or is cut short.
    """
    unigrams: dict[str, tuple[float, float]] = {}
    raw_bigrams: list[tuple[str, str, float]] = []
    context_backoffs: dict[tuple[str, str], float] = {}  # a bigram line's back-off weight, as a trigram context
    raw_trigrams: list[tuple[str, str, str, float]] = []
    expected: dict[int, int] = {}
    seen = {1: 0, 2: 0, 3: 0}
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
                if order not in (1, 2, 3):
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
                elif order == 2:
                    raw_bigrams.append((fields[1], fields[2], prob))
                    if len(fields) > 3:
                        context_backoffs[fields[1], fields[2]] = float(fields[3]) * LN10
                else:
                    raw_trigrams.append((fields[1], fields[2], fields[3], prob))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text ARPA file") from None
    except ValueError as error:
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not an ARPA language model ({error})") from None
    if not expected or not unigrams:
        raise ValueError(f"{path}: not an ARPA language model (no \\data\\ section or no unigrams)")
    for n in (1, 2, 3):
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
    # Trigrams, pruned against their back-off estimate through the pruned bigrams; a context none of
    # whose trigrams is kept is dropped with its back-off weight, and backs off to the bigram as it is.
    triples, pruned_trigrams = [], 0
    for h2, h1, word, prob in raw_trigrams:
        if h2 not in unigrams or h1 not in unigrams or word not in unigrams:
            continue
        backoff = context_backoffs.get((h2, h1), 0.0)
        if abs(prob - (backoff + model._bigram_log_prob(h1, index[word]))) < prune * LN10:
            pruned_trigrams += 1
            continue
        triples.append((index[h2] * len(words) + index[h1], index[word], prob, backoff))
    triples.sort()
    if triples:
        keys, starts = np.unique(np.array([k for k, _, _, _ in triples], dtype=np.int64), return_index=True)
        model = WordLanguageModel(
            words, model.unigram_log_probs, model.backoffs, model.offsets, model.followers, model.follower_log_probs,
            trigrams={"context_keys": keys, "context_backoffs": [triples[i][3] for i in starts],
                      "context_offsets": np.append(starts, len(triples)),
                      "trigram_followers": [w for _, w, _, _ in triples],
                      "trigram_log_probs": [p for _, _, p, _ in triples]})
    model.metadata = {"source": str(path), "unigrams": len(words), "bigrams": len(pairs),
                      "pruned_bigrams": pruned, "trigrams": len(triples), "trigram_contexts": model.context_keys.size,
                      "pruned_trigrams": pruned_trigrams, "prune_log10": prune}
    return model


def _range_max(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``max(values[lo[i]:hi[i]])`` for each ``i`` as float64, -inf where the range is empty.  The
    ranges come in order and do not overlap, so one ``reduceat`` finds every maximum."""
    out = np.full(len(lo), -np.inf)
    full = hi > lo
    if full.any():
        start, stop = int(lo[full][0]), int(hi[full][-1])
        window = np.append(values[start:stop].astype(np.float64), -np.inf)  # hi may be the last index + 1
        bounds = np.stack([lo[full], hi[full]], axis=1).ravel() - start
        out[full] = np.maximum.reduceat(window, bounds)[::2]
    return out


def _within(followers: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions in sorted ``followers`` of each word-index range ``lo[i]:hi[i]``."""
    return np.searchsorted(followers, lo), np.searchsorted(followers, hi)
