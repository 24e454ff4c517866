"""Accuracy on people, held-out voices and long-form audio: ours beside Whisper tiny.en and pocketsphinx.

Usage:
    python bench/human.py                                        # every set, presets fast live accurate, both peers
    python bench/human.py --sets asterisk-dev test_natural longform --presets live   # the mixed dev criterion
    python bench/human.py --split dev --presets fast live --no-peers --checkpoint exp/x/packed.pt
    python bench/human.py --sets longform --limit 5              # a quick look at five recordings
    python bench/human.py --sets test_natural longform --presets --peers whisper   # one peer alone
    python bench/human.py --sets longform --presets live --no-peers --max-segment-seconds 15
    python bench/human.py --sets asterisk-long --presets live accurate --no-peers   # one real speaker at length
    python bench/human.py --sets people asterisk-dev --presets accurate --no-peers --written

The sets (a set whose files are missing is named, with the command that makes it, and skipped):
- ``asterisk-dev``, ``asterisk-test``: the Asterisk prompts (``recipes/asterisk/prepare.py``), one
  professional speaker, telephone audio; the test half is never tuned or chosen on;
- ``alsa``: the eight channel names of Debian's alsa-utils ("front left"...), a wide-band microphone;
- ``people``: recordings of three people from Debian packages, single words and a sentence
  (``recipes/people/prepare.py``), scored by speaker too;
- ``test_natural``: the synth recipe's held-out Kokoro speakers (``recipes/synth/prepare.py``);
- ``longform``: those utterances joined into 20-60 s recordings with pauses and soft passages
  (``recipes/synth/longform.py``), decoded whole, as ``asr transcribe`` decodes a file;
- ``asterisk-long``: the Asterisk dev half joined the same way (``recipes/synth/longform.py
  --manifest data/asterisk/dev.jsonl --out data/asterisk``), one real speaker at length.

Every system hears the same 16 kHz samples; hypotheses and references both go through
:func:`asr.text.normalize_text` (digits read as words, punctuation dropped), so Whisper's "5" and
our "five" agree.  Our model goes through its public API, ``model.transcribe``, so long audio is
cut by whatever segmenter the library has; ours is scored on the speller's words (``raw_text``),
or with ``--written`` on the written form (numerals, capitals, punctuation) as a reader gets it.  RTF is wall-clock seconds of decoding per second of
audio, on one thread.  For each long-form set it also prints WER by the length of the segments our
model decoded (each reference word placed at its share of its clip's time span; words outside
every segment were never decoded), and the long-form WER over the WER of the same clips decoded
one by one.  The mixed dev criterion is printed when ``asterisk-dev``, ``test_natural`` and
``longform`` are all in the run (see :func:`mixed`).  Prints Markdown; asserts nothing.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

import peer
from asr.audio.io import SAMPLE_RATE, AudioError, load_audio
from asr.model.checkpoint import default_checkpoint, load_model
from asr.training.manifest import ManifestError, read_manifest
from asr.metrics import ErrorRate
from asr.audio.segment import MAX_SEGMENT_SECONDS
from asr.decoding.presets import PRESETS, describe, preset, usable
from asr.text import normalize_text

ALSA_DIR = Path("/usr/share/sounds/alsa")
SETS = ("asterisk-dev", "asterisk-test", "alsa", "people", "test_natural", "longform", "asterisk-long")
LONG_SETS = ("longform", "asterisk-long")  # recordings joined from clips, scored by segment length too
MIXED_SETS = ("asterisk-dev", "test_natural", "longform")
BUCKETS = ((0, 5), (5, 10), (10, 20), (20, 30))  # segment seconds; longer segments count in the last
DEFAULT_PRESETS = [p for p in ("fast", "live", "accurate") if p in PRESETS]
PEERS = ("whisper", "pocketsphinx")


def alsa_rows() -> list[dict]:
    """alsa-utils' spoken channel names; the file name is the transcript (Front_Left.wav: "front left")."""
    return [{"audio_filepath": str(p), "text": p.stem.replace("_", " ").lower()}
            for p in sorted(ALSA_DIR.glob("*_*.wav"))]


def set_rows(name: str, asterisk: Path, synth: Path, people: Path) -> list[dict]:
    """The rows of set ``name``; raises ManifestError with the command that makes a missing one."""
    if name == "alsa":
        if not ALSA_DIR.is_dir():
            raise ManifestError(f"{ALSA_DIR}: not found (Debian package alsa-utils)")
        return alsa_rows()
    path, command = {"asterisk-dev": (asterisk / "dev.jsonl", "python recipes/asterisk/prepare.py"),
                     "asterisk-test": (asterisk / "test.jsonl", "python recipes/asterisk/prepare.py"),
                     "people": (people / "dev.jsonl", "python recipes/people/prepare.py --out data/people"),
                     "test_natural": (synth / "test_natural.jsonl", "python recipes/synth/prepare.py"),
                     "longform": (synth / "longform.jsonl", "python recipes/synth/longform.py"),
                     "asterisk-long": (asterisk / "longform.jsonl", "python recipes/synth/longform.py --manifest "
                                       "data/asterisk/dev.jsonl --out data/asterisk")}[name]
    if not path.is_file():
        raise ManifestError(f"{path}: not found (made by {command})")
    return read_manifest(path)


def score(rows: list[dict], hypotheses: list[str]) -> dict:
    """WER, CER and exact matches, both sides normalised."""
    chars, words = ErrorRate(), ErrorRate()
    exact = 0
    for row, hypothesis in zip(rows, hypotheses):
        reference, hypothesis = normalize_text(row["text"]), normalize_text(hypothesis)
        chars.update(reference, hypothesis)
        words.update(reference.split(), hypothesis.split())
        exact += reference == hypothesis
    return {"cer": chars.rate, "wer": words.rate, "exact": exact, "utterances": len(rows)}


def mixed(scores: list[dict]) -> dict:
    """The mixed dev criterion: the unweighted mean of the sets' WERs (and CERs).

    Each kind of speech counts the same whatever its size: one telephone speaker (Asterisk dev,
    276 prompts), held-out synthetic voices in short clips (``test_natural``) and the same voices
    at length (``longform``).  Never computed with the Asterisk test half.
    """
    return {"wer": float(np.mean([s["wer"] for s in scores])), "cer": float(np.mean([s["cer"] for s in scores]))}


def bucket_of(seconds: float) -> int:
    return next((i for i, (_, end) in enumerate(BUCKETS) if seconds < end), len(BUCKETS) - 1)


def by_segment_length(row: dict, segments: list[tuple[float, float, str]], buckets: list[ErrorRate]) -> int:
    """Add one long-form recording's word errors to ``buckets`` (one per segment-length bucket) and
    return how many reference words lay outside every decoded segment.

    ``segments`` are (start, end, text), seconds.  A clip's reference words are spread evenly over
    its time span in ``row["parts"]``; each is scored in the segment it falls in.
    """
    references = [[] for _ in segments]
    outside = 0
    for part in row["parts"]:
        words = normalize_text(part["text"]).split()
        for k, word in enumerate(words):
            at = part["start"] + (k + 0.5) / len(words) * (part["end"] - part["start"])
            inside = [i for i, (start, end, _) in enumerate(segments) if start <= at < end]
            if inside:
                references[inside[0]].append(word)
            else:
                outside += 1
    for (start, end, text), reference in zip(segments, references):
        buckets[bucket_of(end - start)].update(reference, normalize_text(text).split())
    return outside


class Ours:
    """Our model with one preset, through model.transcribe, as asr transcribe decodes."""

    def __init__(self, model, name: str, written: bool = False, max_segment_seconds: float = MAX_SEGMENT_SECONDS):
        self.model, self.options, self.written = model, usable(preset(name), model), written
        self.max_segment_seconds = max_segment_seconds
        self.segments = None  # (start, end, text) of the last transcription's segments

    def transcribe(self, samples: np.ndarray) -> str:
        result = self.model.transcribe(samples, options=self.options, max_segment_seconds=self.max_segment_seconds)
        self.segments = [(offset, offset + s.duration, s.text) for offset, s in zip(result.offsets, result.segments)]
        return result.text if self.written else result.raw_text


def systems(model, presets: list[str], peers: list[str], **ours) -> list[tuple[str, str, object]]:
    """(system, decoding, factory) rows; a factory makes a recognizer with ``.transcribe(samples)``,
    or is None for a peer that is not installed.  ``ours``: :class:`Ours`' keyword arguments."""
    rows = [(f"ours, `{name}`", describe(name), lambda n=name: Ours(model, n, **ours)) for name in presets]
    if "whisper" in peers:
        rows.append(("Whisper tiny.en (faster-whisper)", f"int8, beam {peer.WHISPER_BEAM_SIZE}",
                     peer.WhisperTinyEn if peer.available("whisper") else None))
    if "pocketsphinx" in peers:
        installed = peer.available("pocketsphinx")
        rows.append(("pocketsphinx" + (f" {peer.version('pocketsphinx')}" if installed else ""),
                     "default US English models", peer.PocketSphinx if installed else None))
    return rows


def run_system(system: str, decoding: str, recognizer, sets: dict, audio: dict, results: dict,
               hypotheses: dict) -> list[str]:
    """Decode every set with one recognizer, print its rows of the main table and fill ``results``
    ((system, set) -> score) and ``hypotheses`` ((system, path) -> text); returns its rows of the
    long-form table, one per long-form set in the run."""
    recognizer.transcribe(np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE).astype(np.float32))  # lazy set-up
    said = {}  # path -> hypothesis, so the long-form clips decoded alone are not decoded twice
    buckets = {name: [ErrorRate() for _ in BUCKETS] for name in LONG_SETS}
    outside = dict.fromkeys(LONG_SETS, 0)
    for name, rows in sets.items():
        seconds = 0.0
        for row in rows:
            start = time.perf_counter()
            said[row["audio_filepath"]] = recognizer.transcribe(audio[row["audio_filepath"]])
            seconds += time.perf_counter() - start
            if name in LONG_SETS and isinstance(recognizer, Ours):
                outside[name] += by_segment_length(row, recognizer.segments, buckets[name])
        s = results[system, name] = score(rows, [said[r["audio_filepath"]] for r in rows])
        rtf = seconds / max(sum(audio[r["audio_filepath"]].size for r in rows) / SAMPLE_RATE, 1e-9)
        print(f"| {system} | {decoding} | {name} | {s['wer']:.1%} | {s['cer']:.1%} | "
              f"{s['exact']}/{s['utterances']} | {rtf:.3f} |", flush=True)
    hypotheses.update({(system, path): text for path, text in said.items()})
    long_rows = []
    for name in [n for n in LONG_SETS if n in sets]:
        parts = [p for row in sets[name] for p in row["parts"]]
        for part in parts:
            if part["audio_filepath"] not in said:
                said[part["audio_filepath"]] = recognizer.transcribe(load_audio(part["audio_filepath"]))
        short = score(parts, [said[p["audio_filepath"]] for p in parts])["wer"]
        long = results[system, name]["wer"]
        cells = [f"{b.rate:.1%} ({b.reference_length})" if b.reference_length else "" for b in buckets[name]]
        long_rows.append(f"| {system} | {name} | {long:.1%} | {short:.1%} | {long / max(short, 1e-9):.2f} | "
                         + " | ".join(cells) + f" | {outside[name] if isinstance(recognizer, Ours) else ''} |")
    return long_rows


def by_speaker(rows: list[dict], names: list[str], hypotheses: dict) -> None:
    """Print each system's WER per speaker of a set whose rows name their speaker."""
    speakers = sorted({row["speaker"] for row in rows})
    print("\n| system | " + " | ".join(speakers) + " |\n|---|" + "---|" * len(speakers))
    for system in names:
        cells = []
        for speaker in speakers:
            mine = [row for row in rows if row["speaker"] == speaker]
            s = score(mine, [hypotheses[system, row["audio_filepath"]] for row in mine])
            cells.append(f"{s['wer']:.1%} ({len(mine)})")
        print(f"| {system} | " + " | ".join(cells) + " |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS), help="default: all")
    parser.add_argument("--split", choices=("dev", "test"),
                        help="shorthand for --sets asterisk-SPLIT alsa (the people alone)")
    parser.add_argument("--asterisk", type=Path, default=Path("data/asterisk"), help="the Asterisk recipe's output")
    parser.add_argument("--synth", type=Path, default=Path("data/synth"), help="the synth recipe's output")
    parser.add_argument("--people", type=Path, default=Path("data/people"), help="the people recipe's output")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled one")
    parser.add_argument("--presets", nargs="*", default=DEFAULT_PRESETS, choices=list(PRESETS),
                        help="our model's presets; none for the peers alone (default: %(default)s)")
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=PEERS, help="default: both")
    parser.add_argument("--no-peers", action="store_true", help="only our model (as --peers with none)")
    parser.add_argument("--limit", type=int, default=None, help="the first N utterances or recordings of each set")
    parser.add_argument("--written", action="store_true",
                        help="score our written form (numerals, capitals, punctuation) instead of the speller's words")
    parser.add_argument("--max-segment-seconds", type=float, default=MAX_SEGMENT_SECONDS,
                        help="our longest segment of long audio (default: %(default)s, the library's)")
    args = parser.parse_args(argv)
    names = [f"asterisk-{args.split}", "alsa"] if args.split else args.sets
    peers = [] if args.no_peers else args.peers
    torch.set_num_threads(1)
    checkpoint = args.checkpoint or default_checkpoint()
    model = load_model(checkpoint)
    sets = {}
    for name in names:
        try:
            sets[name] = set_rows(name, args.asterisk, args.synth, args.people)[: args.limit]
        except ManifestError as error:
            print(f"- {name}: left out: {error}")
    audio = {}  # path -> samples, read once for every system
    for rows in sets.values():
        for row in rows:
            try:
                audio[row["audio_filepath"]] = load_audio(row["audio_filepath"])
            except AudioError as error:
                raise SystemExit(f"human.py: error: {error}") from None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    shown = checkpoint.resolve()
    shown = shown.relative_to(Path.cwd()) if shown.is_relative_to(Path.cwd()) else shown  # no home paths in reports
    print(f"Checkpoint `{shown}`; code at git `{commit or '?'}`; {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, 1 thread; ours scored on its {'written form' if args.written else 'words'}"
          + (f", segments of at most {args.max_segment_seconds:g} s." if args.max_segment_seconds != MAX_SEGMENT_SECONDS
             else "."))
    for name, rows in sets.items():
        minutes = sum(audio[r["audio_filepath"]].size for r in rows) / SAMPLE_RATE / 60
        print(f"- {name}: {len(rows)} {'recordings' if name in LONG_SETS else 'utterances'}, {minutes:.1f} minutes")
    print("\n| system | decoding | set | WER | CER | exact | RTF |\n|---|---|---|---|---|---|---|")
    results, hypotheses = {}, {}  # (system, set) -> score; (system, path) -> text
    long_rows = []  # the long-form table's rows
    ran = []
    ours = {"written": args.written, "max_segment_seconds": args.max_segment_seconds}
    for system, decoding, factory in systems(model, args.presets, peers, **ours):
        if factory is None:
            print(f"| {system} | not installed (make bench installs it) | | | | | |", flush=True)
            continue
        long_rows += run_system(system, decoding, factory(), sets, audio, results, hypotheses)
        ran.append(system)
    if "people" in sets:
        print("\nPeople, WER by speaker (recordings):")
        by_speaker(sets["people"], ran, hypotheses)
    if long_rows:
        print("\nLong-form: WER of the recordings, of their clips decoded one by one, and by the length of the "
              "segments ours decoded (WER and reference words):\n")
        print("| system | set | long-form WER | clips alone | long / short | "
              + " | ".join(f"{a}-{b} s" for a, b in BUCKETS) + " | words outside every segment |")
        print("|---" * (6 + len(BUCKETS)) + "|")
        print("\n".join(long_rows))
    criterion = [(system, mixed([results[system, n] for n in MIXED_SETS]))
                 for system in ran if all((system, n) in results for n in MIXED_SETS)]
    if criterion:
        print(f"\nMixed dev criterion: the unweighted mean over {', '.join(MIXED_SETS)} (each set counts the same):\n")
        print("| system | mean WER | mean CER |\n|---|---|---|")
        for system, m in criterion:
            print(f"| {system} | {m['wer']:.1%} | {m['cer']:.1%} |")


if __name__ == "__main__":
    main()
