"""Punctuated training text for the punctuator (asr.training.punctuator): one document per line.

Usage:
    python recipes/synth/punctuation_text.py --out data/punctuation/documents.txt

The documents are
- the fortune cookies of Debian's ``fortunes`` (the files and word filter of prepare.py), each
  as written, without its attribution line and without cookies that are mostly symbols (code,
  ASCII art) or written in capitals throughout;
- short dialogues of the conversation lines and voice commands of phrases.py, punctuated here:
  they are written in lower case without marks for the speech corpus, so this script gives
  them a capital, a comma after an opening greeting or answer ("Hello, Anna."), and a question
  mark where they ask.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import phrases  # noqa: E402
from prepare import BLOCKLIST, FORTUNE_DIR, SKIP_FORTUNE_FILES  # noqa: E402
from asr.files import write_atomic  # noqa: E402
from asr.text import normalize_text  # noqa: E402

DIALOGUES = 4000  # documents of conversation lines and commands
QUESTION_STARTS = ("what", "what's", "where", "how", "how's", "can", "is", "who", "when", "why", "do", "are")
OPENINGS = ("hello", "hi", "hey", "yes", "no", "okay", "sorry", "thanks", "thank you", "good morning",
            "good afternoon", "good evening", "good night", "excuse me", "all right", "testing")
NAME_AFTER = ("you", "morning", "afternoon", "evening", "night")  # "Nice to meet you, Anna."


def fortune_documents() -> list[str]:
    documents = set()
    for path in sorted(FORTUNE_DIR.iterdir()):
        if path.suffix or path.name in SKIP_FORTUNE_FILES or not path.is_file():
            continue
        for cookie in path.read_text(errors="ignore").split("\n%\n"):
            lines = [ln.strip() for ln in cookie.splitlines()
                     if ln.strip() and not ln.strip().startswith(("--", "-- "))]
            body = " ".join(lines)
            letters = [c for c in body if c.isalpha()]
            if not letters or sum(c.isalpha() or c.isspace() for c in body) < 0.85 * len(body):
                continue  # code, ASCII art, tables
            if sum(c.isupper() for c in letters) > 0.5 * len(letters):
                continue  # shouted throughout: says nothing about where capitals go
            if BLOCKLIST & set(normalize_text(body).split()):
                continue
            documents.add(body)
    return sorted(documents)


def punctuate_line(line: str) -> str:
    """A conversation line or command as a person would write it."""
    words = line.split()
    asks = words[0] in QUESTION_STARTS
    for opening in OPENINGS:
        rest = line[len(opening):].strip()
        if line.startswith(opening + " ") and not rest.startswith(("that's", "world", "there", "very", "a lot")):
            line = opening + ", " + rest
            asks = rest.split()[0] in QUESTION_STARTS
            break
    line = line.replace("testing, testing ", "testing, testing, ", 1).replace(" thank you", ", thank you")
    if len(words) > 2 and words[-1] in phrases.NAMES and words[-2] in NAME_AFTER:
        line = line[:-len(words[-1]) - 1] + ", " + words[-1]
    return line[0].upper() + line[1:] + ("?" if asks else ".")


def dialogue_documents(count: int, seed: int = 0) -> list[str]:
    """Documents of one to four conversation lines or commands each."""
    rng = random.Random(f"{seed}/punctuation")
    makers = (phrases._conversation, phrases._command)
    documents = []
    for _ in range(count):
        lines, wanted = [], rng.randint(1, 4)
        while len(lines) < wanted:
            line = rng.choice(makers)(rng)
            if line.split()[-1] not in ("the", "my"):  # phrases.PEOPLE splits "the office" into two
                lines.append(punctuate_line(line))
        documents.append(" ".join(lines))
    return documents


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the text file to write")
    parser.add_argument("--seed", type=int, default=0, help="of the dialogues (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.out.exists():
        print(f"{args.out} exists already")
        return
    fortunes = fortune_documents()
    dialogues = dialogue_documents(DIALOGUES, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out, "".join(re.sub(r"\s+", " ", d) + "\n" for d in fortunes + dialogues))
    print(f"{args.out}: {len(fortunes)} fortune cookies, {len(dialogues)} dialogues")


if __name__ == "__main__":
    main()
