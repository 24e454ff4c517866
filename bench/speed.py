"""Speed, memory and start-up of the commands on this machine: real-time factors, peak RSS, waits.

Usage:
    python bench/speed.py                      # bundled checkpoint, 1-hour file included, then start-up
    python bench/speed.py --long-minutes 10    # a shorter long file
    python bench/speed.py --checkpoint exp/x/best.pt --long-minutes 0 --no-startup
    python bench/speed.py --threads 0          # torch's default thread count, to compare
    python bench/speed.py --startup-only       # how long the commands take to answer

Speech is made by espeak-ng (sentences with pauses).  The real-time factor
(RTF) is seconds of compute per second of audio: wall clock, and CPU time of
all threads (so on 2 cores the CPU RTF can be up to twice the wall RTF).
Each configuration is timed end to end through
:func:`asr.decoding.transcribe.transcribe_many` (reading, segmenting, decoding), after
one warm-up input, fastest of ``--repeats`` runs.  The long file runs in a child process, so its peak RSS
is that of transcribing it alone.

Start-up is the wall time of a fresh process, as a user waits for it, median of ``--repeats``
runs (the demo: at most 3): ``--help``, a one-line error, the first transcription, and the demo
from its start to the first successful GET of its page.  Nothing is asserted: it prints what it
measured.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

import asr
from asr.audio.io import SAMPLE_RATE
from asr.model.checkpoint import CHECKPOINT_DIR, DEFAULT_CHECKPOINT_NAME
from asr.cli.transcribe import DEFAULT_THREADS
from asr.decoding.search import DecodeOptions
from asr.decoding.transcribe import transcribe_many

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "please call stella and ask her to bring these things with her from the store",
    "she sells sea shells by the sea shore",
    "a large size in stockings is hard to sell",
    "we will meet at the station at half past nine tomorrow morning",
    "the birch canoe slid on the smooth planks",
    "glue the sheet to the dark blue background",
    "it is easy to tell the depth of a well",
    "these days a chicken leg is a rare dish",
    "rice is often served in round bowls",
    "the juice of lemons makes fine punch",
    "the box was thrown beside the parked truck",
    "four hours of steady work faced us",
    "a pot of tea helps to pass the evening",
    "smoky fires lack flame and heat",
    "the soft cushion broke the man's fall",
]
PAUSE_SECONDS = 0.8  # between sentences in the long file
CONFIGS = [("greedy", DecodeOptions(beam_size=1)), ("beam 5", DecodeOptions(beam_size=5))]


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux)."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak resident memory of this process since it started its program, in MB (Linux).

    Not ``getrusage().ru_maxrss``: that survives ``exec``, so a child started by a big parent
    reports the parent's size as its own peak.
    """
    return _status_mb("VmHWM")


def synthesize(directory: Path, voices=("en-us", "en")) -> list[Path]:
    """One espeak-ng clip per sentence and voice."""
    paths = []
    for v, voice in enumerate(voices):
        for i, sentence in enumerate(SENTENCES):
            path = directory / f"{v}_{i:02d}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), sentence], check=True, capture_output=True)
            paths.append(path)
    return paths


def write_long_file(path: Path, clips: list[Path], minutes: float) -> float:
    """Concatenate clips with pauses until ``minutes`` long, written block by block; returns seconds."""
    audio = [asr.load_audio(c) for c in clips]
    pause = np.zeros(int(PAUSE_SECONDS * SAMPLE_RATE), dtype=np.float32)
    written, i = 0, 0
    with sf.SoundFile(path, "w", SAMPLE_RATE, 1, subtype="PCM_16") as f:
        while written < minutes * 60 * SAMPLE_RATE:
            f.write(audio[i % len(audio)])
            f.write(pause)
            written += audio[i % len(audio)].size + pause.size
            i += 1
    return written / SAMPLE_RATE


def measure(model, paths: list[Path], options: DecodeOptions, batch_size: int, warm_up: bool = True,
            repeats: int = 1) -> dict:
    """Wall and CPU seconds to transcribe ``paths``, per second of their audio.

    With ``repeats`` > 1 the fastest run counts: other processes only ever add time, so
    the minimum is the best estimate of what transcription itself costs.
    """
    if warm_up:  # lazy initialisation and allocator caches, not paid per file in real use
        list(transcribe_many(model, paths[:1], options, batch_size))
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        results = [r for _, r in transcribe_many(model, paths, options, batch_size, keep_attention=False)]
        wall, cpu = min(wall, time.perf_counter() - wall_start), min(cpu, time.process_time() - cpu_start)
    failures = [r for r in results if isinstance(r, Exception)]
    if failures:
        raise SystemExit(f"benchmark input failed: {failures[0]}")
    audio = sum(r.duration for r in results)
    return {"audio_s": audio, "wall_s": wall, "cpu_s": cpu, "wall_rtf": wall / audio, "cpu_rtf": cpu / audio,
            "texts": [r.text for r in results]}


def long_file_child(path: str, checkpoint: str, batch_size: int) -> None:
    """Run in a fresh process: transcribe one long file greedily, print JSON with timings and peak RSS."""
    model = asr.load_model(checkpoint)
    noise = np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE).astype(np.float32)
    list(transcribe_many(model, [noise]))  # warm up on a second of noise, not on the long file itself
    after_load = rss_mb()
    result = measure(model, [Path(path)], DecodeOptions(beam_size=1), batch_size, warm_up=False)
    result.pop("texts")
    result["rss_after_load_mb"] = after_load
    result["peak_rss_mb"] = peak_rss_mb()  # not ru_maxrss, which would carry over the parent's size
    print(json.dumps(result))


ROOT = Path(__file__).resolve().parent.parent
ASR = [sys.executable, "-m", "asr"]
CLIP = str(ROOT / "examples" / "set_a_timer.wav")


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _demo_first_page() -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    process = subprocess.Popen([*ASR, "demo", "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("asr demo exited before serving its page") from None
                time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(timeout=30)


def startup(repeats: int) -> None:
    """Print the start-up table."""
    cases = {
        "`asr --help`": lambda: _timed([*ASR, "--help"]),
        "`asr transcribe --help`": lambda: _timed([*ASR, "transcribe", "--help"]),
        "`asr transcribe missing.wav` (its one-line error)": lambda: _timed([*ASR, "transcribe", "missing.wav"]),
        "`asr transcribe examples/set_a_timer.wav` (load, decode, print)": lambda: _timed([*ASR, "transcribe", CLIP]),
        "`asr demo` until its first page is served": _demo_first_page,
    }
    print("| command | median wall seconds | runs |")
    print("|---|---|---|")
    for name, run in cases.items():
        runs = max(1, repeats if "demo" not in name else min(repeats, 3))
        times = [run() for _ in range(runs)]
        print(f"| {name} | {statistics.median(times):.2f} | {runs} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(CHECKPOINT_DIR / DEFAULT_CHECKPOINT_NAME),
                        help="checkpoint to measure (default: the bundled one)")
    parser.add_argument("--batch-size", type=int, default=8, help="batch size of the batched runs (default: 8)")
    parser.add_argument("--long-minutes", type=float, default=60.0,
                        help="length of the long file whose peak memory is measured; 0 skips it (default: 60)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per configuration on the short files, the fastest counting, and per "
                             "start-up command, the median counting (default: 3)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help="torch CPU threads, as asr transcribe --threads; 0 is torch's default "
                             f"(default: {DEFAULT_THREADS})")
    parser.add_argument("--startup-only", action="store_true", help="only the start-up table")
    parser.add_argument("--no-startup", action="store_true", help="leave out the start-up table")
    parser.add_argument("--long-child", help=argparse.SUPPRESS)  # internal: measure this file in this process
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.long_child:
        long_file_child(args.long_child, args.checkpoint, args.batch_size)
        return
    if args.startup_only:
        startup(args.repeats)
        return

    model = asr.load_model(args.checkpoint)
    parameters = model.num_parameters()  # acoustic model; a bundled LM is not used by these greedy runs
    print(f"checkpoint: {args.checkpoint} ({parameters / 1e6:.2f} M parameters, "
          f"{model.config.attention} attention, {model.frame_seconds * 1000:.0f} ms encoder frames)")
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f} (other jobs slow these figures down)")
    with tempfile.TemporaryDirectory() as tmp:
        clips = synthesize(Path(tmp))
        audio = sum(sf.info(c).duration for c in clips)
        print(f"short files: {len(clips)} espeak-ng utterances, {audio:.1f} s of audio\n")
        print(f"{'decoding':<10}{'batch':>6}{'wall RTF':>10}{'CPU RTF':>10}{'wall s':>9}")
        for name, options in CONFIGS:
            for batch in (1, args.batch_size):
                m = measure(model, clips, options, batch, repeats=args.repeats)
                print(f"{name:<10}{batch:>6}{m['wall_rtf']:>10.4f}{m['cpu_rtf']:>10.4f}{m['wall_s']:>9.1f}",
                      flush=True)
        print(f"\nexample (greedy): {m['texts'][0]!r}")
        if args.long_minutes > 0:
            path = Path(tmp) / "long.wav"
            seconds = write_long_file(path, clips, args.long_minutes)
            print(f"\nlong file: {seconds / 60:.1f} min ({path.stat().st_size / 1e6:.0f} MB as 16-bit wav, "
                  f"{seconds * SAMPLE_RATE * 4 / 1e6:.0f} MB as float32), greedy, batch {args.batch_size}", flush=True)
            child = subprocess.run([sys.executable, __file__, "--long-child", str(path), "--checkpoint",
                                    args.checkpoint, "--batch-size", str(args.batch_size),
                                    "--threads", str(args.threads)],
                                   capture_output=True, text=True)
            if child.returncode != 0:
                raise SystemExit(f"long-file run failed:\n{child.stderr}")
            m = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"  wall RTF {m['wall_rtf']:.4f}, CPU RTF {m['cpu_rtf']:.4f} ({m['wall_s']:.0f} s)")
            print(f"  peak RSS {m['peak_rss_mb']:.0f} MB (after loading the model and one warm-up: "
                  f"{m['rss_after_load_mb']:.0f} MB)")
    if not args.no_startup:
        print()
        startup(args.repeats)


if __name__ == "__main__":
    main()
