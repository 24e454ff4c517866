"""JSONL manifests: one utterance per line, ``{"audio_filepath", "duration", "text", ...}``.

The NeMo/ESPnet-style format every recipe writes and every tool reads.
Relative audio paths are resolved against the manifest's directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from asr.files import write_atomic

REQUIRED_FIELDS = ("audio_filepath", "duration", "text")


class ManifestError(ValueError):
    """A manifest that can't be read; the message is one line for the user."""


def read_manifest(path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not a JSONL manifest (not UTF-8 text)") from None
    except OSError as error:
        raise ManifestError(f"{path}: cannot read it ({error.strerror or type(error).__name__})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ManifestError(f"{path}:{number}: not JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise ManifestError(f"{path}:{number}: not a JSON object")
        missing = [f for f in REQUIRED_FIELDS if f not in row]
        if missing:
            raise ManifestError(f"{path}:{number}: missing {', '.join(missing)}")
        if not os.path.isabs(row["audio_filepath"]):
            row["audio_filepath"] = str(path.parent / row["audio_filepath"])
        rows.append(row)
    return rows


def write_manifest(path, rows) -> None:
    """Write rows as JSONL atomically."""
    write_atomic(path, "".join(json.dumps(row) + "\n" for row in rows))
