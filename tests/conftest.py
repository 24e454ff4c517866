"""Shared fixtures: tiny models and speech made at test time with espeak-ng."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from asr.audio.io import load_audio
from asr.model.las import LAS, ModelConfig

TINY = dict(conv_channels=8, encoder_hidden=32, encoder_layers=2, decoder_hidden=32, attention_dim=32,
            embedding_dim=16, location_channels=4, location_kernel=9, dropout=0.0)


def tiny_model(**overrides) -> LAS:
    return LAS(ModelConfig(**(TINY | overrides))).eval()


def speak(text: str, path: Path, voice: str = "en-us", words_per_minute: int = 160) -> np.ndarray:
    """Synthesize ``text`` to a wav at ``path`` with espeak-ng; returns the 16 kHz samples."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (make setup installs it)")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(path), text], check=True)
    return load_audio(path)


def load_recipe_script(path: Path, name: str):
    """Import a recipe's script (recipes are not a package) as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so worker processes can unpickle its functions
    spec.loader.exec_module(module)
    return module
