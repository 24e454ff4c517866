"""What ``asr transcribe`` was asked to read: files, directories, globs, manifests and stdin.

    for item in expand_inputs(["talk.mp3", "corpus/", "clips/*.wav", "dev.jsonl", "-"]):
        item.name, item.audio, item.output_stem, item.error

Every argument becomes zero or more :class:`Input` items, in the order given
(directories and globs sorted).  An argument that names nothing usable
becomes one item with ``error`` set, so the caller reports it alongside the
other failures and carries on.
"""

from __future__ import annotations

import glob
import sys
from dataclasses import dataclass
from pathlib import Path

from asr.audio.io import AUDIO_EXTENSIONS
from asr.training.manifest import ManifestError, read_manifest

MANIFEST_EXTENSIONS = (".jsonl",)
STDIN = "-"


@dataclass(frozen=True)
class Input:
    name: str  # how messages and outputs refer to it: the path, or "<stdin>"
    audio: str | bytes | None  # a path, or the bytes read from stdin; None when ``error`` is set
    output_stem: str  # relative output path without extension, e.g. "sub/clip" for corpus/sub/clip.wav
    reference: str | None = None  # the manifest's transcript, when the input came from one
    error: str | None = None  # one line saying why this argument gave no audio


def expand_inputs(arguments: list[str], stdin=None) -> list[Input]:
    """Expand command-line arguments into the inputs to transcribe.

    Args:
        arguments: paths, directories (searched recursively for audio files), glob
            patterns, ``.jsonl`` manifests, or ``-`` for one encoded file on stdin.
        stdin: a binary stream to read ``-`` from (default: the process's stdin).
    """
    inputs: list[Input] = []
    for argument in arguments:
        if argument == STDIN:
            data = (stdin or sys.stdin.buffer).read()
            inputs.append(Input("<stdin>", data, "stdin"))
            continue
        path = Path(argument)
        if path.is_dir():
            inputs += _directory(path)
        elif path.is_file() and path.suffix.lower() in MANIFEST_EXTENSIONS:
            inputs += _manifest(path)
        elif path.exists():
            inputs.append(Input(argument, argument, path.stem))
        elif not glob.has_magic(argument):
            inputs.append(Input(argument, None, path.stem, error=f"{argument}: no such file"))
        else:
            matches = sorted(glob.glob(argument, recursive=True))
            if not matches:
                inputs.append(Input(argument, None, path.stem, error=f"{argument}: no files match this pattern"))
            inputs += [Input(m, m, Path(m).stem) for m in matches if Path(m).is_file()]
    return inputs


def _directory(root: Path) -> list[Input]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        return [Input(str(root), None, root.name,
                      error=f"{root}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this directory")]
    # Keep the directory layout under --output-dir, so corpus/a/1.wav and corpus/b/1.wav don't collide.
    return [Input(str(p), str(p), str(p.relative_to(root).with_suffix(""))) for p in files]


def _manifest(path: Path) -> list[Input]:
    try:
        rows = read_manifest(path)
    except ManifestError as error:
        return [Input(str(path), None, path.stem, error=str(error))]
    return [Input(row["audio_filepath"], row["audio_filepath"], Path(row["audio_filepath"]).stem,
                  reference=row.get("text")) for row in rows]
