"""How soon the live demo shows words: from the end of a spoken word to its first appearance, and from
the end of an utterance to its final line, on an idle machine and with every core busy.

Usage:
    python bench/live_latency.py                  # idle, then with a busy loop on every core
    python bench/live_latency.py --hog 2 4        # idle, with two busy loops, with four
    python bench/live_latency.py --passes 3 --hog

Three phrases (espeak-ng, as in the browser test) with pauses between them are streamed in
real time, a quarter of a second at a time as the page posts them, into the demo's
:class:`asr.apps.live.LiveSession` decoding in child processes (:class:`asr.decoding.process.ProcessModel`,
as ``asr demo`` runs it).  A word's end is its end in the bundled model's alignment of the clean
phrase; it *appears* when a running transcript or the final line has it in its place (compared as
normalised words, without the punctuator's capitals and stops).  The page
itself adds up to its refresh interval (``asr.apps.demo.REFRESH_SECONDS``) to each figure.  Prints a
Markdown table with the one-minute load average at the end of each condition; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr.audio.io import SAMPLE_RATE, load_audio  # noqa: E402
from asr.model.checkpoint import default_checkpoint, load_model  # noqa: E402
from asr.decoding.process import ProcessModel  # noqa: E402
from asr.apps.live import LiveSession  # noqa: E402
from asr.apps.live_transport import CHUNK_SECONDS  # noqa: E402
from asr.decoding.presets import DEFAULT_PRESET, preset, usable  # noqa: E402
from asr.text import normalize_text  # noqa: E402

PHRASES = ["please call my mother", "turn off the radio", "what is the weather today"]
LEAD_SECONDS, PAUSE_SECONDS, TAIL_SECONDS = 1.5, 1.5, 2.0
DEMO_PROCESSES = 2  # asr demo's default --concurrency


def _phrases(folder: Path) -> list[np.ndarray]:
    clips = []
    for i, phrase in enumerate(PHRASES):
        path = folder / f"{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(path), phrase], check=True)
        clips.append(load_audio(path))
    return clips


def _stream(clips: list[np.ndarray], word_ends: list[list[float]]):
    """The audio of one pass, and per phrase (its end, [(word, end)...]) in seconds of the stream."""
    pieces, phrases, t = [np.zeros(round(LEAD_SECONDS * SAMPLE_RATE), np.float32)], [], LEAD_SECONDS
    for clip, ends in zip(clips, word_ends):
        phrases.append((t + clip.size / SAMPLE_RATE, [(word, t + end) for word, end in ends]))
        pieces += [clip, np.zeros(round(PAUSE_SECONDS * SAMPLE_RATE), np.float32)]
        t += clip.size / SAMPLE_RATE + PAUSE_SECONDS
    pieces.append(np.zeros(round(TAIL_SECONDS * SAMPLE_RATE), np.float32))
    return np.concatenate(pieces), phrases


def _one_pass(model, options, audio: np.ndarray, phrases) -> tuple[list[float], list[float], int, int]:
    """Streams ``audio`` in real time; returns the word latencies and the final-line latencies (seconds),
    and how many running transcripts were shown and how many were stopped (their final line came first)."""
    session = LiveSession(model, SAMPLE_RATE, options)
    events = []  # (stream seconds when shown, text, final)
    on_partial, on_utterance = session._on_partial, session._on_utterance
    clock = {}

    def partial(utterance, transcription):
        on_partial(utterance, transcription)
        events.append((time.monotonic() - clock["t0"], transcription.text, False))

    def final(utterance, transcription):
        on_utterance(utterance, transcription)
        events.append((time.monotonic() - clock["t0"], transcription.text, True))

    session.decoder.on_partial, session.decoder.on_utterance = partial, final
    chunk = round(CHUNK_SECONDS * SAMPLE_RATE)
    clock["t0"] = time.monotonic()
    for offset in range(0, audio.size, chunk):
        due = clock["t0"] + (offset + chunk) / SAMPLE_RATE  # a chunk is posted once it has been spoken
        time.sleep(max(0.0, due - time.monotonic()))
        session.push(audio[offset:offset + chunk], offset)
    session.close()
    session.decoder.join()
    # The decoder works in order: an utterance's running transcripts come after the previous final line.
    finals_at = [i for i, (_, _, is_final) in enumerate(events) if is_final]
    if len(finals_at) != len(phrases):
        print(f"warning: {len(finals_at)} lines for {len(phrases)} phrases: {[e[1] for e in events if e[2]]}",
              file=sys.stderr)
    words, finals, after = [], [], 0
    for (end, ends), last in zip(phrases, finals_at):
        finals.append(events[last][0] - end)
        shown = [(t, normalize_text(text).split()) for t, text, _ in events[after:last + 1]]
        after = last + 1
        for i, (word, word_end) in enumerate(ends):
            first = next((t for t, said in shown if len(said) > i and said[i] == word), None)
            if first is not None:  # a word the model never writes right has no first appearance
                words.append(first - word_end)
    return words, finals, session.decoder.partials, session.decoder.partials_stopped


def _hog(processes: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=2, help="times the three phrases are streamed per condition")
    parser.add_argument("--hog", type=int, nargs="*", default=[max(2, os.cpu_count() or 1)],
                        help="busy-loop processes beside each condition after the idle one (none: idle only)")
    args = parser.parse_args()

    checkpoint = default_checkpoint()
    model = load_model(checkpoint)
    options = usable(preset(DEFAULT_PRESET["demo"]), model)
    with tempfile.TemporaryDirectory() as folder:
        clips = _phrases(Path(folder))
    word_ends = [[(normalize_text(w.word), w.end) for w in model.transcribe(clip, options=options).words]
                 for clip in clips]
    audio, phrases = _stream(clips, word_ends)
    threads = max(1, (os.cpu_count() or 1) // DEMO_PROCESSES)
    live_model = ProcessModel(checkpoint, processes=DEMO_PROCESSES, threads=threads)
    live_model.start()
    rows = []
    try:
        for label, hogs in [("idle", 0)] + [(f"{n} busy loops", n) for n in args.hog if n]:
            running = _hog(hogs)
            try:
                time.sleep(1.0 if hogs else 0.0)
                words, finals, partials = [], [], [0, 0]
                for _ in range(args.passes):
                    w, f, shown, stopped = _one_pass(live_model, options, audio, phrases)
                    words += w
                    finals += f
                    partials = [partials[0] + shown, partials[1] + stopped]
                load = os.getloadavg()[0]
            finally:
                for process in running:
                    process.kill()
                    process.wait()
            rows.append((label, load, words, finals, partials))
            print(f"{label}: load average {load:.1f}; word latencies {[round(x, 2) for x in words]}; "
                  f"final latencies {[round(x, 2) for x in finals]}", file=sys.stderr)
    finally:
        live_model.close()

    print(f"| machine ({os.cpu_count()} cores) | load at the end | word → first shown, median / max | "
          "utterance end → final line, median / max | words shown / spoken | running transcripts shown / stopped |")
    print("|---|---|---|---|---|---|")
    spoken = sum(len(e) for _, e in phrases) * args.passes
    for label, load, words, finals, (shown, stopped) in rows:
        print(f"| {label} | {load:.1f} | {statistics.median(words):.2f} / {max(words):.2f} s | "
              f"{statistics.median(finals):.2f} / {max(finals):.2f} s | {len(words)} / {spoken} | {shown} / {stopped} |")


if __name__ == "__main__":
    main()
