"""Export pocketsphinx's general US English word model as an ARPA file: bigrams, and trigrams of common pairs.

    python recipes/synth/export_word_lm.py --out data/lm/en-us.arpa

The source is ``en-us.lm.bin`` (a trigram model of 72,547 words; CMU Sphinx, BSD licence),
which ships inside PyPI ``pocketsphinx``, the benchmark's peer. ``asr train-lm --word-lm``
bundles the result with a checkpoint.

pocketsphinx 5.1.1's own ARPA writer crashes part-way or prints wrongly scaled numbers, so
the model is read through the one call that works, ``NGramModel.prob``:

- every word of its pronouncing dictionary is asked for its unigram probability; the words
  the model knows are its vocabulary;
- each word's back-off weight as a history is what every unseen follower shares:
  ``log P(w | h) - log P(w)`` for a few rare words ``w`` (their median);
- for the ``--histories`` commonest words (and the sentence start), every follower among the
  ``--followers`` commonest words (and the sentence end) is asked for ``log P(w | h)``; a
  bigram is written where it differs from the back-off estimate by more than ``--prune``;
- the ``--trigram-contexts`` likeliest word pairs among those bigrams (by ``P(h2) P(h1 | h2)``)
  are trigram contexts: each gets a back-off weight as above, ``log P(w | h2 h1) - log P(w | h1)``
  for the rare words, and every follower among the ``--trigram-followers`` commonest words is
  asked for ``log P(w | h2 h1)``, written where it differs from its back-off estimate by more than
  ``--prune``.

So the file holds all unigrams, the bigrams of the common histories and the trigrams of the
common pairs: the part of the model that a character speller's beam search can use, in a size
a checkpoint can carry.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from asr.files import atomic_path  # noqa: E402
from tqdm import tqdm  # noqa: E402

LOG_BASE = 1.0001  # the LogMath base the model is opened with: prob() answers in its units
RARE_WORDS = ("xylophone", "zucchini", "aardvark", "kumquat", "marzipan")  # followers no history predicts


def export(out: Path, histories: int, followers: int, prune: float, trigram_contexts: int = 0,
           trigram_followers: int = 0) -> None:
    import pocketsphinx

    source = pocketsphinx.get_model_path("en-us/en-us.lm.bin")
    model = pocketsphinx.NGramModel(pocketsphinx.Config(), pocketsphinx.LogMath(LOG_BASE), source)
    to_log10 = math.log10(LOG_BASE)
    dictionary = Path(pocketsphinx.get_model_path("en-us/cmudict-en-us.dict"))
    candidates = {line.split()[0].split("(")[0] for line in dictionary.read_text(encoding="utf-8").splitlines()
                  if line.strip()}
    unknown = model.prob(["qqqqzzzz"])  # what the model answers for a word it doesn't know
    unigram = {w: model.prob([w]) for w in sorted(candidates)}
    unigram = {w: p for w, p in unigram.items() if p != unknown}
    unigram["</s>"] = model.prob(["</s>"])
    unigram["<s>"] = model.prob(["<s>"])
    rare = [w for w in RARE_WORDS if w in unigram]
    backoff = {h: statistics.median(model.prob([w, h]) - unigram[w] for w in rare)
               for h in tqdm(unigram, desc="back-off weights") if h != "</s>"}
    ranked = sorted((w for w in unigram if w not in ("<s>", "</s>")), key=lambda w: -unigram[w])
    chosen_histories = ["<s>", *ranked[:histories]]
    chosen_followers = [*ranked[:followers], "</s>"]
    bigrams = []
    for h in tqdm(chosen_histories, desc="bigrams"):
        alpha = backoff[h]
        for w in chosen_followers:
            p = model.prob([w, h])
            if abs(p - (alpha + unigram[w])) * to_log10 > prune:
                bigrams.append((h, w, p))
    contexts, trigrams = _trigrams(model, unigram, bigrams, rare, ranked[:trigram_followers], trigram_contexts, prune,
                                   to_log10)
    lines = ["\\data\\", f"ngram 1={len(unigram)}", f"ngram 2={len(bigrams)}"]
    lines += [f"ngram 3={len(trigrams)}"] if trigrams else []
    lines += ["", "\\1-grams:"]
    for w in sorted(unigram):
        prob = -99.0 if w == "<s>" else unigram[w] * to_log10  # ARPA's convention: <s> is never predicted
        lines.append(f"{prob:.4f} {w}" + (f" {backoff[w] * to_log10:.4f}" if w in backoff else ""))
    lines += ["", "\\2-grams:"]
    lines += [f"{p * to_log10:.4f} {h} {w}" + (f" {contexts[h, w] * to_log10:.4f}" if (h, w) in contexts else "")
              for h, w, p in bigrams]
    if trigrams:
        lines += ["", "\\3-grams:"]
        lines += [f"{p * to_log10:.4f} {h2} {h1} {w}" for h2, h1, w, p in trigrams]
    lines += ["", "\\end\\", ""]
    with atomic_path(out) as tmp:
        Path(tmp).write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out}: {len(unigram)} unigrams, {len(bigrams)} bigrams "
          f"({len(chosen_histories)} histories x {len(chosen_followers)} followers), {len(trigrams)} trigrams "
          f"({len(contexts)} contexts x {trigram_followers} followers), pruned at {prune} log10")


def _trigrams(model, unigram, bigrams, rare, followers, count, prune, to_log10):
    """({(h2, h1): back-off weight}, [(h2, h1, w, log P(w | h2 h1))]) for the ``count`` likeliest
    pairs among ``bigrams``; the sentence start counts as often as the sentence end."""
    if not count or not followers:
        return {}, []
    start = unigram["</s>"]
    ranked = sorted(((unigram[h] if h != "<s>" else start) + p, h, w) for h, w, p in bigrams if w != "</s>")
    chosen = [(h2, h1) for _, h2, h1 in ranked[::-1][:count]]
    followers = [*followers, "</s>"]
    rows: dict[str, list[int]] = {}  # h1 -> log P(w | h1) for every follower
    contexts, trigrams = {}, []
    for h2, h1 in tqdm(chosen, desc="trigrams"):
        if h1 not in rows:
            rows[h1] = [model.prob([w, h1]) for w in followers]
        alpha = contexts[h2, h1] = statistics.median(model.prob([w, h1, h2]) - model.prob([w, h1]) for w in rare)
        for w, bigram in zip(followers, rows[h1]):
            p = model.prob([w, h1, h2])
            if abs(p - (alpha + bigram)) * to_log10 > prune:
                trigrams.append((h2, h1, w, p))
    return contexts, trigrams


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/lm/en-us.arpa"))
    parser.add_argument("--histories", type=int, default=5000, help="commonest words whose bigrams are kept")
    parser.add_argument("--followers", type=int, default=30000, help="commonest words asked for as followers")
    parser.add_argument("--prune", type=float, default=0.5,
                        help="keep an n-gram only if it differs from its back-off estimate by more (log10)")
    parser.add_argument("--trigram-contexts", type=int, default=0, help="likeliest word pairs whose trigrams are kept")
    parser.add_argument("--trigram-followers", type=int, default=5000,
                        help="commonest words asked for as followers of each pair")
    args = parser.parse_args(argv)
    if args.out.exists():
        print(f"{args.out}: there already")
        return
    export(args.out, args.histories, args.followers, args.prune, args.trigram_contexts, args.trigram_followers)


if __name__ == "__main__":
    main()
