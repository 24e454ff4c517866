"""How long the commands take to answer: --help, an error, the first transcription, the demo's first page.

Usage:
    python bench/startup.py                 # median of 5 runs each (the demo: 3)
    python bench/startup.py --repeats 10

Each figure is wall time of a fresh process, as a user waits for it.  The demo is timed
from its start to the first successful GET of its page.  Prints a Markdown table and
asserts nothing.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
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
        repeats = max(1, args.repeats if "demo" not in name else min(args.repeats, 3))
        times = [run() for _ in range(repeats)]
        print(f"| {name} | {statistics.median(times):.2f} | {repeats} |", flush=True)


if __name__ == "__main__":
    main()
