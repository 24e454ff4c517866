"""The ``asr`` command: a thin argparse layer over the library.

Each subcommand lives in ``asr/cli/<name>.py`` (``eval`` in evaluate.py, dashes as underscores) with two functions,
``add_arguments(parser)`` and ``run(args) -> int`` (the exit status), and is
imported only when used, so ``asr listen`` never loads the trainer.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

COMMANDS = {
    "transcribe": "transcribe audio files, directories, globs, manifests or stdin",
    "listen": "transcribe speech from a microphone as you speak",
    "train": "train a model from a recipe config",
    "eval": "score a checkpoint on a manifest: CER, WER, hypotheses, alignment plots",
    "train-lm": "train a character language model on text and bundle it with a checkpoint",
    "demo": "start the web demo (microphone, upload, attention you can explore)",
    "pack": "write a checkpoint for inference: fp16 weights, no training state",
}


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps each command's ``Usage:`` docstring as written and shows every default."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (all of them when None), so that
    ``asr --help`` and ``asr transcribe --help`` do not load what other commands need."""
    parser = argparse.ArgumentParser(prog="asr", description="A listen-attend-spell speech recognizer.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        if command is not None and name != command:
            sub.add_parser(name, help=help_text, add_help=False)  # listed in asr --help, not built
            continue
        try:
            module = _command_module(name)
        except ModuleNotFoundError as error:
            if error.name != _module_name(name):
                raise
            continue  # a command not part of this installation
        parsed = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip(),
                                formatter_class=_HelpFormatter)
        module.add_arguments(parsed)
    return parser


def _module_name(name: str) -> str:
    return f"asr.cli.{'evaluate' if name == 'eval' else name.replace('-', '_')}"


def _command_module(name: str):
    return importlib.import_module(_module_name(name))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Run one command and exit with its status. ``argv`` None means this is the process's own
    entry point (the ``asr`` script, ``python -m asr``), which may change process-wide signal
    handling for its last moments; a list (a caller in the same process) leaves it as it was."""
    entry_point = argv is None
    argv = sys.argv[1:] if argv is None else argv
    invoked = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(invoked if invoked in COMMANDS else "").parse_args(argv)
    # `kill` and service managers stop a command the way Ctrl-C does: outputs are written
    # atomically, so either way nothing half-written is left and the status is 130.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        status = _command_module(args.command).run(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:
        # The reader went away (`asr transcribe ... | head`): stop quietly, as a shell tool does.
        # Point stdout at /dev/null so the interpreter's final flush doesn't complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 141  # 128 + SIGPIPE, what the shell reports for a tool killed by a closed pipe
    finally:
        # The work is done and written. Python's shutdown puts the default action back for signals
        # it handles, so a stop request now would kill the process with -15 instead of letting it
        # report how it went; an ignored signal stays ignored, in every thread. A caller in the same
        # process gets its own handler back instead: one inherited by the processes it forks (that
        # raises, or ignores) makes multiprocessing's pool hang when it stops its workers.
        signal.signal(signal.SIGTERM, signal.SIG_IGN if entry_point else previous or signal.SIG_DFL)
    sys.exit(status or 0)
