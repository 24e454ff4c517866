"""Writing files atomically: a file appears whole or not at all.

Every output of the project (transcripts, manifests, checkpoints, encoder states, converted
weights, audio) is written through :func:`atomic_path`, so a crash or a kill never leaves half a
file, and an earlier file stays until the new one is complete.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


class AtomicWriter:
    """A text file that appears at ``path`` only when closed without error (see :func:`atomic_path`).

    Readers never see half a transcript, and a crash leaves any earlier file in place.
    """

    def __init__(self, path):
        self._target = atomic_path(path)
        self.file = open(self._target.__enter__(), "w", encoding="utf-8")

    def write(self, text: str) -> None:
        self.file.write(text)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        self.file.close()
        return self._target.__exit__(kind, error, traceback)


def write_atomic(path, text: str) -> None:
    with AtomicWriter(path) as writer:
        writer.write(text)


@contextmanager
def atomic_path(path):
    """A fresh temporary path beside ``path`` for any library to write to; renamed onto ``path`` on success.

    The project's one way to write a file: a crash or kill at any moment leaves the old file or
    the new one, never half of one.  The name is unique, so two writers of the same file never
    share a temp file, and it is removed if writing fails.  Give the writer the format
    explicitly: the name ends in ``.tmp``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as written:  # on disk before the rename makes it the file
            os.fsync(written.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes private files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
