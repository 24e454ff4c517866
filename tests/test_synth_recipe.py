"""recipes/synth/prepare.py: a tiny corpus built end to end, its splits and voices, and restarts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf

from asr.training.manifest import read_manifest, write_manifest
from asr.text import normalize_text
from conftest import load_recipe_script

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "synth" / "prepare.py"
SPLITS = ("train", "dev", "test")


@pytest.fixture(scope="module")
def recipe():
    return load_recipe_script(RECIPE, "synth_prepare")


def _every_training_voice(voices) -> set[str]:
    return {v for engine in voices.training_voices().values() for v in engine}


def test_held_out_voices_never_speak_training_sentences(recipe):
    voices = recipe.voices
    training = _every_training_voice(voices)
    assert len(voices.HELD_OUT_VOICES) >= 2
    assert not training & set(voices.HELD_OUT_VOICES)
    # An espeak variant is one vocal tract in every accent: holding out en-us+m5 holds out en-gb+m5 too.
    for held_out in voices.HELD_OUT_VOICES:
        if held_out.startswith("espeak:"):
            variant = held_out.split("+")[1]
            assert not [v for v in training if v.endswith(f"+{variant}")]
    assert set(voices.training_voices()) == set(voices.ENGINE_MIX) | {"festival"} | set(voices.NATURAL_SHARE)
    assert all(voices.training_voices().values())  # every engine keeps at least one voice


def test_festival_takes_its_share_and_leaves_every_other_utterance_as_it_was(tmp_path, recipe):
    (tmp_path / "text").mkdir()
    for split in SPLITS:
        (tmp_path / "text" / f"{split}.txt").write_text("".join(f"{split} sentence {i}\n" for i in range(50)))
    with_festival = {s: recipe.plan_jobs(tmp_path, s, 400, seed=7, corpus_version=2) for s in SPLITS}
    before_festival = {s: recipe.plan_jobs(tmp_path, s, 400, seed=7, corpus_version=1) for s in SPLITS}

    festival = [job for job in with_festival["train"] if job["voice"].startswith("festival:")]
    assert 0.06 < len(festival) / 400 < 0.18  # FESTIVAL_SHARE is 0.12
    assert {job["voice"] for job in festival} == {f"festival:{v}" for v in recipe.voices.FESTIVAL_VOICES}
    assert not [job for job in with_festival["test"] if job["voice"].startswith("festival:")]
    for split in SPLITS:
        for new, old in zip(with_festival[split], before_festival[split]):
            if not new["voice"].startswith("festival:"):
                assert new == old
            else:  # same sentence and randomness, another voice
                assert {k: v for k, v in new.items() if k != "voice"} == {k: v for k, v in old.items() if k != "voice"}


def test_kokoro_and_rhvoice_take_their_shares_and_leave_every_other_utterance_as_it_was(tmp_path, recipe):
    voices = recipe.voices
    (tmp_path / "text").mkdir()
    for split in SPLITS:
        (tmp_path / "text" / f"{split}.txt").write_text("".join(f"{split} sentence {i}\n" for i in range(50)))
    natural = {s: recipe.plan_jobs(tmp_path, s, 1000, seed=7, corpus_version=3) for s in SPLITS}
    before = {s: recipe.plan_jobs(tmp_path, s, 1000, seed=7, corpus_version=2) for s in SPLITS}
    engines = [job["voice"].split(":")[0] for job in natural["train"]]
    for engine, share in voices.NATURAL_SHARE.items():
        assert abs(engines.count(engine) / 1000 - share) < 0.05
    assert natural["test"] == before["test"]  # the held-out test split is never taken over
    for split in ("train", "dev"):
        for new, old in zip(natural[split], before[split]):
            if new["voice"].split(":")[0] in voices.NATURAL_SHARE:
                assert {k: v for k, v in new.items() if k != "voice"} == {k: v for k, v in old.items() if k != "voice"}
            else:
                assert new == old

    # test_natural reads test's sentences with held-out Kokoro speakers only, never heard in training.
    held_out = recipe.plan_jobs(tmp_path, "test_natural", 200, seed=7, corpus_version=3)
    assert {job["text"] for job in held_out} <= {f"test sentence {i}" for i in range(50)}
    heard = {name for job in natural["train"] + natural["dev"] if job["voice"].startswith("kokoro:")
             for _, name in voices.parse_kokoro_voice(job["voice"].split(":", 1)[1])}
    spoken = {name for job in held_out for _, name in voices.parse_kokoro_voice(job["voice"].split(":", 1)[1])}
    assert spoken == set(voices.KOKORO_HELD_OUT) and not heard & spoken
    assert len({job["voice"] for job in held_out}) > len(voices.KOKORO_HELD_OUT)  # blends too


def test_the_conversation_split_is_training_only_small_talk(tmp_path, recipe):
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "dev.txt").write_text("hello\ngood morning\n")
    (tmp_path / "text" / "test.txt").write_text("thank you very much\n")
    recipe.stage_conversation_text(tmp_path, 7, 500)
    lines = (tmp_path / "text" / "conversation.txt").read_text().splitlines()
    assert 400 < len(lines) <= 500 and "hello world" in lines
    assert not {"hello", "good morning", "thank you very much"} & set(lines)  # never a dev or test sentence
    jobs = recipe.plan_jobs(tmp_path, "conversation", 300, seed=7)
    training = _every_training_voice(recipe.voices)
    assert {job["voice"] for job in jobs} <= training and {job["text"] for job in jobs} <= set(lines)


def test_the_sampled_split_draws_distinct_sentences_from_a_trigram_model(tmp_path, recipe):
    arpa = tmp_path / "lm.arpa"
    arpa.write_text("\\data\\\nngram 1=8\nngram 2=8\nngram 3=1\n\n\\1-grams:\n-99 <s> -0.3\n-0.8 </s>\n"
                    "-1.0 the -0.2\n-1.0 cat -0.2\n-1.0 sat -0.2\n-1.0 on -0.2\n-1.0 mat -0.2\n-1.0 a. -0.2\n\n"
                    "\\2-grams:\n-0.1 <s> the\n-0.3 the cat\n-0.4 the mat\n-0.2 cat sat\n-0.2 sat on\n"
                    "-0.1 on the\n-0.3 mat </s>\n-0.5 cat </s>\n\n\\3-grams:\n-0.05 sat on the\n\n\\end\\\n")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "dev.txt").write_text("the cat sat on the mat\n")
    (tmp_path / "text" / "test.txt").write_text("the mat\n")
    recipe.stage_sampled_text(tmp_path, 7, 20, arpa)
    lines = (tmp_path / "text" / "sampled.txt").read_text().splitlines()
    assert len(lines) == len(set(lines)) == 20
    assert "the cat sat on the mat" not in lines  # never a dev or test sentence
    assert all(4 <= len(line.split()) <= recipe.MAX_WORDS and "a." not in line.split() for line in lines)
    assert all(set(line.split()) <= {"the", "cat", "sat", "on", "mat"} for line in lines)
    (tmp_path / "text" / "sampled.txt").rename(tmp_path / "first.txt")
    recipe.stage_sampled_text(tmp_path, 7, 20, arpa)
    assert (tmp_path / "text" / "sampled.txt").read_text() == (tmp_path / "first.txt").read_text()  # seeded
    jobs = recipe.plan_jobs(tmp_path, "sampled", 30, seed=7, corpus_version=4)
    assert {job["voice"] for job in jobs} <= _every_training_voice(recipe.voices)
    assert {job["text"] for job in jobs} <= set(lines)


def test_kokoro_blends_are_reproducible_weighted_mixes(recipe):
    voices = recipe.voices
    blends = voices.kokoro_blends(["af_heart", "bf_emma", "am_adam"], 5, "seed")
    assert blends == voices.kokoro_blends(["af_heart", "bf_emma", "am_adam"], 5, "seed")
    assert len(set(blends)) == 5
    for blend in blends:
        terms = voices.parse_kokoro_voice(blend.split(":", 1)[1])
        assert 2 <= len(terms) <= 3 and abs(sum(w for w, _ in terms) - 1) < 0.02
    assert voices.parse_kokoro_voice("af_heart") == [(1.0, "af_heart")]


@pytest.mark.slow
def test_a_kokoro_blend_speaks_a_sentence(recipe):
    if not (recipe.voices.KOKORO_DIR / "vocab.json").is_file():
        pytest.skip("Kokoro's files are fetched by recipes/synth/fetch_voices.py")
    samples, rate = recipe.voices.synthesize("kokoro:0.5*af_heart+0.5*bf_emma", "turn on the lights", 1.0, 0.5)
    assert rate == 24_000 and 0.6 < samples.size / rate < 4 and 0.05 < abs(samples).max() <= 1.5


@pytest.mark.slow
def test_tiny_corpus_is_built_split_and_restartable(tmp_path, monkeypatch, capsys, recipe):
    monkeypatch.setattr(recipe, "BABBLE_BANK_SIZE", 8)  # babble mixes up to 7 of them
    out = tmp_path / "synth"
    # Version 2: its engines come with `make setup`; version 3's need fetch_voices.py (root, non-free).
    args = ["--out", str(out), "--train-utterances", "10", "--heldout-utterances", "4", "--workers", "2",
            "--corpus-version", "2"]
    recipe.main(args)
    first_run = capsys.readouterr().out

    # Manifests: every row has the documented fields and points at 16 kHz audio of its duration.
    manifests = {split: read_manifest(out / f"{split}.jsonl") for split in SPLITS}
    assert [len(manifests[s]) for s in SPLITS] == [10, 4, 4], first_run
    for rows in manifests.values():
        for row in rows:
            assert {"audio_filepath", "duration", "text", "voice"} <= set(row)
            info = sf.info(row["audio_filepath"])
            assert info.samplerate == 16_000 and info.channels == 1
            assert info.frames / 16_000 == pytest.approx(row["duration"], abs=1e-3)
            assert row["text"] and row["text"] == normalize_text(row["text"])

    # The sentence splits are disjoint, over the whole text pools, not just the utterances made here.
    texts = {s: set((out / "text" / f"{s}.txt").read_text().split("\n")) - {""} for s in SPLITS}
    assert not texts["train"] & texts["dev"] and not texts["train"] & texts["test"] and not texts["dev"] & texts["test"]
    assert all(row["text"] in texts[split] for split, rows in manifests.items() for row in rows)

    # Test is spoken only by held-out voices, train and dev only by training voices.
    held_out, training = set(recipe.voices.HELD_OUT_VOICES), _every_training_voice(recipe.voices)
    assert {r["voice"] for r in manifests["test"]} <= held_out
    assert {r["voice"] for r in manifests["train"] + manifests["dev"]} <= training

    # Every row says what kind of text was read, and says it right.
    fortunes, dictionary = set(recipe.fortune_sentences()), set(recipe.dictionary_words())
    for row in [r for rows in manifests.values() for r in rows]:
        words = row["text"].split()
        assert (row["text_source"] == "fortune") == (row["text"] in fortunes)
        if row["text_source"] == "words":  # 3-8 dictionary words; a phrase may be that too
            assert 3 <= len(words) <= 8 and set(words) <= dictionary
        assert row["text_source"] in recipe.TEXT_SOURCES
    assert "fortune" in {r["text_source"] for r in manifests["train"]}  # 10 utterances, about half fortunes

    # A corpus made before the labels: stage 1 labels the texts it has, stage 4 adds them to the rows.
    for split in SPLITS:
        (out / "text" / f"{split}.source.txt").unlink()
        write_manifest(out / f"{split}.jsonl", [{k: v for k, v in r.items() if k != "text_source"}
                                                for r in manifests[split]])
    recipe.main(args + ["--stop-stage", "1"])
    assert "labelling the existing texts with their sources" in capsys.readouterr().out
    recipe.main(args + ["--stage", "4"])
    assert {s: read_manifest(out / f"{s}.jsonl") for s in SPLITS} == manifests
    # Texts this seed would not make again (other fortune packages, say) are left unlabelled.
    other = tmp_path / "other"
    (other / "text").mkdir(parents=True)
    for split in SPLITS:
        (other / "text" / f"{split}.txt").write_text("some other sentence\n")
    recipe.stage_text(other, seed=1234, heldout_sentences=4)
    assert "their sources stay unlabelled" in capsys.readouterr().out
    assert not list((other / "text").glob("*.source.txt")) and recipe.text_sources(other, "train") == {}

    # A second run finds every stage done and rewrites no audio.
    wav_times = {p: p.stat().st_mtime_ns for p in (out / "audio").rglob("*.wav")}
    recipe.main(args)
    second_run = capsys.readouterr().out
    for done in ("stage 1 (text): done already", "stage 2 (babble): done already",
                 "stage 3 (audio/train): done already", "stage 3 (audio/test): done already"):
        assert done in second_run
    assert {p: p.stat().st_mtime_ns for p in wav_times} == wav_times

    # A run killed in stage 3: the last rows never made it to disk and one was cut mid-line.
    rows_path = out / "train.rows.jsonl"
    lines = rows_path.read_text().splitlines()
    lost = [json.loads(line)["id"] for line in lines[-3:]]
    rows_path.write_text("\n".join(lines[:-3]) + '\n{"id": "train-0000')
    recipe.main(args)
    assert "stage 3 (audio/train)" in capsys.readouterr().err  # its progress bar ran again
    rebuilt = read_manifest(out / "train.jsonl")
    assert [(r["id"], r["text"], r["voice"]) for r in rebuilt] == [(r["id"], r["text"], r["voice"]) for r in manifests["train"]]
    untouched = [p for p in wav_times if p.parent.parent.name == "train" and p.stem not in lost]
    assert len(untouched) == 7 and all(p.stat().st_mtime_ns == wav_times[p] for p in untouched)

    # A new corpus version gives utterances another voice: just those are made again, and the
    # manifest has their new rows. (Here every train and dev utterance goes to Festival.)
    monkeypatch.setattr(recipe.voices, "FESTIVAL_SHARE", 1.0)
    recipe.main(args)
    assert "stage 3 (audio/test): done already" in capsys.readouterr().out
    revoiced = {s: read_manifest(out / f"{s}.jsonl") for s in SPLITS}
    assert [len(revoiced[s]) for s in SPLITS] == [10, 4, 4]
    assert {r["voice"].split(":")[0] for r in revoiced["train"] + revoiced["dev"]} == {"festival"}
    assert [r["text"] for r in revoiced["train"]] == [r["text"] for r in manifests["train"]]
    assert revoiced["test"] == manifests["test"]
    assert all(sf.info(r["audio_filepath"]).frames / 16_000 == pytest.approx(r["duration"], abs=1e-3)
               for r in revoiced["train"])

    # And --corpus-version 1 takes them back to the voices they had before Festival.
    recipe.main(args + ["--corpus-version", "1", "--stage", "3"])
    capsys.readouterr()
    version_1 = recipe.plan_jobs(out, "train", 10, seed=1234, corpus_version=1)  # 1234: prepare.py's default
    assert not [job for job in version_1 if job["voice"].startswith("festival:")]
    back = read_manifest(out / "train.jsonl")
    assert [(r["id"], r["text"], r["voice"]) for r in back] == [(j["id"], j["text"], j["voice"]) for j in version_1]

    # Asking for fewer utterances than were made gives the smaller set, not everything on disk.
    recipe.main([*args[:3], "6", *args[4:], "--stage", "4"])
    assert [r["id"] for r in read_manifest(out / "train.jsonl")] == [r["id"] for r in manifests["train"][:6]]

    # --subset also writes a manifest of a range of training utterances, the way a stage picks a redraw.
    recipe.main(args + ["--stage", "4", "--subset", "train_tail", "7", "10"])
    assert read_manifest(out / "train_tail.jsonl") == read_manifest(out / "train.jsonl")[7:]
    assert "train_tail: 3 utterances" in capsys.readouterr().out
    for bad in (["train_tail", "7", "11"], ["train_tail", "7", "7"], ["train", "0", "5"], ["../x", "0", "5"]):
        with pytest.raises(SystemExit):
            recipe.main(args + ["--stage", "4", "--subset", *bad])
    assert "needs a new name and 0 <= FIRST < END <= --train-utterances (10)" in capsys.readouterr().err

    # Stage 3 without stage 2's babble bank: one line, not worker processes restarted forever.
    (out / "babble.npz").unlink()
    with pytest.raises(SystemExit, match=r"babble.npz is missing; run stages 1 and 2 first"):
        recipe.main(args + ["--stage", "3"])


def test_recipe_configs_load_and_the_bundle_was_trained_by_the_config_the_recipe_names():
    import dataclasses

    from asr.model.checkpoint import default_checkpoint, read_checkpoint
    from asr.training.config import load_config

    configs = {path.name: load_config(str(path)) for path in sorted(RECIPE.parent.glob("*.yaml"))}
    stages = ["whisper_tiny.yaml", "whisper_tiny_ft.yaml", "whisper_tiny_ft_cycle2.yaml", "whisper_base.yaml"]
    assert {"small.yaml", *stages} <= set(configs)
    assert len({config.train.exp_dir for config in configs.values()}) == len(configs)  # no two share a place
    run = (RECIPE.parent / "run.sh").read_text()
    # The bundle's training stages, in order: each starts from the one before's average (the base
    # stage from it moved onto Whisper base's encoder), and the last one's output is what the
    # later stages pack and bundle.
    positions = [run.index(f"asr train --config recipes/synth/{name}") for name in stages]
    assert positions == sorted(positions)
    for before, after in zip(stages[:-2], stages[1:-1]):
        assert configs[after].train.init_from == f"{configs[before].train.exp_dir}/averaged.pt"
    swap = run[run.index("-m asr.training.swap_listener"):positions[-1]]
    assert f"--checkpoint {configs[stages[-2]].train.exp_dir}/averaged.pt" in swap
    assert f"--out {configs[stages[-1]].train.init_from}" in swap
    assert f"--listener {configs[stages[-1]].model['listener']}" in swap
    assert f"exp={configs[stages[-1]].train.exp_dir} " in run
    trained_by = json.loads(read_checkpoint(default_checkpoint())["metadata"]["config"])
    config = dataclasses.asdict(configs[stages[-1]])
    for section in ("model", "optim", "data"):
        assert trained_by[section] == config[section], section
