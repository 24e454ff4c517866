"""recipes/synth/longform.py: held-out-voice clips joined into 20-60 s recordings with pauses and soft passages."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from asr.audio.io import SAMPLE_RATE, load_audio
from asr.training.manifest import read_manifest, write_manifest
from conftest import load_recipe_script, speak

REPO = Path(__file__).resolve().parent.parent
longform = load_recipe_script(REPO / "recipes" / "synth" / "longform.py", "longform")

SENTENCES = ["turn left at the second light", "she sells sea shells by the sea shore",
             "the birch canoe slid on the smooth planks", "glue the sheet to the dark blue background",
             "it is easy to tell the depth of a well", "rice is often served in round bowls",
             "the juice of lemons makes fine punch", "four hours of steady work faced us"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Sixteen espeak-ng clips by two voices, with silent margins and levels of their own, as the corpus has."""
    root = tmp_path_factory.mktemp("clips")
    rows = []
    for voice in ("en-us", "en-gb"):
        for i, text in enumerate(SENTENCES):
            path = root / f"{voice}_{i}.wav"
            speak(text, path, voice)
            rows.append({"audio_filepath": str(path), "duration": load_audio(path).size / SAMPLE_RATE,
                         "text": text, "voice": f"espeak:{voice}"})
    write_manifest(root / "test_natural.jsonl", rows)
    return root


def _build(clips: Path, out: Path, seed: int = 1234) -> list[dict]:
    done = subprocess.run([sys.executable, "recipes/synth/longform.py", "--manifest", str(clips / "test_natural.jsonl"),
                           "--out", str(out), "--seed", str(seed)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "recordings" in done.stdout
    return read_manifest(out / "longform.jsonl")


def test_pack_keeps_recordings_between_20_and_60_seconds():
    rng = random.Random(0)
    for _ in range(50):
        seconds = [rng.uniform(1.0, 8.0) for _ in range(rng.randint(5, 40))]
        for recording in longform.pack(seconds, random.Random(rng.random())):
            length = sum(pause + seconds[i] for i, pause in recording)
            assert 20.0 <= length <= 60.0
            assert recording[0][1] == 0.0 and all(0.3 <= p <= 1.5 for _, p in recording[1:])
            assert [i for i, _ in recording] == sorted(i for i, _ in recording)  # the clips keep their order


@pytest.mark.slow
def test_recordings_join_one_voice_with_pauses_and_soft_passages(clips, tmp_path):
    rows = _build(clips, tmp_path / "a")
    assert rows and all(20.0 <= r["duration"] <= 60.0 for r in rows)
    voices = {r["audio_filepath"]: r["voice"] for r in read_manifest(clips / "test_natural.jsonl")}
    for row in rows:
        audio = load_audio(row["audio_filepath"])
        assert abs(audio.size / SAMPLE_RATE - row["duration"]) < 0.01
        assert row["text"] == " ".join(p["text"] for p in row["parts"])
        assert {voices[p["audio_filepath"]] for p in row["parts"]} == {row["voice"]}  # one speaker per recording
        gaps = [b["start"] - a["end"] for a, b in zip(row["parts"], row["parts"][1:])]
        assert all(0.29 <= g <= 1.51 for g in gaps)
        levels = []
        for part in row["parts"]:
            piece = audio[int(part["start"] * SAMPLE_RATE):int(part["end"] * SAMPLE_RATE)]
            levels.append(20 * np.log10(np.sqrt(np.mean(piece ** 2))) - part["gain_db"])
            assert part["gain_db"] == 0.0 or -25.0 <= part["gain_db"] <= -15.0
        # every clip sits at one speech level once its passage's gain is undone: the soft ones are soft
        assert max(levels) - min(levels) < 6.0
        pause = audio[int(row["parts"][0]["end"] * SAMPLE_RATE) + 800:int(row["parts"][1]["start"] * SAMPLE_RATE) - 800]
        assert 0 < np.sqrt(np.mean(pause ** 2)) < 10 ** (-50 / 20)  # a quiet room, not digital silence
    assert any(p["gain_db"] for r in rows for p in r["parts"])
    assert all(not all(p["gain_db"] for p in r["parts"]) for r in rows)  # never a whole recording soft
    again = _build(clips, tmp_path / "b")  # a pure function of the inputs and the seed
    assert [r["parts"] for r in again] == [r["parts"] for r in rows]
    assert all(np.array_equal(load_audio(a["audio_filepath"]), load_audio(b["audio_filepath"]))
               for a, b in zip(rows, again))
    other = _build(clips, tmp_path / "c", seed=7)
    assert [r["parts"] for r in other] != [r["parts"] for r in rows]


def test_a_missing_manifest_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "recipes/synth/longform.py", "--manifest", str(tmp_path / "nope.jsonl"),
                           "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "no such manifest" in done.stderr
