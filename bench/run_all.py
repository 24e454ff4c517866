"""The synthetic held-out-voice suite in one run, our model next to pocketsphinx, written to bench/SYNTHETIC.md.

Usage:
    bash bench/run.sh                  # installs bench/requirements.txt, runs everything (~20 min on 2 cores)
    bash bench/run.sh --quick          # smoke run (~3 min): 20 utterances, 10 s and 60 s files, 3 training steps
    python bench/run_all.py --no-peer  # our model only, when pocketsphinx is not installed
    python bench/run_all.py --report-from bench/results/20261126T130000Z.json   # re-render a saved run

What it measures, each decoding configuration in a fresh process
(bench/measure.py), so that every peak memory figure is that configuration's alone:

1. Held-out-voice test set: a fixed subset of ``--manifest`` (``--utterances``
   drawn with seed 0).  Our model greedy and beam 5 at batch 1 and batch
   ``--batch-size``, beam 5 with joint CTC (and with the checkpoint's language model, when it
   has one, then also with test-time VTLN, and both of those with its lexicon when it has one)
   at batch 1; pocketsphinx, which
   decodes one file after another.  WER and CER after :func:`asr.text.normalize_text` on both
   hypotheses and references; wall and CPU real-time factors; peak RSS.
2. Human speech, the only recordings of people this offline machine has: a
   fixed subset of the Asterisk recipe's test prompts (``--human-manifest``,
   telephone audio of one speaker; run recipes/asterisk/prepare.py first) and
   the eight channel names ("front left", ...) that Debian's alsa-utils ships
   for speaker-test (``--human-speech``, a wide-band microphone).  Accuracy
   only, at batch 1; a source that is missing is left out and the report says so.
3. Scaling: files of ``--scaling`` seconds made by concatenating the subset's
   clips with pauses, greedy at batch ``--batch-size`` and pocketsphinx.
4. Training throughput: bench/train_speed.py on ``--train-config``.

Ratios against pocketsphinx come from this run only.  The raw numbers go to
``bench/results/<UTC time>.json``, the tables to ``--output``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import soundfile as sf
import torch

import peer
import report
from transcribe_speed import write_long_file

from asr.checkpoint import CHECKPOINT_DIR, DEFAULT_CHECKPOINT_NAME, load_model
from asr.commands.transcribe import DEFAULT_BATCH_SIZE, DEFAULT_THREADS
from asr.manifest import read_manifest, write_manifest
from asr.metrics import ErrorRate
from asr.text import normalize_text

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SUBSET_SEED = 0


class Decoding(NamedTuple):
    """One of our model's decoding configurations, as ``asr transcribe`` flags."""

    name: str
    beam_size: int = 1
    ctc_weight: float = 0.0
    lm_weight: float = 0.0
    oov_penalty: float = 0.0
    vtln: bool = False
    batched: bool = False  # also timed at --batch-size


# Joint CTC, the language model, the lexicon and VTLN are there for their accuracy; their batched
# timings would add minutes and tell little beyond beam 5's.  Rows that need an LM or a lexicon run
# only for a checkpoint that has one.
_FUSED = "beam 5 + CTC 0.3 + LM 0.3"
DECODINGS = (Decoding("greedy", batched=True), Decoding("beam 5", 5, batched=True),
             Decoding("beam 5 + CTC 0.3", 5, 0.3), Decoding(_FUSED, 5, 0.3, 0.3),
             Decoding(f"{_FUSED} + VTLN", 5, 0.3, 0.3, vtln=True),
             Decoding(f"{_FUSED} + lexicon 2", 5, 0.3, 0.3, 2.0),
             Decoding(f"{_FUSED} + lexicon 2 + VTLN", 5, 0.3, 0.3, 2.0, vtln=True))
# Accuracy only, batch 1: the speed figures come from the test set above.
HUMAN_DECODINGS = tuple(d for d in DECODINGS if d.name != "beam 5")
HUMAN_SPEECH_DIR = Path("/usr/share/sounds/alsa")  # Debian's alsa-utils, installed by make system
ALSA_VOICE = "human (alsa-utils)"
FULL = {"utterances": 200, "human_utterances": 100, "scaling": "10,60,600", "train_steps": 30, "train_warmup_steps": 3}
QUICK = {"utterances": 20, "human_utterances": 10, "scaling": "10,60", "train_steps": 3, "train_warmup_steps": 1}


def shown(path: Path) -> str:
    """A path as the report shows it: relative to the repository when inside it."""
    path = path.resolve()
    return str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


def run_json(command: list[str], what: str) -> dict:
    """Run a bench script in a fresh process; its last stdout line is a JSON object."""
    started = time.perf_counter()
    print(f"  {what} ...", end="", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, *command], capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"\n{what} failed:\n{done.stderr[-3000:]}")
    print(f" {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(system: str, inputs: Path, warm_up: Path, args, label: str, batch_size: int = 1,
            decoding: Decoding = Decoding("greedy")) -> dict:
    """bench/measure.py in a fresh process: ``system`` ("las" or "pocketsphinx") on a manifest or audio file."""
    command = [str(BENCH / "measure.py"), system, "--inputs", str(inputs), "--warm-up", str(warm_up)]
    if system == "las":
        command += ["--checkpoint", str(args.checkpoint), "--batch-size", str(batch_size), "--beam-size",
                    str(decoding.beam_size), "--ctc-weight", str(decoding.ctc_weight), "--lm-weight",
                    str(decoding.lm_weight), "--oov-penalty", str(decoding.oov_penalty),
                    "--threads", str(args.threads)] + (["--vtln"] if decoding.vtln else [])
    return run_json(command, label)


def runnable(decoding: Decoding, checkpoint: dict) -> bool:
    """Whether the checkpoint (as :func:`checkpoint_info` describes it) has what ``decoding`` uses."""
    return not ((decoding.lm_weight and not checkpoint["language_model_parameters"])
                or (decoding.oov_penalty and not checkpoint.get("lexicon_words")))


def score(rows: list[dict], texts: list[str]) -> dict:
    """Corpus WER and CER, overall, per voice and per kind of text, with normalize_text on both sides."""
    totals, groups = (ErrorRate(), ErrorRate()), {"voice": {}, "text_source": {}}
    for row, text in zip(rows, texts, strict=True):
        reference, hypothesis = normalize_text(str(row["text"])), normalize_text(text)
        rates = [totals] + [by.setdefault(str(row.get(field, "?")), (ErrorRate(), ErrorRate()))
                            for field, by in groups.items()]
        for words, chars in rates:
            words.update(reference.split(), hypothesis.split())
            chars.update(reference, hypothesis)
    return {"wer": totals[0].rate, "cer": totals[1].rate,
            **{f"by_{field}": {v: {"wer": w.rate, "cer": c.rate, "words": w.reference_length}
                               for v, (w, c) in sorted(by.items())}
               for field, by in groups.items()}}


def test_set_runs(rows: list[dict], subset: Path, warm_up: Path, args, checkpoint: dict) -> list[dict]:
    runs = []
    for decoding in DECODINGS:
        if not runnable(decoding, checkpoint):
            continue
        for batch in (1, args.batch_size) if decoding.batched else (1,):
            m = measure("las", subset, warm_up, args, f"ours, {decoding.name}, batch {batch}", batch, decoding)
            runs.append({"system": "ours", "decoding": decoding.name, **m, **score(rows, m["texts"])})
    if args.peer:
        m = measure("pocketsphinx", subset, warm_up, args, "pocketsphinx")
        runs.append({"system": "pocketsphinx", "decoding": "default", **m, **score(rows, m["texts"])})
    return runs


def fixed_subset(rows: list[dict], count: int) -> list[dict]:
    """``count`` rows drawn with :data:`SUBSET_SEED`, in manifest order: the same ones on every run."""
    picks = sorted(random.Random(SUBSET_SEED).sample(range(len(rows)), min(count, len(rows))))
    return [rows[i] for i in picks]


def human_speech_rows(directory: Path) -> list[dict]:
    """A manifest of alsa-utils' spoken channel names; the file name is the transcript."""
    rows = []
    for path in sorted(directory.glob("*_*.wav")):  # Front_Left.wav, ...; not Noise.wav
        rows.append({"id": path.stem, "audio_filepath": str(path), "duration": sf.info(path).duration,
                     "text": path.stem.replace("_", " ").lower(), "voice": ALSA_VOICE})
    return rows


def human_speech_set(args) -> tuple[list[dict], dict]:
    """The human-speech rows to decode (a fixed subset of --human-manifest, then the alsa clips) and what they are."""
    rows, sources = [], {}
    if args.human_manifest.is_file():
        prompts = read_manifest(args.human_manifest)
        picked = fixed_subset(prompts, args.human_utterances)
        rows += picked
        sources["manifest"] = {"path": shown(args.human_manifest), "utterances": len(picked), "of": len(prompts),
                               "seed": SUBSET_SEED}
    else:
        sources["manifest"] = {"path": shown(args.human_manifest), "missing": True}
    clips = human_speech_rows(args.human_speech) if args.human_speech.is_dir() else []
    rows += clips
    sources["clips"] = ({"path": str(args.human_speech), "utterances": len(clips), "voice": ALSA_VOICE}
                        | ({} if clips else {"missing": True}))
    return rows, sources


def human_speech_runs(rows: list[dict], work: Path, args, checkpoint: dict) -> list[dict]:
    manifest = work / "human_speech.jsonl"
    write_manifest(manifest, rows)
    warm_up = Path(rows[0]["audio_filepath"])
    runs = []
    for decoding in HUMAN_DECODINGS:
        if not runnable(decoding, checkpoint):
            continue
        m = measure("las", manifest, warm_up, args, f"ours, {decoding.name}, human speech", 1, decoding)
        runs.append({"system": "ours", "decoding": decoding.name, "texts": m["texts"], **score(rows, m["texts"])})
    if args.peer:
        m = measure("pocketsphinx", manifest, warm_up, args, "pocketsphinx, human speech")
        runs.append({"system": "pocketsphinx", "decoding": "default", "texts": m["texts"], **score(rows, m["texts"])})
    return runs


def scaling_runs(clips: list[Path], work: Path, warm_up: Path, args) -> list[dict]:
    runs = []
    for seconds in [float(s) for s in args.scaling.split(",")]:
        path = work / f"long_{seconds:g}s.wav"
        write_long_file(path, clips, seconds / 60)
        m = measure("las", path, warm_up, args, f"ours, greedy, batch {args.batch_size}, {seconds:g} s file",
                    args.batch_size)
        runs.append({"system": "ours", "decoding": "greedy", "target_s": seconds, **m})
        if args.peer:
            m = measure("pocketsphinx", path, warm_up, args, f"pocketsphinx, {seconds:g} s file")
            runs.append({"system": "pocketsphinx", "decoding": "default", "target_s": seconds, **m})
    for run in runs:
        run.pop("texts")
    return runs


def training_runs(args) -> list[dict]:
    command = [str(BENCH / "train_speed.py"), "--config", str(args.train_config), "--steps", str(args.train_steps),
               "--warmup-steps", str(args.train_warmup_steps), *args.train_override]
    runs = [run_json(command + ["train.device=cpu"], f"training {args.train_steps} steps on CPU")]
    if torch.cuda.is_available():
        runs.append(run_json(command + ["train.device=cuda"], f"training {args.train_steps} steps on GPU"))
    return [run | {"config": shown(args.train_config)} for run in runs]


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    git = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=REPO)
    return {"cpu": model, "cpus": len(os.sched_getaffinity(0)), "memory_gib": round(memory_kb / 2**20, 1),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "git": git.stdout.strip() or "unknown", "load_average_start": os.getloadavg()[0]}


def checkpoint_info(path: Path) -> dict:
    model = load_model(path)
    metadata = model.metadata
    return {"path": shown(path), "megabytes": round(path.stat().st_size / 1e6, 1),
            "parameters": model.num_parameters(),
            "language_model_parameters": model.num_parameters(language_model=True) - model.num_parameters(),
            "lexicon_words": len(model.lexicon) if model.lexicon is not None else 0,
            "step": metadata.get("step"),
            "train_hours": metadata.get("train_hours"), "dev_cer": metadata.get("dev_cer"),
            "dev_wer": metadata.get("dev_wer")}


def run(args) -> dict:
    started = datetime.datetime.now(datetime.timezone.utc)
    entry = os.environ.get("BENCH_ENTRY", "python bench/run_all.py")  # bench/run.sh says it started us
    results = {"date": started.strftime("%Y-%m-%d %H:%M UTC"), "stamp": started.strftime("%Y%m%dT%H%M%SZ"),
               "command": " ".join([entry, *map(shlex.quote, args.argv)]), "machine": machine(),
               "checkpoint": checkpoint_info(args.checkpoint), "peer": peer.version() if args.peer else None,
               "threads": args.threads, "batch_size": args.batch_size}
    all_rows = read_manifest(args.manifest)
    rows = fixed_subset(all_rows, args.utterances)
    results["test_set"] = {
        "manifest": shown(args.manifest), "utterances": len(rows), "of": len(all_rows),
        "audio_s": sum(sf.info(r["audio_filepath"]).duration for r in rows), "seed": SUBSET_SEED,
        "voices": sorted({str(r.get("voice", "?")) for r in rows}), "ids": [r.get("id") for r in rows]}
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        work = Path(tmp)
        subset = work / "subset.jsonl"
        write_manifest(subset, rows)
        clips = [Path(r["audio_filepath"]) for r in rows]
        print(f"test set: {len(rows)} utterances of {args.manifest}", file=sys.stderr)
        results["test_runs"] = test_set_runs(rows, subset, clips[0], args, results["checkpoint"])
        human, sources = human_speech_set(args)
        results["human_speech"] = {"sources": sources, "ids": [r["id"] for r in human],
                                   "references": [normalize_text(str(r["text"])) for r in human],
                                   "voices": [str(r.get("voice", "?")) for r in human],
                                   "audio_s": sum(float(r["duration"]) for r in human), "runs": []}
        print(f"human speech: {len(human)} utterances", file=sys.stderr)
        if human:
            results["human_speech"]["runs"] = human_speech_runs(human, work, args, results["checkpoint"])
        print(f"scaling: {args.scaling} s", file=sys.stderr)
        results["scaling_runs"] = scaling_runs(clips, work, clips[0], args)
    print("training throughput", file=sys.stderr)
    results["training_runs"] = training_runs(args) if args.train_steps > 0 else []
    results["machine"]["load_average_end"] = os.getloadavg()[0]
    results["minutes"] = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds() / 60
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK['utterances']} utterances, {QUICK['scaling']} s files, "
                             f"{QUICK['train_steps']} training steps; writes bench/results/SYNTHETIC.quick.md "
                             "unless --output is given")
    parser.add_argument("--manifest", type=Path, default=REPO / "data" / "synth" / "test.jsonl",
                        help="test manifest (default: data/synth/test.jsonl, the held-out voices)")
    parser.add_argument("--utterances", type=int, default=None,
                        help=f"size of the fixed subset of the manifest (default: {FULL['utterances']})")
    parser.add_argument("--checkpoint", type=Path, default=CHECKPOINT_DIR / DEFAULT_CHECKPOINT_NAME,
                        help="our model (default: the bundled checkpoint)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help=f"batch size of the batched rows (default: {DEFAULT_BATCH_SIZE}, as asr transcribe)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"torch threads for our decoding (default: {DEFAULT_THREADS}, as asr transcribe)")
    parser.add_argument("--human-manifest", type=Path, default=REPO / "data" / "asterisk" / "test.jsonl",
                        help="recordings of people (default: data/asterisk/test.jsonl, from "
                             "recipes/asterisk/prepare.py; left out when missing)")
    parser.add_argument("--human-utterances", type=int, default=None,
                        help=f"size of its fixed subset (default: {FULL['human_utterances']})")
    parser.add_argument("--human-speech", type=Path, default=HUMAN_SPEECH_DIR,
                        help=f"alsa-utils' spoken channel names (default: {HUMAN_SPEECH_DIR}; left out when missing)")
    parser.add_argument("--scaling", default=None,
                        help=f"lengths in seconds of the scaling files (default: {FULL['scaling']})")
    parser.add_argument("--train-config", type=Path, default=REPO / "recipes" / "synth" / "small.yaml",
                        help="config whose training throughput is measured (default: recipes/synth/small.yaml)")
    parser.add_argument("--train-steps", type=int, default=None,
                        help=f"timed training steps; 0 skips training (default: {FULL['train_steps']})")
    parser.add_argument("--train-warmup-steps", type=int, default=None,
                        help=f"untimed training steps first (default: {FULL['train_warmup_steps']})")
    parser.add_argument("--train-override", action="append", default=[], metavar="KEY=VALUE",
                        help="training config override, as for asr train (repeatable)")
    parser.add_argument("--no-peer", dest="peer", action="store_false",
                        help="skip pocketsphinx (its rows then say so)")
    parser.add_argument("--output", type=Path, default=None, help="markdown file to write (default: bench/SYNTHETIC.md)")
    parser.add_argument("--results-dir", type=Path, default=BENCH / "results",
                        help="where the raw JSON of the run goes (default: bench/results)")
    parser.add_argument("--report-from", type=Path, default=None, metavar="JSON",
                        help="write the markdown from a saved results file instead of measuring")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.output is None:
        args.output = BENCH / "results" / "SYNTHETIC.quick.md" if args.quick else BENCH / "SYNTHETIC.md"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.report_from:
        results = json.loads(args.report_from.read_text())
    else:
        if args.peer and not peer.available():
            raise SystemExit(f"pocketsphinx is not installed: {peer.INSTALL_HINT}, or pass --no-peer")
        if not args.checkpoint.is_file():
            raise SystemExit(f"{args.checkpoint}: no such checkpoint")
        results = run(args)
        args.results_dir.mkdir(parents=True, exist_ok=True)
        saved = args.results_dir / f"{results['stamp']}{'_quick' if args.quick else ''}.json"
        saved.write_text(json.dumps(results, indent=1) + "\n")
        print(f"raw results: {saved}", file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report.render(results))
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
