"""Train the punctuator (:mod:`asr.model.punctuator`) on punctuated text and bundle it with a checkpoint.

Usage:
    python -m asr.training.punctuator --text data/punctuation/documents.txt \\
        --checkpoint exp/whisper_base/with_lm.pt --out exp/whisper_base/with_punctuation.pt

A text file holds one document per line (a fortune cookie, a short dialogue), written as
people write: capitals and punctuation. Every word is put in the speller's spoken form with
:func:`asr.text.normalize_text` ("1990," -> "nineteen ninety" with a comma after "ninety")
and labelled with its case and the mark after it. One document in twenty (chosen by a hash
of its text, so every run and the benchmark agree) is held out and never trained on.

Training sees windows of one to a few whole sentences of a document, sometimes starting
mid-sentence, with the silence after each word simulated: long after a sentence, shorter
after a comma, now and then a hesitation, scaled down and over a baseline gap between all
words, as attention timings show them; a third of the windows have no pauses at all, so that
the model also works where no timings are known. The output is the input checkpoint with a
``"punctuation"`` section added (or replaced); every other section is copied as it was.
Training takes about 15 minutes on one CPU thread (``--threads``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import re
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from asr.model.punctuator import CASES, MARKS, SENTENCE_END_MARKS, Punctuator, PunctuatorConfig
from asr.text import normalize_text, read_lines

_EDGE = re.compile(r"^([^A-Za-z0-9$£€]*)(.*?)([^A-Za-z0-9%]*)$")
_PART_SEPARATORS = re.compile(r"[-/_]+")
_MARK_PRIORITY = ("?", "!", ".", ":", ";", ",")  # "Really?!" ends a question; "etc.," a clause
HELDOUT_EVERY = 20  # one document in twenty is held out


@dataclass
class Labelled:
    """A document as the speller would write it, with what the punctuator should predict."""

    words: list[str]  # spoken-form, lower-case
    cases: list[int]  # index into CASES
    marks: list[int]  # index into MARKS: the mark after the word


@dataclass(frozen=True)
class PunctuationTrainingConfig:
    epochs: int = 6
    batch_size: int = 64  # windows per step
    max_words: int = 60  # longest window
    peak_lr: float = 3e-3
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 1  # torch CPU threads


def case_of(part: str) -> str:
    """``lower``, ``title``, ``upper`` or ``mixed`` ("McDonald"), from the letters of a written word
    (before a short ending such as the ``'s`` of "NASA's")."""
    stem, apostrophe, ending = part.rpartition("'")
    letters = [c for c in (stem if apostrophe and len(ending) <= 2 else part) if c.isalpha()]
    if not letters or all(c.islower() for c in letters):
        return "lower"
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return "title"
    if all(c.isupper() for c in letters):
        return "title" if len(letters) == 1 else "upper"
    return "mixed"


def mark_of(trailing: str) -> str:
    """The mark a run of trailing punctuation counts as (``'?"'`` -> ``?``, ``"..."`` -> ``.``)."""
    return next((m for m in _MARK_PRIORITY if m in trailing), "")


def label_text(text: str, mixed: Counter | None = None) -> Labelled:
    """Spoken-form words of a punctuated text, each with its case and the mark after it.

    ``mixed`` (optional) counts the mixed-case written forms seen, by spoken word.
    """
    words, cases, marks = [], [], []
    for token in text.split():
        _, core, trailing = _EDGE.match(token).groups()
        spoken = normalize_text(core).split()
        if not spoken:
            if words and mark_of(trailing):  # a mark standing alone ("wait ... what")
                marks[-1] = marks[-1] or MARKS.index(mark_of(trailing))
            continue
        parts = [p for p in _PART_SEPARATORS.split(core) if any(c.isalnum() for c in p)]
        if len(parts) != len(spoken):  # "7:45" -> three words, "U.S." -> two: only the first is cased
            parts = parts[:1] + ["x"] * (len(spoken) - 1)
        for word, part in zip(spoken, parts):
            case = case_of(part)
            if case == "mixed":
                form = "".join(c for c in part if c.isalpha() or c == "'")
                if mixed is not None and form.lower() == word:
                    mixed[word, form] += 1
                case = "title"
            words.append(word)
            cases.append(CASES.index(case))
            marks.append(0)
        marks[-1] = MARKS.index(mark_of(trailing))
    return Labelled(words, cases, marks)


def mixed_case_forms(mixed: Counter, documents: list[Labelled], minimum: int = 2) -> dict[str, str]:
    """Words written in one mixed-case form at least ``minimum`` times and in more than half of
    all their occurrences: the forms :func:`asr.model.punctuator.apply_case` uses for title case."""
    occurrences = Counter(w for d in documents for w in d.words)
    best: dict[str, tuple[int, str]] = {}
    for (word, form), count in mixed.items():
        if count > best.get(word, (0, ""))[0]:
            best[word] = (count, form)
    return {w: form for w, (count, form) in sorted(best.items()) if count >= minimum and 2 * count > occurrences[w]}


def read_documents(paths) -> list[str]:
    """Non-empty lines of UTF-8 text files (one document each); a one-line ValueError otherwise."""
    return read_lines(paths)


def is_heldout(document: str) -> bool:
    return zlib.crc32(document.encode("utf-8")) % HELDOUT_EVERY == 0


def split_documents(documents: list[str]) -> tuple[list[str], list[str]]:
    """(train, held-out): by a hash of each document's text, so any run splits the same way."""
    return [d for d in documents if not is_heldout(d)], [d for d in documents if is_heldout(d)]


def windows(document: Labelled, rng: random.Random, max_words: int) -> list[tuple[int, int]]:
    """(start, end) word spans of one to a few whole sentences each, covering the document;
    one in seven starts mid-sentence, as a cut in long audio does."""
    ends = [i + 1 for i, m in enumerate(document.marks) if MARKS[m] in SENTENCE_END_MARKS]
    if not ends or ends[-1] != len(document.words):
        ends.append(len(document.words))
    spans, start = [], 0
    while start < len(document.words):
        if rng.random() < 1 / 7 and start + 4 < len(document.words):
            start += rng.randint(1, min(8, len(document.words) - start - 1))
        target = rng.randint(6, max_words)
        end = next(e for e in ends if e > start)
        for e in ends:
            if end < e <= start + target:
                end = e
        end = min(end, start + max_words)
        spans.append((start, end))
        start = end
    return spans


def simulate_pauses(marks: list[int], rng: random.Random) -> list[float]:
    """Seconds of silence after each word, as word timings would show them (see module docstring).

    Attention timings show every gap between words (a few tens of milliseconds where there is
    no silence at all) and only part of a real pause, so each window draws a baseline gap and a
    scale of the pauses it shows.
    """
    if rng.random() < 1 / 3:
        return [0.0] * len(marks)
    baseline, scale = rng.uniform(0.0, 0.08), rng.uniform(0.2, 1.0)
    pauses = []
    for m in marks:
        pause = 0.0
        mark = MARKS[m]
        if mark in SENTENCE_END_MARKS or mark == ":":
            pause = rng.uniform(0.25, 1.0) if rng.random() < 0.85 else 0.0
        elif mark:
            pause = rng.uniform(0.08, 0.5) if rng.random() < 0.6 else 0.0
        elif rng.random() < 0.04:
            pause = rng.uniform(0.15, 0.6)  # a hesitation
        pauses.append(max(0.0, baseline + rng.gauss(0.0, 0.025) + scale * pause))
    if rng.random() < 0.5:
        pauses[-1] = 0.0  # after the last word: often unknown
    return pauses


def examples(documents: list[Labelled], rng: random.Random, max_words: int,
             pauses: bool = True) -> list[tuple[list[str], list[float], list[int], list[int]]]:
    """(words, pauses, cases, marks) of every window of every document."""
    out = []
    for doc in documents:
        for start, end in windows(doc, rng, max_words):
            marks = doc.marks[start:end]
            gaps = simulate_pauses(marks, rng) if pauses else [0.0] * len(marks)
            out.append((doc.words[start:end], gaps, doc.cases[start:end], marks))
    return out


def _same_length_batches(data: list, batch_size: int, rng: random.Random) -> list[list]:
    """Batches of windows of one length each, in random order: no padding, so no packing (which
    costs a CPU more than the recurrence itself)."""
    by_length: dict[int, list] = {}
    for example in data:
        by_length.setdefault(len(example[0]), []).append(example)
    batches = []
    for length in sorted(by_length):
        group = by_length[length]
        rng.shuffle(group)
        batches += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]
    rng.shuffle(batches)
    return batches


def _batch_targets(batch, key: int) -> torch.Tensor:
    longest = max(len(e[0]) for e in batch)
    return torch.tensor([e[key] + [-100] * (longest - len(e[key])) for e in batch], dtype=torch.long)


def scores(references: list[tuple[int, int]], predictions: list[tuple[int, int]]) -> dict:
    """Punctuation precision, recall and F1 per mark and over all marks, and casing accuracy.

    Both arguments are (case index, mark index) per word, the same words in the same order.
    ``overall`` counts a mark right only where it is the same mark after the same word.
    ``case_accuracy`` is over all words; ``capitals_accuracy`` over the words that should
    have a capital (so writing everything in lower case scores 0 there).
    """
    result = {}
    totals = Counter()
    for m, mark in enumerate(MARKS):
        if not mark:
            continue
        tp = sum(r[1] == m and p[1] == m for r, p in zip(references, predictions))
        predicted = sum(p[1] == m for p in predictions)
        wanted = sum(r[1] == m for r in references)
        totals.update(tp=tp, predicted=predicted, wanted=wanted)
        result[mark] = _prf(tp, predicted, wanted)
    result["overall"] = _prf(totals["tp"], totals["predicted"], totals["wanted"])
    result["case_accuracy"] = sum(r[0] == p[0] for r, p in zip(references, predictions)) / max(1, len(references))
    capitals = [(r, p) for r, p in zip(references, predictions) if CASES[r[0]] != "lower"]
    result["capitals_accuracy"] = sum(r[0] == p[0] for r, p in capitals) / max(1, len(capitals))
    result["words"] = len(references)
    return result


def _prf(tp: int, predicted: int, wanted: int) -> dict:
    precision, recall = tp / max(1, predicted), tp / max(1, wanted)
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "count": wanted}


def evaluate(punctuator: Punctuator, data, batch_size: int = 128) -> dict:
    """:func:`scores` of the punctuator on (words, pauses, cases, marks) examples."""
    references, predictions = [], []
    for start in range(0, len(data), batch_size):
        batch = data[start:start + batch_size]
        predicted = punctuator.predict([e[0] for e in batch], [e[1] for e in batch])
        for e, p in zip(batch, predicted):
            references += list(zip(e[2], e[3]))
            predictions += p
    return scores(references, predictions)


def train_punctuator(documents: list[str], heldout: list[str], config: PunctuatorConfig | None = None,
                     training: PunctuationTrainingConfig | None = None, log=print) -> Punctuator:
    """Train a punctuator on punctuated documents; its metadata has the held-out :func:`scores`."""
    config, training = config or PunctuatorConfig(), training or PunctuationTrainingConfig()
    torch.set_num_threads(training.threads)
    torch.manual_seed(training.seed)
    rng = random.Random(training.seed)
    mixed = Counter()
    labelled = [d for d in (label_text(t, mixed) for t in documents) if d.words]
    test = [d for d in (label_text(t) for t in heldout) if d.words]
    if not labelled:
        raise ValueError("no training text: no document has a word")
    punctuator = Punctuator(config, mixed_case_forms(mixed, labelled))
    test_examples = examples(test, random.Random(1), training.max_words)
    epochs = [examples(labelled, rng, training.max_words) for _ in range(training.epochs)]
    total_steps = sum(len(_same_length_batches(e, training.batch_size, random.Random(0))) for e in epochs)
    optimizer = torch.optim.AdamW(punctuator.parameters(), lr=training.peak_lr, weight_decay=1e-5)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, training.peak_lr, total_steps=total_steps,
                                                   pct_start=0.05)
    log(f"{len(labelled)} documents, {sum(len(d.words) for d in labelled)} words; {len(test)} held out; "
        f"{sum(p.numel() for p in punctuator.parameters())} parameters; {total_steps} steps")
    started, step = time.time(), 0
    punctuator.train()
    for epoch, data in enumerate(epochs):
        for batch in _same_length_batches(data, training.batch_size, rng):
            inputs = punctuator.encode([e[0] for e in batch], [e[1] for e in batch])
            case_logits, mark_logits = punctuator(**inputs)
            loss = (F.cross_entropy(case_logits.transpose(1, 2), _batch_targets(batch, 2), ignore_index=-100)
                    + F.cross_entropy(mark_logits.transpose(1, 2), _batch_targets(batch, 3), ignore_index=-100))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(punctuator.parameters(), training.grad_clip)
            optimizer.step()
            schedule.step()
            step += 1
        if test_examples:
            result = evaluate(punctuator, test_examples)
            punctuator.train()
            log(f"epoch {epoch + 1}: loss {loss.item():.3f}, held-out punctuation F1 {result['overall']['f1']:.3f}, "
                f"case accuracy {result['case_accuracy']:.3f} ({time.time() - started:.0f} s)")
    punctuator.eval()
    punctuator.metadata = {"documents": len(labelled), "words": sum(len(d.words) for d in labelled),
                           "heldout_documents": len(test), "steps": step, "mixed_case_forms": len(punctuator.forms),
                           "wall_seconds": round(time.time() - started, 1), "training": dataclasses.asdict(training)}
    if test_examples:
        punctuator.metadata["heldout"] = _rounded(evaluate(punctuator, test_examples))
    return punctuator


def _rounded(result: dict) -> dict:
    return {k: _rounded(v) if isinstance(v, dict) else round(v, 4) if isinstance(v, float) else v
            for k, v in result.items()}


def bundle(source, punctuator: Punctuator, out) -> None:
    """Write checkpoint ``source`` to ``out`` with ``punctuator`` as its ``"punctuation"`` section;
    every other section is copied unchanged."""
    from asr.model.checkpoint import read_checkpoint, save_atomic

    checkpoint = read_checkpoint(source)
    checkpoint["punctuation"] = punctuator.to_dict()
    save_atomic(checkpoint, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asr.training.punctuator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", type=Path, nargs="+", required=True,
                        help="punctuated text, one document per line")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint to add the punctuator to (default: the bundled one)")
    parser.add_argument("--out", type=Path, required=True, help="where the checkpoint with the punctuator is written")
    parser.add_argument("--epochs", type=int, default=PunctuationTrainingConfig.epochs,
                        help="passes over the text (default: %(default)s)")
    parser.add_argument("--hidden", type=int, default=PunctuatorConfig.hidden,
                        help="GRU units per direction (default: %(default)s)")
    parser.add_argument("--buckets", type=int, default=PunctuatorConfig.buckets,
                        help="rows of the hashed word embedding (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=PunctuationTrainingConfig.threads,
                        help="torch CPU threads (default: %(default)s)")
    args = parser.parse_args(argv)
    from asr.model.checkpoint import CheckpointError, _first_line, default_checkpoint, read_checkpoint

    for name in ("epochs", "hidden", "buckets", "threads"):
        if getattr(args, name) < 1:
            print(f"train_punctuation: --{name} must be at least 1, got {getattr(args, name)}", file=sys.stderr)
            return 2
    existing = next(p for p in (args.out.absolute().parent, *args.out.absolute().parents) if p.exists())
    if not os.access(existing, os.W_OK):
        print(f"train_punctuation: --out {args.out}: {existing} is not writable", file=sys.stderr)
        return 2  # found now, not after training
    try:
        source = args.checkpoint or default_checkpoint()
        read_checkpoint(source)  # fails now, not after training
        train, heldout = split_documents(read_documents(args.text))
        punctuator = train_punctuator(
            train, heldout, PunctuatorConfig(buckets=args.buckets, hidden=args.hidden),
            PunctuationTrainingConfig(epochs=args.epochs, threads=args.threads))
        punctuator.metadata["texts"] = [str(p) for p in args.text]
        bundle(source, punctuator, args.out)
    except (CheckpointError, ValueError, OSError) as error:
        print(f"train_punctuation: {_first_line(error)}", file=sys.stderr)
        return 2
    size = sum(v.numel() * v.element_size() for v in punctuator.to_dict()["state_dict"].values())
    print(f"punctuator: {size / 1e6:.2f} MB of fp16 weights; checkpoint with punctuation: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
