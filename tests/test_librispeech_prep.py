"""recipes/librispeech/prepare.py on a tiny fake LibriSpeech tree made here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.training.manifest import read_manifest
from asr.text import normalize_text
from conftest import load_recipe_script

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "librispeech" / "prepare.py"
RATE = 16_000

# subset -> {utterance id: (transcript as LibriSpeech writes it, seconds of audio)}
FAKE = {
    "train-clean-100": {
        "19-198-0000": ("NORTHANGER ABBEY CHAPTER 1", 1.25),
        "19-198-0001": ("NO ONE WHO HAD EVER SEEN CATHERINE MORLAND'S HOME", 0.5),
        "19-227-0000": ("SHE HAD 3 BROTHERS & 10 SISTERS, IN 1799!", 0.75),
        "26-495-0000": ("IT WAS 'QUITE' THE ROOM", 1.0),
    },
    "dev-clean": {
        "84-121123-0000": ("GO DO YOU HEAR", 0.625),
        "84-121123-0001": ("BUT IN LESS THAN 5 MINUTES THE STAIRCASE GROANED", 1.5),
    },
}


def _load_recipe():
    return load_recipe_script(RECIPE, "librispeech_prepare")


@pytest.fixture(scope="module")
def prepare():
    return _load_recipe()


def make_fake_librispeech(root: Path) -> Path:
    """SUBSET/SPEAKER/CHAPTER/ with a .trans.txt and one flac per line, as LibriSpeech ships."""
    corpus = root / "LibriSpeech"
    rng = np.random.default_rng(0)
    for subset, utterances in FAKE.items():
        chapters: dict[Path, list[str]] = {}
        for utt_id, (text, seconds) in utterances.items():
            speaker, chapter, _ = utt_id.split("-")
            folder = corpus / subset / speaker / chapter
            folder.mkdir(parents=True, exist_ok=True)
            tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * RATE)) / RATE)
            sf.write(folder / f"{utt_id}.flac", (tone + 0.01 * rng.standard_normal(tone.size)).astype(np.float32),
                     RATE, format="FLAC", subtype="PCM_16")
            chapters.setdefault(folder, []).append(f"{utt_id} {text}")
        for folder, lines in chapters.items():
            speaker, chapter = folder.parent.name, folder.name
            (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return corpus


def test_manifests_have_paths_durations_normalised_text_and_speakers(tmp_path, prepare, capsys):
    make_fake_librispeech(tmp_path)
    out = tmp_path / "data"
    # The parent of LibriSpeech/ is accepted too, as people often point at where they unpacked it.
    assert prepare.main(["--corpus", str(tmp_path), "--out", str(out), "--workers", "2"]) == 0
    for subset, utterances in FAKE.items():
        rows = read_manifest(out / f"{subset}.jsonl")
        assert [r["id"] for r in rows] == sorted(utterances)
        for row in rows:
            raw, seconds = utterances[row["id"]]
            speaker, chapter, _ = row["id"].split("-")
            assert Path(row["audio_filepath"]).is_absolute() and Path(row["audio_filepath"]).is_file()
            assert row["duration"] == pytest.approx(seconds, abs=1e-3)
            assert row["text"] == normalize_text(raw)
            assert (row["speaker"], row["chapter"], row["subset"]) == (speaker, chapter, subset)
    by_id = {r["id"]: r for r in read_manifest(out / "train-clean-100.jsonl")}
    assert by_id["19-227-0000"]["text"] == \
        "she had three brothers and ten sisters in seventeen ninety nine"
    assert by_id["19-198-0001"]["text"] == "no one who had ever seen catherine morland's home"
    assert by_id["26-495-0000"]["text"] == "it was quite the room"


def test_rerun_skips_finished_stages_and_resumes_durations(tmp_path, prepare, capsys):
    corpus = make_fake_librispeech(tmp_path)
    out = tmp_path / "data"
    args = ["--corpus", str(corpus), "--out", str(out), "--workers", "1"]
    assert prepare.main(args) == 0
    manifest = out / "dev-clean.jsonl"
    first = manifest.read_text()
    mtime = manifest.stat().st_mtime_ns
    capsys.readouterr()

    assert prepare.main(args) == 0
    printed = capsys.readouterr().out
    for stage in ("transcripts", "durations", "manifests"):
        for subset in FAKE:
            assert f"({stage}/{subset}): done already" in printed
    assert manifest.stat().st_mtime_ns == mtime

    # A run killed in stage 2 left some durations and half a line: the rerun reads only the rest.
    tsv = out / "durations" / "train-clean-100.tsv"
    lines = tsv.read_text().splitlines()
    tsv.write_text("\n".join(lines[:2]) + "\n" + lines[2][:-2])  # cut mid-number
    manifest.unlink()
    (out / "train-clean-100.jsonl").unlink()
    assert prepare.main(args + ["--stage", "2"]) == 0
    printed = capsys.readouterr().out
    assert "stage 2 (durations/dev-clean): done already" in printed
    assert manifest.read_text() == first
    rows = read_manifest(out / "train-clean-100.jsonl")
    assert {r["id"]: r["duration"] for r in rows} == \
        pytest.approx({utt_id: seconds for utt_id, (_, seconds) in FAKE["train-clean-100"].items()}, abs=1e-3)


def test_missing_audio_is_dropped_with_a_note(tmp_path, prepare, capsys):
    corpus = make_fake_librispeech(tmp_path)
    (corpus / "dev-clean" / "84" / "121123" / "84-121123-0001.flac").unlink()
    out = tmp_path / "data"
    assert prepare.main(["--corpus", str(corpus), "--out", str(out), "--subsets", "dev-clean"]) == 0
    assert "dropped 1 with missing or unreadable audio (e.g. 84-121123-0001)" in capsys.readouterr().out
    assert [r["id"] for r in read_manifest(out / "dev-clean.jsonl")] == ["84-121123-0000"]
    assert not (out / "train-clean-100.jsonl").exists()  # only the subsets asked for


@pytest.mark.parametrize("case", ["no corpus", "no subsets", "missing subset"])
def test_bad_corpus_gets_one_line(tmp_path, prepare, capsys, case):
    corpus = tmp_path / "LibriSpeech"
    if case != "no corpus":
        corpus.mkdir()
    extra = ["--subsets", "test-other"] if case == "missing subset" else []
    if case == "missing subset":
        make_fake_librispeech(tmp_path)
    assert prepare.main(["--corpus", str(corpus), "--out", str(tmp_path / "data"), *extra]) == 1
    err = capsys.readouterr().err
    assert err.startswith("prepare.py: error: ") and err.count("\n") == 1


def test_configs_name_the_manifests_prepare_writes():
    import yaml

    from asr.model.checkpoint import config_from_dict

    for name in ("conf_100h.yaml", "conf_960h.yaml"):
        config = yaml.safe_load((RECIPE.parent / name).read_text())
        assert set(config) == {"data", "model", "optim", "augment", "train"}
        for manifest in config["data"]["train_manifests"] + [config["data"]["dev_manifest"]]:
            assert Path(manifest).parent == Path("data/librispeech")
            assert Path(manifest).stem in _load_recipe().SUBSETS
        config_from_dict(config["model"])  # every model key is a real ModelConfig / FeatureConfig field


def test_configs_load_as_training_configs():
    train = pytest.importorskip("asr.training.config")
    for name in ("conf_100h.yaml", "conf_960h.yaml"):
        config = train.load_config(str(RECIPE.parent / name))
        assert config.train.exp_dir.startswith("exp/librispeech_")
