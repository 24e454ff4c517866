"""The package's layering: each part of ``asr`` imports only the parts below it.

From the bottom: atomic file writing, text normalisation and metrics; audio; the model; decoding;
training and the attention pictures; the front ends (``apps``); the command line.  Nothing below
the front ends imports one, so the library runs without Gradio, a microphone or a command line.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "asr"
BASE = {"files", "text", "metrics"}
ALLOWED = {  # part -> the parts it may import (besides itself)
    "files": set(), "text": set(), "metrics": set(),
    "audio": BASE,
    "model": BASE | {"audio"},
    "decoding": BASE | {"audio", "model"},
    "plotting": BASE | {"audio", "model"},
    "training": BASE | {"audio", "model", "decoding", "plotting"},
    "apps": BASE | {"audio", "model", "decoding", "training", "plotting"},
    "cli": BASE | {"audio", "model", "decoding", "training", "plotting", "apps"},
}
# A model transcribes itself, as Whisper's does: LAS.transcribe calls decoding's transcribe.
EXCEPTIONS = {("model/las.py", "decoding")}


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_parts(path: Path) -> set[str]:
    """The parts of ``asr`` a module imports, at its top or inside functions."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "asr" and len(pieces) > 1:
                parts.add(pieces[1])
    return parts


def test_every_module_belongs_to_a_known_part():
    unknown = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if part_of(p) not in ALLOWED and p.name not in ("__init__.py", "__main__.py")}
    assert not unknown, f"modules outside the layering table: {sorted(unknown)}"


def test_no_module_imports_a_part_above_it():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = part_of(path)
        if part not in ALLOWED:
            continue  # asr/__init__.py (the public API) and asr/__main__.py
        for imported in imported_parts(path) - ALLOWED[part] - {part}:
            if (str(path.relative_to(PACKAGE)), imported) not in EXCEPTIONS:
                upward.append(f"{path.relative_to(PACKAGE)} imports asr.{imported}")
    assert not upward, "\n".join(upward)


def test_the_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from asr.apps.demo import build\n    import asr.cli\n")
    assert imported_parts(module) == {"apps", "cli"}
