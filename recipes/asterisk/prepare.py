"""A test set of human speech from Debian: the Asterisk PBX's English voice prompts.

Usage:
    apt-get install asterisk-core-sounds-en-wav asterisk-core-sounds-en   # make setup does it
    python recipes/asterisk/prepare.py --out data/asterisk
    asr eval --manifest data/asterisk/test.jsonl     # report this one
    asr eval --manifest data/asterisk/dev.jsonl      # tune and choose on this one

Everything else this project trains and tests on is synthetic. These 500-odd prompts
("Please enter your password followed by the pound key.") were recorded by one
professional speaker, Allison Smith, and ship with their transcripts in
``core-sounds-en.txt``. They are telephone audio (8 kHz), so they test a human voice
and a narrow band at once. Use them only to test: never train on them, or they stop
measuring how well the model carries over to people. Choices (decoding weights, which
checkpoint to ship) are made on dev, so that test stays a measurement.

Writes OUT/dev.jsonl and OUT/test.jsonl (audio_filepath, duration, text, id, voice): each
prompt goes to one of them by a hash of its name, so the split never changes when
prompts are added or removed. The audio stays where Debian put it (CC BY-SA 3.0, see
the package's copyright file).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import re
import sys
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from asr.training.manifest import write_manifest  # noqa: E402
from asr.text import normalize_text  # noqa: E402

SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
VOICE = "human:allison (asterisk-core-sounds-en)"
# On a phone keypad "*" is read "star" and "#" "pound"; normalize_text alone would drop the
# star and read the hash as "number".
KEYPAD = {"*": " star ", "#": " pound "}
TYPOS = {"exclaimation": "exclamation"}  # the transcript's spelling, not the speaker's


class CorpusError(ValueError):
    """Prompts that can't be prepared; the message is one line for the user."""


def read_transcripts(path: Path) -> dict[str, str]:
    """``name: text`` lines (``digits/1: one``), comments (``;``) skipped; gzipped or plain."""
    if not path.is_file():
        raise CorpusError(f"{path}: not found; install asterisk-core-sounds-en (make setup does)")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as file:
            lines = file.read().splitlines()
    except (OSError, EOFError) as error:  # a truncated or mislabelled .gz, a permission problem
        raise CorpusError(f"{path}: can't read it ({getattr(error, 'strerror', None) or error})") from None
    prompts = {}
    for line in lines:
        name, colon, text = line.partition(":")
        if colon and name.strip() and not line.startswith(";"):
            prompts[name.strip()] = text.strip()
    return prompts


def spoken_text(raw: str) -> str:
    """The words a prompt says, normalised; empty for a tone or a silence.

    Brackets and parentheses hold notes, not speech: ``[beep]``, ``(1 second of silence)``,
    ``at [@]`` (the symbol the word names), ``IAX (note: does not say "2")``.
    """
    raw = re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", raw)
    for wrong, right in TYPOS.items():
        raw = raw.replace(wrong, right)
    for key, word in KEYPAD.items():
        raw = raw.replace(key, word)
    return normalize_text(raw)


def manifest_rows(sounds: Path, transcripts: Path) -> tuple[list[dict], dict[str, int]]:
    """Rows for every prompt with words and a readable wav, sorted by name, and what was skipped."""
    if not sounds.is_dir():
        raise CorpusError(f"{sounds}: no such directory; install asterisk-core-sounds-en-wav (make setup does)")
    rows, skipped = [], {"no words": 0, "no audio": 0}
    for name, raw in sorted(read_transcripts(transcripts).items()):
        text = spoken_text(raw)
        if not text:
            skipped["no words"] += 1
            continue
        path = sounds / f"{name}.wav"
        try:
            duration = sf.info(path).duration
        except Exception:  # a prompt listed but not shipped as wav, or a broken file
            skipped["no audio"] += 1
            continue
        rows.append({"id": name, "audio_filepath": str(path.resolve()), "duration": round(duration, 3),
                     "text": text, "voice": VOICE})
    if not rows:
        raise CorpusError(f"{sounds}: none of the prompts in {transcripts} has a wav file here")
    return rows, skipped


def split(rows: list[dict]) -> dict[str, list[dict]]:
    """Dev and test halves, each prompt placed by the first byte of its name's SHA-256."""
    halves = {"dev": [], "test": []}
    for row in rows:
        halves["test" if hashlib.sha256(row["id"].encode()).digest()[0] % 2 else "dev"].append(row)
    return halves


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data/asterisk"), help="where dev.jsonl and test.jsonl go")
    parser.add_argument("--sounds", type=Path, default=SOUNDS, help="folder of the English wav prompts")
    parser.add_argument("--transcripts", type=Path, default=TRANSCRIPTS, help="core-sounds-en.txt(.gz)")
    args = parser.parse_args(argv)
    try:
        rows, skipped = manifest_rows(args.sounds, args.transcripts)
        halves = split(rows)
        for name, half in halves.items():
            write_manifest(args.out / f"{name}.jsonl", half)
    except CorpusError as error:
        print(f"prepare.py: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"prepare.py: error: {args.out}: can't write the manifest ({error.strerror or error})", file=sys.stderr)
        return 1
    for name, half in halves.items():
        print(f"{args.out / name}.jsonl: {len(half)} prompts, {sum(r['duration'] for r in half) / 60:.1f} min of "
              f"audio, {sum(len(r['text'].split()) for r in half)} words")
    print(f"skipped {skipped['no words']} tones and silences, {skipped['no audio']} without a wav")
    return 0


if __name__ == "__main__":
    sys.exit(main())
