"""Sentences sampled from a word trigram model: text that reads like what people say, word to word.

    python recipes/synth/sampled_text.py --lm data/lm/en-us-3gram.arpa --count 5 --seed 1

The training texts of corpus versions 1-3 are fortunes, generated phrases and random strings
of dictionary words; the last teach the speller nothing about which word follows which.
Sampling from pocketsphinx's US English trigram model (exported by ``export_word_lm.py``,
read by :func:`asr.model.word_lm.read_arpa`) gives sentences that are locally natural, in any
number: each word is drawn from ``P(w | two words before)``, backing off as the model does,
from the sentence start until the model draws the sentence end.

A draw is kept when it has ``min_words`` to ``max_words`` words, every one of them plain
letters (the model's spelled letters such as ``a.`` and its markers are not), none of them on
the corpus's blocklist, and it is new.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from asr.model.word_lm import SENTENCE_END, SENTENCE_START, WordLanguageModel, read_arpa  # noqa: E402

_PLAIN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def sample_sentences(lm: WordLanguageModel, count: int, seed: int, min_words: int = 4, max_words: int = 20,
                     blocklist: frozenset[str] = frozenset(), exclude: set[str] | None = None) -> list[str]:
    """``count`` distinct sentences drawn from ``lm`` (a pure function of ``seed``)."""
    rng = np.random.default_rng(seed)
    start, end = lm.index.get(SENTENCE_START), lm.index[SENTENCE_END]
    exclude = exclude or set()
    sentences: list[str] = []
    seen: set[str] = set()
    attempts = 0
    while len(sentences) < count:
        attempts += 1
        if attempts > 50 * count + 1000:
            raise ValueError(f"sampled only {len(sentences)} of {count} sentences: the model's draws are "
                             "too short, too long or repeated")
        history: tuple[str, ...] = (SENTENCE_START,)
        words: list[str] = []
        while len(words) <= max_words:
            scores = lm.next_word_log_probs(history)
            if start is not None:
                scores[start] = -np.inf
            probs = np.exp(scores - scores.max())
            w = int(rng.choice(len(probs), p=probs / probs.sum()))
            if w == end:
                break
            words.append(lm.words[w])
            history = (history[-1], lm.words[w])
        else:
            continue  # ran past max_words without an end
        sentence = " ".join(words)
        if (min_words <= len(words) and all(_PLAIN_WORD.fullmatch(w) for w in words)
                and not blocklist.intersection(words) and sentence not in seen and sentence not in exclude):
            seen.add(sentence)
            sentences.append(sentence)
    return sentences


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lm", type=Path, required=True, help="an ARPA word model (export_word_lm.py)")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for sentence in sample_sentences(read_arpa(args.lm), args.count, args.seed):
        print(sentence)


if __name__ == "__main__":
    main()
