"""recipes/asterisk/prepare.py on a fake copy of Debian's Asterisk prompts made here."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.training.manifest import read_manifest
from conftest import load_recipe_script

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "asterisk" / "prepare.py"

TRANSCRIPTS = """; Core Asterisk Sounds in English

agent-pass: Please enter your password followed by the pound key.
beep: [this is a simple beep tone]
conf-usermenu: Please press 1 to mute or unmute yourself.
dictate/both_help: press * to toggle pause, press # to enter a new dictation filename
digits/7: seven
letters/at: at [@]
not-shipped: This prompt has no wav file.
silence/1: (1 second of silence)
spy-iax2: IAX (note: does not say "2")
"""
SHIPPED = ("agent-pass", "beep", "conf-usermenu", "dictate/both_help", "digits/7", "letters/at", "silence/1",
           "spy-iax2")


@pytest.fixture(scope="module")
def prepare():
    return load_recipe_script(RECIPE, "asterisk_prepare")


@pytest.fixture
def prompts(tmp_path):
    sounds = tmp_path / "en_US_f_Allison"
    for name in SHIPPED:
        (sounds / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(sounds / f"{name}.wav", np.zeros(4000, np.float32), 8000, subtype="PCM_16")  # 0.5 s at 8 kHz
    transcripts = tmp_path / "core-sounds-en.txt.gz"
    with gzip.open(transcripts, "wt") as file:
        file.write(TRANSCRIPTS)
    return sounds, transcripts


def test_rows_say_what_is_spoken(prepare, prompts):
    rows, skipped = prepare.manifest_rows(*prompts)
    texts = {r["id"]: r["text"] for r in rows}
    assert texts == {
        "agent-pass": "please enter your password followed by the pound key",
        "conf-usermenu": "please press one to mute or unmute yourself",
        "dictate/both_help": "press star to toggle pause press pound to enter a new dictation filename",
        "digits/7": "seven",
        "letters/at": "at",  # not "at at": the bracket shows the symbol the word names
        "spy-iax2": "iax",
    }
    assert skipped == {"no words": 2, "no audio": 1}  # the beep tone and the silence; the prompt without a wav
    assert all(r["duration"] == 0.5 and Path(r["audio_filepath"]).is_file() and r["voice"] == prepare.VOICE
               for r in rows)


def test_dev_and_test_split_by_name_alone(prepare, prompts, tmp_path):
    assert prepare.main(["--out", str(tmp_path / "out"), "--sounds", str(prompts[0]),
                         "--transcripts", str(prompts[1])]) == 0
    dev, test = (read_manifest(tmp_path / "out" / f"{half}.jsonl") for half in ("dev", "test"))
    assert sorted(r["id"] for r in dev + test) == ["agent-pass", "conf-usermenu", "dictate/both_help", "digits/7",
                                                   "letters/at", "spy-iax2"]
    # A prompt's half depends on its name only: the same with any other prompts around it.
    for row in dev + test:
        alone = prepare.split([row])
        assert (alone["dev"] == [row]) == (row in dev)


def test_plain_text_transcripts_read_too(prepare, prompts, tmp_path):
    plain = tmp_path / "core-sounds-en.txt"
    plain.write_text(TRANSCRIPTS)
    assert len(prepare.manifest_rows(prompts[0], plain)[0]) == 6


def _not_gzip(tmp_path: Path) -> Path:
    path = tmp_path / "broken.txt.gz"
    path.write_text("agent-pass: plain text under a .gz name\n")
    return path


def test_missing_package_is_one_line(prepare, prompts, tmp_path, capsys):
    sounds, transcripts = prompts
    for argv in (["--sounds", str(tmp_path / "nowhere"), "--transcripts", str(transcripts)],
                 ["--sounds", str(sounds), "--transcripts", str(tmp_path / "none.txt.gz")],
                 ["--sounds", str(sounds), "--transcripts", str(_not_gzip(tmp_path))],
                 ["--sounds", str(tmp_path), "--transcripts", str(transcripts)]):  # no wav next to the names
        assert prepare.main(["--out", str(tmp_path / "out"), *argv]) == 1
        err = capsys.readouterr().err
        assert err.startswith("prepare.py: error: ") and err.count("\n") == 1, err
