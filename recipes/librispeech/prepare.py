"""JSONL manifests from a LibriSpeech directory you already have.

Usage:
    python recipes/librispeech/prepare.py --corpus /data/LibriSpeech --out data/librispeech
    python recipes/librispeech/prepare.py --corpus /data/LibriSpeech --out data/librispeech \\
        --subsets train-clean-100 dev-clean dev-other test-clean test-other
    python recipes/librispeech/prepare.py --corpus /data/LibriSpeech --out data/librispeech --stage 2

The corpus directory holds one folder per subset, laid out as LibriSpeech ships it:
``SUBSET/SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt`` next to ``SPEAKER-CHAPTER-NNNN.flac``.
By default every subset found there is prepared.

Stages (each skips work already done, so a killed run just restarts):
    1. transcripts  read every *.trans.txt, normalise the text -> OUT/transcripts/SUBSET.jsonl
    2. durations    read every flac header, in parallel -> OUT/durations/SUBSET.tsv (appended as it goes)
    3. manifests    OUT/SUBSET.jsonl: audio_filepath, duration, text, id, speaker, chapter, subset

LibriSpeech transcripts are upper case with apostrophes; they go through
``asr.text.normalize_text`` like every other transcript the model sees.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from asr.training.manifest import write_manifest  # noqa: E402
from asr.text import normalize_text  # noqa: E402

SUBSETS = ("train-clean-100", "train-clean-360", "train-other-500",
           "dev-clean", "dev-other", "test-clean", "test-other")
AUDIO_SUFFIX = ".flac"
DURATION_CHUNK = 64  # flac headers read per task: small tasks keep the progress bar moving


class CorpusError(ValueError):
    """A corpus directory that can't be prepared; the message is one line for the user."""


def find_corpus(path: Path) -> Path:
    """The directory holding the subsets: ``path`` itself or the ``LibriSpeech/`` folder inside it."""
    if not path.is_dir():
        raise CorpusError(f"{path}: no such directory")
    if not any((path / s).is_dir() for s in SUBSETS) and (path / "LibriSpeech").is_dir():
        return path / "LibriSpeech"
    return path


def choose_subsets(corpus: Path, requested: list[str] | None) -> list[str]:
    if requested:
        missing = [s for s in requested if not (corpus / s).is_dir()]
        if missing:
            raise CorpusError(f"{corpus}: no subset folder {', '.join(missing)}")
        return list(requested)
    found = [s for s in SUBSETS if (corpus / s).is_dir()]
    if not found:
        raise CorpusError(f"{corpus}: no LibriSpeech subsets in it (expected folders like {SUBSETS[0]})")
    return found


def read_transcripts(subset_dir: Path) -> list[dict]:
    """Every utterance of one subset, sorted by id, with its raw and normalised text."""
    rows = []
    for trans in sorted(subset_dir.glob("*/*/*.trans.txt")):
        for number, line in enumerate(trans.read_text().splitlines(), 1):
            if not line.strip():
                continue
            utt_id, _, raw = line.strip().partition(" ")
            parts = utt_id.split("-")
            if len(parts) != 3:
                raise CorpusError(f"{trans}:{number}: expected SPEAKER-CHAPTER-NNNN at the start of the line")
            rows.append({"id": utt_id, "audio_filepath": str((trans.parent / (utt_id + AUDIO_SUFFIX)).resolve()),
                         "text": normalize_text(raw), "speaker": parts[0], "chapter": parts[1]})
    return sorted(rows, key=lambda row: row["id"])


def stage_transcripts(corpus: Path, out: Path, subsets: list[str]) -> None:
    for subset in subsets:
        path = out / "transcripts" / f"{subset}.jsonl"
        if path.exists():
            print(f"stage 1 (transcripts/{subset}): done already")
            continue
        rows = read_transcripts(corpus / subset)
        if not rows:
            raise CorpusError(f"{corpus / subset}: no *.trans.txt files under SPEAKER/CHAPTER/")
        write_manifest(path, rows)
        print(f"stage 1 (transcripts/{subset}): {len(rows)} utterances, "
              f"{len({r['speaker'] for r in rows})} speakers")


def _transcripts(out: Path, subset: str) -> list[dict]:
    path = out / "transcripts" / f"{subset}.jsonl"
    if not path.exists():
        raise CorpusError(f"{path}: not there yet; run stage 1 first")
    return [json.loads(line) for line in path.read_text().splitlines()]


def _default_sigterm() -> None:
    """The pool stops its workers with SIGTERM; a handler inherited from the caller would hang it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _durations(paths: list[str]) -> list[tuple[str, float | None]]:
    """Seconds of audio in each file, from its header alone; None when the file is missing or unreadable."""
    out = []
    for path in paths:
        try:
            info = sf.info(path)
            out.append((path, info.frames / info.samplerate))
        except Exception:  # reported (and the utterance dropped) in stage 3
            out.append((path, None))
    return out


def _read_durations(path: Path) -> dict[str, float | None]:
    """The durations read so far, dropping a last line a kill cut short (its file is read again)."""
    if not path.exists():
        return {}
    data = path.read_bytes()
    complete = data.rfind(b"\n") + 1
    if complete != len(data):
        with open(path, "r+b") as f:
            f.truncate(complete)
    done = {}
    for line in data[:complete].decode().splitlines():
        audio_path, seconds = line.split("\t")
        done[audio_path] = None if seconds == "-" else float(seconds)
    return done


def stage_durations(out: Path, subsets: list[str], workers: int) -> None:
    for subset in subsets:
        rows = _transcripts(out, subset)
        tsv = out / "durations" / f"{subset}.tsv"
        done = _read_durations(tsv)
        todo = [r["audio_filepath"] for r in rows if r["audio_filepath"] not in done]
        if not todo:
            print(f"stage 2 (durations/{subset}): done already")
            continue
        tsv.parent.mkdir(parents=True, exist_ok=True)
        chunks = [todo[i:i + DURATION_CHUNK] for i in range(0, len(todo), DURATION_CHUNK)]
        with Pool(workers, initializer=_default_sigterm) as pool, open(tsv, "a") as f, \
                tqdm(total=len(todo), desc=f"stage 2 (durations/{subset})", unit="file") as bar:
            for results in pool.imap_unordered(_durations, chunks):
                f.write("".join(f"{p}\t{'-' if d is None else f'{d:.4f}'}\n" for p, d in results))
                f.flush()
                bar.update(len(results))


def stage_manifests(out: Path, subsets: list[str]) -> None:
    for subset in subsets:
        path = out / f"{subset}.jsonl"
        if path.exists():
            print(f"stage 3 (manifests/{subset}): done already")
            continue
        tsv = out / "durations" / f"{subset}.tsv"
        if not tsv.exists():
            raise CorpusError(f"{tsv}: not there yet; run stage 2 first")
        durations = _read_durations(tsv)
        rows, dropped = [], []
        for row in _transcripts(out, subset):
            duration = durations.get(row["audio_filepath"])
            if duration is None:
                dropped.append(row["id"])
                continue
            # The order the training code and people expect: path, duration, text first.
            rows.append({"audio_filepath": row["audio_filepath"], "duration": round(duration, 3),
                         "text": row["text"], "id": row["id"], "speaker": row["speaker"],
                         "chapter": row["chapter"], "subset": subset})
        write_manifest(path, rows)
        hours = sum(r["duration"] for r in rows) / 3600
        print(f"stage 3 (manifests/{subset}): {len(rows)} utterances, {hours:.2f} h -> {path}"
              + (f"; dropped {len(dropped)} with missing or unreadable audio (e.g. {dropped[0]})" if dropped else ""))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True,
                        help="LibriSpeech directory holding the subset folders (or its parent)")
    parser.add_argument("--out", type=Path, default=Path("data/librispeech"), help="where manifests go")
    parser.add_argument("--subsets", nargs="+", choices=SUBSETS, default=None, metavar="SUBSET",
                        help=f"subsets to prepare, of {', '.join(SUBSETS)} (default: every one found in --corpus)")
    parser.add_argument("--stage", type=int, default=1, help="first stage to run")
    parser.add_argument("--stop-stage", type=int, default=3, help="last stage to run")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="parallel duration readers")
    args = parser.parse_args(argv)
    started = time.time()
    try:
        corpus = find_corpus(args.corpus)
        subsets = choose_subsets(corpus, args.subsets)
        args.out.mkdir(parents=True, exist_ok=True)
        stages = {1: lambda: stage_transcripts(corpus, args.out, subsets),
                  2: lambda: stage_durations(args.out, subsets, args.workers),
                  3: lambda: stage_manifests(args.out, subsets)}
        for number in range(args.stage, args.stop_stage + 1):
            stages[number]()
    except (CorpusError, OSError) as error:
        print(f"prepare.py: error: {error}", file=sys.stderr)
        return 1
    print(f"done in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
