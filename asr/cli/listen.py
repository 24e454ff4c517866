"""Transcribe speech from a microphone as you speak: each utterance is printed when you pause.

On a terminal, the utterance still being spoken is shown dim as its running transcript
grows, overwritten in place, and the final line replaces it at the pause; piped output
gets the final lines alone.

Usage:
    asr listen                                    # the default input, until Ctrl-C
    asr listen --list-devices
    asr listen --device USB --max-utterances 3 --format jsonl
    asr listen --duration 60 --save-dir takes/    # keep each utterance as takes/*.wav + *.txt
"""

from __future__ import annotations

import argparse

import itertools
import json
import shutil
import sys
import threading
import time
from pathlib import Path

from asr.audio.io import SAMPLE_RATE
from asr.cli.options import add_decoding_arguments, decoding_options, options_for_model
from asr.audio.endpoint import MIN_PAUSE_SECONDS

METER_WIDTH = 20  # characters of the level bar
METER_FLOOR_DB = -60.0  # the level shown as an empty bar
DIM, NORMAL = "\033[2m", "\033[0m"  # the running transcript's style, and back


def add_arguments(parser) -> None:
    parser.add_argument("--device", metavar="NAME|INDEX", help="input device, by index or (part of) its name; "
                        "default: the system's default input")
    parser.add_argument("--list-devices", action="store_true", help="list the input devices and exit")
    parser.add_argument("--checkpoint", metavar="PATH", help="model checkpoint; default: the bundled one")
    add_decoding_arguments(parser, "listen")
    parser.add_argument("--format", choices=("text", "jsonl"), default="text",
                        help="text: '[mm:ss.ss] words' per utterance; jsonl: one JSON object per utterance")
    parser.add_argument("--max-utterances", type=int, metavar="N", help="stop after N utterances")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds of audio")
    parser.add_argument("--min-pause", type=float, default=MIN_PAUSE_SECONDS, metavar="S",
                        help="seconds of silence that end an utterance")
    parser.add_argument("--save-dir", type=Path, metavar="DIR",
                        help="keep each utterance as DIR/<session>_<n>.wav with its transcript in a .txt beside it")
    parser.add_argument("--itn", action=argparse.BooleanOptionalAction, default=True,
                        help="write numbers as numerals (\"10 minutes\"); --no-itn keeps them in words")


def run(args) -> int:
    from asr.apps.microphone import MicrophoneError, find_device, listen

    try:
        if args.list_devices:
            return _list_devices()
        device = find_device(args.device)  # before loading the model: a bad device fails at once
    except MicrophoneError as error:
        return _fail(error)
    if (args.max_utterances is not None and args.max_utterances < 1) or \
            (args.duration is not None and args.duration <= 0) or args.min_pause <= 0:
        return _fail("--max-utterances, --duration and --min-pause must be positive")
    try:
        options = decoding_options(args)
    except ValueError as error:
        return _fail(error)

    from asr.model.checkpoint import CheckpointError, load_model

    try:
        model = load_model(args.checkpoint)
    except CheckpointError as error:
        return _fail(error)
    options, problem = options_for_model(args, options, model, args.checkpoint or "the bundled checkpoint")
    if problem:
        return _fail(problem)
    if args.save_dir is not None:
        args.save_dir.mkdir(parents=True, exist_ok=True)
    terminal = _Terminal(enabled=sys.stderr.isatty(), partials=sys.stdout.isatty())
    session, numbers = time.strftime("%Y%m%d-%H%M%S"), itertools.count(1)

    def on_utterance(utterance, transcription):
        number = next(numbers)
        saved = None
        if args.save_dir is not None:
            saved = _save(args.save_dir, f"{session}_{number:03d}", utterance, transcription.text)
        with terminal.lock:  # the meter is drawn from the other thread
            terminal.clear()
            print(_format(args.format, number, utterance, transcription, saved), flush=True)

    def on_partial(utterance, transcription):
        terminal.partial(f"[{_clock(utterance.start)}] {transcription.text}")

    terminal.note(f"listening on {device['name']!r}, Ctrl-C to stop")
    try:
        stats = listen(model, device, on_utterance=on_utterance, on_tick=terminal.meter,
                       on_partial=on_partial if terminal.partials else None, options=options,
                       max_utterances=args.max_utterances, max_seconds=args.duration, min_pause_seconds=args.min_pause,
                       itn=args.itn)
    except MicrophoneError as error:
        terminal.clear()
        return _fail(error)
    terminal.clear()
    if stats.sample_rate != SAMPLE_RATE:
        terminal.note(f"captured at {stats.sample_rate} Hz and resampled to {SAMPLE_RATE} Hz")
    if stats.overruns or stats.dropped_blocks:  # reported even off a terminal: lost audio matters in logs too
        print(f"asr listen: warning: {stats.overruns} input overrun(s), {stats.dropped_blocks} block(s) "
              f"({stats.dropped_seconds:.1f} s) dropped because decoding fell behind", file=sys.stderr)
    if stats.skipped_seconds:
        terminal.note(f"the device delivered audio faster than real time (no real clock, e.g. a file); "
                      f"{stats.skipped_seconds:.1f} s beyond what decoding could take were skipped")
    terminal.note(f"{stats.utterances} utterance(s) in {stats.seconds:.1f} s of audio"
                  + (" (stopped by Ctrl-C)" if stats.interrupted else ""))
    return 0


def _list_devices() -> int:
    from asr.apps.microphone import MicrophoneError, describe_devices, find_device, input_devices

    devices = input_devices()
    if not devices:
        raise MicrophoneError(describe_devices(devices))
    try:
        default = find_device(None)["index"]
    except MicrophoneError:
        default = None
    for d in devices:
        mark = "*" if d["index"] == default else " "
        print(f"{mark} {d['index']:>3}  {d['name']}  ({d['max_input_channels']} in, {d['default_samplerate']:.0f} Hz)")
    return 0


def _format(kind: str, number: int, utterance, transcription, saved: Path | None) -> str:
    if kind == "text":
        return f"[{_clock(utterance.start)}] {transcription.text}"
    record = {
        "utterance": number,
        "start": round(utterance.start, 3),
        "end": round(utterance.end, 3),
        "text": transcription.text,
        "confidence": round(transcription.confidence, 4),
        "words": [{"word": w.word, "start": round(utterance.start + w.start, 3),
                   "end": round(utterance.start + w.end, 3), "confidence": round(w.confidence, 4)}
                  for w in transcription.words],
    }
    if saved is not None:
        record["audio"] = str(saved)
    return json.dumps(record, ensure_ascii=False)


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return (f"{hours}:" if hours else "") + f"{minutes:02d}:{seconds:05.2f}"


def _save(directory: Path, stem: str, utterance, text: str) -> Path:
    from asr.audio.io import write_wav

    path = directory / f"{stem}.wav"
    write_wav(path, utterance.samples, utterance.sample_rate)
    path.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
    return path


def _fail(error) -> int:
    print(f"asr listen: error: {error}", file=sys.stderr)
    return 1


class _Terminal:
    """The live status line on stderr and the running transcript on stdout, each only on a terminal,
    so pipes and logs get final results alone.

    Both share the terminal's last line: while a running transcript is shown, the meter waits.
    """

    def __init__(self, enabled: bool, partials: bool = False):
        self.enabled, self.partials = enabled, partials
        self.lock = threading.Lock()
        self._partial_shown = False

    def partial(self, text: str) -> None:
        """The utterance in progress, dim, overwriting the line in place."""
        if not self.partials:
            return
        width = shutil.get_terminal_size().columns - 1
        if len(text) > width:  # one line, or \r could not overwrite it: the newest words matter most
            text = "…" + text[-(width - 1):]
        with self.lock:
            if self.enabled:
                sys.stderr.write("\r\033[K")
                sys.stderr.flush()
            sys.stdout.write(f"\r\033[K{DIM}{text}{NORMAL}")
            sys.stdout.flush()
            self._partial_shown = True

    def meter(self, state: str, level_db: float) -> None:
        if not self.enabled or self._partial_shown:
            return
        filled = round(METER_WIDTH * min(1.0, max(0.0, 1 - level_db / METER_FLOOR_DB)))
        label = {"listening": "listening…", "speech": "listening… speech", "transcribing": "transcribing…"}[state]
        bar = "█" * filled + "·" * (METER_WIDTH - filled)
        with self.lock:
            sys.stderr.write(f"\r\033[K{bar} {level_db:6.1f} dB  {label}")
            sys.stderr.flush()

    def clear(self) -> None:
        if self._partial_shown:
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()
            self._partial_shown = False
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()

    def note(self, text: str) -> None:
        if self.enabled:
            print(text, file=sys.stderr)
