"""A built wheel, installed outside the checkout, finds the bundled model and serves the demo."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package built as a wheel and installed (without its dependencies, which this venv has) into a folder."""
    root = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(root)],
                           capture_output=True, text=True)
    if built.returncode != 0 and "Could not" in built.stderr:  # no index to fetch setuptools from
        pytest.skip(f"cannot build a wheel here: {built.stderr.strip().splitlines()[-1]}")
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = root.glob("las_asr-*.whl")
    site = root / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return site


def _env(site: Path) -> dict:
    # The wheel's copy comes first on the path, before this checkout's editable install.
    return dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS="1")


@pytest.mark.slow
def test_an_installed_wheel_transcribes_with_its_bundled_model_from_anywhere(installed, tmp_path):
    clip = tmp_path / "clip.wav"
    clip.write_bytes((REPO / "examples" / "set_a_timer.wav").read_bytes())
    where = subprocess.run([sys.executable, "-c", "import asr, asr.model.checkpoint as c; print(asr.__file__); "
                            "print(c.default_checkpoint())"], cwd=tmp_path, env=_env(installed),
                           capture_output=True, text=True)
    module, checkpoint = where.stdout.split()
    assert Path(module).is_relative_to(installed) and Path(checkpoint).is_relative_to(installed), where.stdout
    # The command as a user types it, so with its default preset (beam search, word LM and lexicon).
    run = subprocess.run([sys.executable, "-m", "asr", "transcribe", str(clip)], cwd=tmp_path,
                         env=_env(installed), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "timer" in run.stdout


@pytest.mark.slow
def test_an_installed_wheel_starts_the_demo(installed, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "asr", "demo", "--port", str(port)], cwd=tmp_path,
                               env=_env(installed), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
                    assert page.status == 200 and "attend" in page.read().decode()
                    return
            except OSError:
                time.sleep(0.5)
        pytest.fail("the installed demo did not serve its page in 120 s")
    finally:
        process.terminate()
        process.wait(timeout=30)
