"""Capitals and punctuation: F1 per mark and casing accuracy of the checkpoint's punctuator.

Usage:
    python recipes/synth/punctuation_text.py --out data/punctuation/documents.txt   # once
    python bench/punctuation.py                                  # held-out text, then held-out voices
    python bench/punctuation.py --sentences 20 --checkpoint exp/punctuation/with_punctuation.pt
    python bench/punctuation.py --skip-speech                    # the text part only (seconds)

Two measurements, on the documents asr.training.punctuator holds out (one in twenty, by a hash of
the text, never trained on):

- **text**: the reference words, with the silence after each simulated as in training (seed 1),
  and with no pauses at all;
- **speech**: ``--sentences`` held-out passages of one or two sentences, spoken as written
  (punctuation and all) by the synth recipe's held-out voices (``voices.HELD_OUT_VOICES``, in
  turn), transcribed by the checkpoint (``--preset``), and punctuated from the speller's words
  with the gaps between their attention timings as pauses (and again with no pauses).
  Hypothesis words are aligned to the reference words by edit distance; marks and case are
  scored on the words that match.

A mark counts as right only after the same word; ``overall`` pools every mark. Casing accuracy
is over all words, capitals accuracy over the words that should have a capital. Prints
Markdown; asserts nothing. One torch thread.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes" / "synth"))

from asr.audio.io import to_mono_16k  # noqa: E402
from asr.model.checkpoint import default_checkpoint, load_model  # noqa: E402
from asr.metrics import ErrorRate  # noqa: E402
from asr.decoding.presets import preset  # noqa: E402
from asr.model.punctuator import CASES, MARKS, SENTENCE_END_MARKS, restore  # noqa: E402
from asr.training.punctuator import (case_of, evaluate, examples, label_text, mark_of, read_documents,  # noqa: E402
                                   scores, split_documents)

SHOWN = (".", ",", "?", "!", "overall")
_PLAIN = re.compile(r"[A-Za-z' ,.?!]+")  # what a person would read out as it stands
_SHOUTED = re.compile(r"[A-Z]{2,}")


def align(reference: list[str], hypothesis: list[str]) -> list[tuple[int, int]]:
    """(reference index, hypothesis index) of the words a minimum edit-distance alignment matches."""
    rows, cols = len(reference) + 1, len(hypothesis) + 1
    cost = np.zeros((rows, cols), dtype=np.int32)
    cost[:, 0], cost[0, :] = np.arange(rows), np.arange(cols)
    for i in range(1, rows):
        for j in range(1, cols):
            cost[i, j] = min(cost[i - 1, j] + 1, cost[i, j - 1] + 1,
                             cost[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1]))
    pairs, i, j = [], rows - 1, cols - 1
    while i > 0 and j > 0:
        same = reference[i - 1] == hypothesis[j - 1]
        if cost[i, j] == cost[i - 1, j - 1] + (not same):
            if same:
                pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def written_labels(token: str) -> tuple[int, int]:
    """(case index, mark index) of a written word such as ``"Paris,"``."""
    case = case_of(token)
    return CASES.index("title" if case == "mixed" else case), MARKS.index(mark_of(token[-1:]))


def passages(heldout: list[str], count: int, seed: int = 0) -> list[str]:
    """``count`` passages of one or two whole sentences (3 to 25 words) of held-out documents,
    in plain words (no digits, symbols, quotes or words in capitals)."""
    candidates = []
    for document in heldout:
        sentences, current = [], []
        for token in document.split():
            current.append(token)
            if mark_of(token[-2:]) in SENTENCE_END_MARKS and not token.endswith(("Mr.", "Mrs.", "Dr.", "St.")):
                sentences.append(" ".join(current))
                current = []
        if current:
            sentences.append(" ".join(current))
        for k in range(len(sentences)):
            for take in (1, 2):
                text = " ".join(sentences[k:k + take])
                if (k + take <= len(sentences) and 3 <= len(label_text(text).words) <= 25
                        and _PLAIN.fullmatch(text) and not _SHOUTED.search(text)):
                    candidates.append(text)
    rng = random.Random(seed)
    return sorted(rng.sample(sorted(set(candidates)), min(count, len(set(candidates)))), key=candidates.index)


def table(rows: dict[str, dict]) -> str:
    lines = ["| set | words | " + " | ".join(f"F1 `{m}`" if m != "overall" else "F1 overall" for m in SHOWN)
             + " | P / R overall | casing accuracy | capitals accuracy |",
             "|---|---" + "|---" * len(SHOWN) + "|---|---|---|"]
    for name, r in rows.items():
        f1 = " | ".join(f"{r[m]['f1']:.2f} ({r[m]['count']})" if m != "overall" else f"**{r[m]['f1']:.2f}**"
                        for m in SHOWN)
        lines.append(f"| {name} | {r['words']} | {f1} | {r['overall']['precision']:.2f} / "
                     f"{r['overall']['recall']:.2f} | {r['case_accuracy']:.3f} | {r['capitals_accuracy']:.3f} |")
    return "\n".join(lines)


def speech(model, texts: list[str], options, voices_list) -> tuple[dict, dict, float, list[float], list[str]]:
    from voices import synthesize

    with_pauses, without = ([], []), ([], [])
    wer, latencies, shown = ErrorRate(), [], []
    for k, text in enumerate(texts):
        voice = voices_list[k % len(voices_list)]
        samples, rate = synthesize(voice, text, 1.0, 0.5)
        result = model.transcribe(to_mono_16k(samples, rate), options=options)
        words = [w for s in result.segments for w in s.words]
        spoken = [w.word for w in words]
        pauses = [max(b.start - a.end, 0.0) for a, b in zip(words, words[1:])] + [0.0]
        reference = label_text(text)
        wer.update(reference.words, spoken)
        started = time.perf_counter()
        written = restore(model.punctuator, spoken, pauses)
        latencies.append(time.perf_counter() - started)
        plain = restore(model.punctuator, spoken, [0.0] * len(spoken))
        if k < 6:
            shown.append(f"{voice}: {text}  \n→ {' '.join(written)}")
        for i, j in align(reference.words, spoken):
            for (refs, hyps), tokens in ((with_pauses, written), (without, plain)):
                refs.append((reference.cases[i], reference.marks[i]))
                hyps.append(written_labels(tokens[j]))
    return scores(*with_pauses), scores(*without), wer.rate, latencies, shown


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled checkpoint")
    parser.add_argument("--text", type=Path, default=Path("data/punctuation/documents.txt"),
                        help="the documents the punctuator was trained on, one per line (default: %(default)s)")
    parser.add_argument("--sentences", type=int, default=100, help="passages spoken (default: %(default)s)")
    parser.add_argument("--preset", default="accurate", help="decoding preset (default: %(default)s)")
    parser.add_argument("--skip-speech", action="store_true", help="score the text part only")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if not args.text.is_file():
        sys.exit(f"{args.text}: no such file; make it with python recipes/synth/punctuation_text.py --out {args.text}")
    checkpoint = args.checkpoint or default_checkpoint()
    model = load_model(checkpoint)
    if model.punctuator is None:
        sys.exit(f"{checkpoint}: this checkpoint has no punctuation section")
    _, heldout = split_documents(read_documents([args.text]))
    labelled = [d for d in map(label_text, heldout) if d.words]
    print(f"checkpoint {checkpoint}; {len(labelled)} held-out documents, "
          f"{sum(len(d.words) for d in labelled)} words\n")
    rows = {"text, simulated pauses": evaluate(model.punctuator, examples(labelled, random.Random(1), 60)),
            "text, no pauses": evaluate(model.punctuator, examples(labelled, random.Random(1), 60, pauses=False))}
    if not args.skip_speech:
        from voices import HELD_OUT_VOICES

        texts = passages(heldout, args.sentences)
        with_pauses, without, word_error_rate, latencies, shown = speech(model, texts, preset(args.preset),
                                                                         HELD_OUT_VOICES)
        rows[f"speech ({len(texts)} passages), attention pauses"] = with_pauses
        rows[f"speech ({len(texts)} passages), no pauses"] = without
    print(table(rows))
    if not args.skip_speech:
        print(f"\nspeech: {', '.join(HELD_OUT_VOICES)}; preset {args.preset}; WER of the speller's words "
              f"{100 * word_error_rate:.1f}%; restore() {1000 * float(np.median(latencies)):.1f} ms median "
              f"per passage (one thread)\n")
        print("\n\n".join(shown))


if __name__ == "__main__":
    main()
