"""Transcribe audio files, directories, globs, JSONL manifests or stdin, with timestamps from attention.

Usage:
    asr transcribe talk.mp3                               # the text on stdout, one line per segment
    asr transcribe talk.mp3 --timestamps                  # [00:00.000 --> 00:04.020] text, per segment
    asr transcribe talk.mp3 --no-itn                      # numbers in words ("ten minutes"), not numerals
    asr transcribe talk.mp3 --format srt > talk.srt       # subtitles from the attention word timings
    asr transcribe corpus/ "extra/*.flac" --format all --output-dir out/
    asr transcribe dev.jsonl --beam-size 5 --format jsonl > hypotheses.jsonl
    sox talk.wav -t wav - | asr transcribe -

A file that cannot be read gets one line on stderr and the others go on; the
exit status is 1 if any input failed.  Silence gives an empty transcript and
a warning, not a failure; it gets no .srt or .vtt file (a subtitle file without
a cue is not valid), and the warning says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from asr.cli.options import add_decoding_arguments, decoding_options, options_for_model
from asr.apps.formats import FORMATS, render
from asr.files import AtomicWriter, write_atomic
from asr.apps.inputs import expand_inputs

# torch, tqdm and the model code are imported in run(), after the arguments and inputs are
# checked: --help and a missing file answer at once.

ALL = "all"
SUBTITLE_FORMATS = ("srt", "vtt")  # not written for an input with no speech, which has no cue to show
PER_INPUT_FORMATS = ("txt", "json", "srt", "vtt")  # one file per input; jsonl collects every input in one file
JSONL_NAME = "transcripts.jsonl"
DEFAULT_BATCH_SIZE = 8
# One CPU thread: the speller's per-character steps are too small to split across threads, and
# on a busy 2-core machine a second thread waits on the first so often that decoding ran 10-40x
# slower in bench/speed.py.  More threads can help the encoder on an idle machine.
DEFAULT_THREADS = 1


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown, and the usage examples above kept line by line instead of reflowed."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = _HelpFormatter
    parser.add_argument("inputs", nargs="+", metavar="PATH",
                        help="audio files (wav, flac, ogg, mp3, m4a...; any rate and channel count), directories "
                             "(searched recursively), glob patterns, .jsonl manifests, or - for one file on stdin")
    parser.add_argument("-f", "--format", choices=FORMATS + (ALL,), default="txt",
                        help="txt: the text; json: text, words with start/end/confidence, character times and the "
                             "n-best; jsonl: one manifest line per input; srt/vtt: subtitles; all: every format "
                             "(needs --output-dir)")
    parser.add_argument("-o", "--output-dir", type=Path, default=None, metavar="DIR",
                        help="write <name>.<format> per input here (and transcripts.jsonl for jsonl), keeping the "
                             "layout of input directories; None prints to stdout")
    parser.add_argument("--timestamps", action="store_true",
                        help="txt: start each segment's line with its times, as Whisper prints them: "
                             "[00:00.000 --> 00:04.020] text")
    parser.add_argument("--itn", action=argparse.BooleanOptionalAction, default=True,
                        help="write numbers as numerals (\"10 minutes\", \"2020\", \"3:30 p.m.\"); --no-itn keeps the "
                             "speller's words (json and jsonl carry those as raw_text either way)")
    add_decoding_arguments(parser, "transcribe")
    parser.add_argument("--device", default="auto",
                        help="auto: cuda when available, else cpu; or a torch device, e.g. cpu, cuda, cuda:1")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
                        help="speech segments decoded together, across files")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="N",
                        help="CPU threads for torch; 0 uses torch's default (one per core)")
    parser.add_argument("--checkpoint", type=Path, default=None, metavar="FILE",
                        help="model checkpoint to load; None is the bundled one")


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        return _usage_error(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.threads < 0:
        return _usage_error(f"--threads must be 0 (torch's default) or more, got {args.threads}")
    inputs = expand_inputs(args.inputs)
    readable = [item for item in inputs if item.error is None]
    if args.output_dir is None and args.format == ALL:
        return _usage_error("--format all writes several files per input: give --output-dir")
    if args.timestamps and args.format not in ("txt", ALL):
        return _usage_error(f"--timestamps is for txt output; --format {args.format} has its own times")
    if args.output_dir is None and args.format in ("srt", "vtt") and len(readable) > 1:
        return _usage_error(f"{len(readable)} inputs would print {args.format} files one after another on stdout: "
                            "give --output-dir")

    failed = 0
    for item in inputs:
        if item.error is not None:
            _report(f"error: {item.error}")
            failed += 1
    if not readable:  # nothing to decode: answer now, without loading torch or the model
        return 1
    if args.output_dir is not None:
        try:  # before loading the model: an output directory that can't exist is a usage mistake
            args.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            return _usage_error(f"--output-dir {args.output_dir}: can't create it ({error.strerror or error})")
    try:
        options = decoding_options(args)
    except ValueError as error:
        return _usage_error(str(error))
    if args.threads:
        _torch().set_num_threads(args.threads)
    model = _load(args.checkpoint, args.device)
    if model is None:
        return 1
    options, problem = options_for_model(args, options, model, args.checkpoint or "the bundled checkpoint")
    if problem:
        return _usage_error(problem)
    # A bar only on a terminal: in logs and pipes it would be noise.
    from tqdm import tqdm

    bar = tqdm(total=0, unit="s", desc="transcribing", file=sys.stderr, disable=not sys.stderr.isatty(),
               dynamic_ncols=True,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of audio [{elapsed}<{remaining}]")

    try:
        output = (_DirectoryOutput(args.output_dir, args.format, args.timestamps) if args.output_dir
                  else _StdoutOutput(args.format, len(readable), args.timestamps))
        return _transcribe_all(model, readable, options, args.batch_size, output, bar, args.itn) or (1 if failed else 0)
    except BrokenPipeError:
        raise  # the reader of stdout went away: asr.cli ends quietly
    except OSError as error:  # e.g. a read-only directory or a full disk; files written before stay
        _report(f"error: can't write the output ({error.strerror or error})")
        return 1


def _transcribe_all(model, readable, options, batch_size, output, bar, itn: bool = True) -> int:
    """Decode every readable input into ``output``; returns 1 if any failed, else 0."""
    from asr.audio.io import AudioError
    from asr.decoding.transcribe import transcribe_many

    failed = 0

    def planned(seconds: float) -> None:
        bar.total += seconds
        bar.refresh()

    with output, bar:
        results = transcribe_many(model, [(item.name, item.audio) for item in readable], options, batch_size,
                                  keep_attention=False, on_planned=planned, on_decoded=bar.update, itn=itn)
        for index, result in results:
            item = readable[index]
            if isinstance(result, AudioError):
                _report(f"error: {result}")
                failed += 1
                continue
            for message in result.warnings:  # a file that ends early: the rest is still transcribed
                _report(f"warning: {message}")
            if not result.text:
                _report(f"warning: {item.name}: no speech found, the transcript is empty")
            output.add(item, result)
    return 1 if failed else 0


def _torch():
    import torch

    return torch


def _load(checkpoint: Path | None, device: str):
    from asr.model.checkpoint import CheckpointError, default_checkpoint, load_model

    torch = _torch()
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except RuntimeError:
        _report(f"error: {device!r} is not a torch device (try cpu or cuda)")
        return None
    if device.type == "cuda" and not torch.cuda.is_available():
        _report("error: --device cuda, but no CUDA GPU is available (use --device cpu)")
        return None
    try:
        return load_model(checkpoint or default_checkpoint(), device)
    except CheckpointError as error:
        _report(f"error: {error}")
        return None


class _StdoutOutput:
    """Prints each result as it comes; json for several inputs is printed as one list at the end."""

    def __init__(self, format: str, count: int, timestamps: bool = False):
        self.format, self.count, self.timestamps = format, count, timestamps
        self.documents: list[dict] = []

    def add(self, item, result) -> None:
        if self.format == "json" and self.count > 1:
            self.documents.append(json.loads(render(result, "json", item.name)))
        elif self.format == "txt" and self.count > 1:
            # name, tab, text: easy to cut -f2; one line per input, or per segment with --timestamps
            lines = render(result, "txt", item.name, timestamps=True).splitlines() if self.timestamps \
                else [result.text]
            for line in lines or [""]:
                print(f"{item.name}\t{line}", flush=True)
        else:
            sys.stdout.write(render(result, self.format, item.name, item.reference, self.timestamps))
            sys.stdout.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.documents:
            print(json.dumps(self.documents))


class _DirectoryOutput:
    """Writes <output-dir>/<stem>.<format> per input, each atomically, and one transcripts.jsonl."""

    def __init__(self, directory: Path, format: str, timestamps: bool = False):
        self.directory, self.timestamps = directory, timestamps
        formats = PER_INPUT_FORMATS + ("jsonl",) if format == ALL else (format,)
        self.per_input = [f for f in formats if f != "jsonl"]
        self.jsonl = AtomicWriter(directory / JSONL_NAME) if "jsonl" in formats else None
        self.used_stems: set[str] = set()

    def add(self, item, result) -> None:
        stem = item.output_stem
        for n in range(2, len(self.used_stems) + 2):  # same name from two places: don't overwrite
            if stem not in self.used_stems:
                break
            stem = f"{item.output_stem}_{n}"
        self.used_stems.add(stem)
        for format in self.per_input:
            if format in SUBTITLE_FORMATS and not result.words:
                # A subtitle file with no cue is not a valid file (ffmpeg refuses an empty .srt).
                _report(f"warning: {item.name}: no speech, so no {stem}.{format} was written")
                continue
            write_atomic(self.directory / f"{stem}.{format}",
                         render(result, format, item.name, timestamps=self.timestamps))
        if self.jsonl:
            self.jsonl.write(render(result, "jsonl", item.name, item.reference))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.jsonl:
            self.jsonl.__exit__(*exc_info)


def _report(message: str) -> None:
    """One line on stderr, printed above the progress bar if there is one."""
    if "tqdm" in sys.modules:  # a progress bar may be on the terminal: print above it
        sys.modules["tqdm"].tqdm.write(f"asr transcribe: {message}", file=sys.stderr)
    else:
        print(f"asr transcribe: {message}", file=sys.stderr)


def _usage_error(message: str) -> int:
    print(f"asr transcribe: error: {message}", file=sys.stderr)
    return 2
