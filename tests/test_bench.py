"""bench/: the whole benchmark runs in quick mode on three espeak-ng clips and a tiny random model.

pocketsphinx is the benchmark's own requirement (bench/requirements.txt), not the
package's: when it is missing, the run passes --no-peer and its rows must say so.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.audio import SAMPLE_RATE
from asr.checkpoint import save_checkpoint
from asr.language_model import CharLanguageModel, LanguageModelConfig
from asr.lexicon import Lexicon
from asr.manifest import write_manifest
from asr.model import LAS, ModelConfig
from asr.transcribe import MAX_SEGMENT_SECONDS
from conftest import speak

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import peer  # noqa: E402  (bench/ is a folder of scripts, not a package)
import report  # noqa: E402
import run_all  # noqa: E402

CLIPS = [("one", "en-us", "Turn left at the 2nd light.", "phrase"),  # (name, voice, text, text_source)
         ("two", "en-gb", "She sells sea shells by the sea shore", "fortune"),
         ("three", "en-us", "It's 5:30 & raining", "fortune")]
HUMAN_CLIPS = ("Front_Left", "Rear_Right")
SCALING_SECONDS = (10, 25)  # 25 s is past MAX_SEGMENT_SECONDS: both systems cut it at pauses
TINY_TRAINING = ["model.encoder_hidden=32", "model.encoder_layers=2", "model.decoder_hidden=32",
                 "model.attention_dim=32", "model.embedding_dim=16"]


def test_peer_reads_audio_as_asr_does():
    assert peer.SAMPLE_RATE == SAMPLE_RATE
    assert peer.MAX_SEGMENT_SECONDS == MAX_SEGMENT_SECONDS


def test_both_sides_are_normalised_before_scoring():
    rows = [{"text": "Call me at 5:30 & bring $20!", "voice": "a", "text_source": "phrase"},
            {"text": "Yes.", "voice": "b", "text_source": "fortune"}, {"text": "Yes.", "voice": "b"}]
    scores = run_all.score(rows, ["CALL ME AT FIVE THIRTY AND BRING TWENTY DOLLARS", "no", "yes"])
    assert scores["by_voice"]["a"]["wer"] == 0.0
    assert scores["by_voice"]["b"]["wer"] == 0.5
    assert {k: v["wer"] for k, v in scores["by_text_source"].items()} == {"phrase": 0.0, "fortune": 1.0, "?": 0.0}
    assert scores["wer"] == pytest.approx(1 / 11)  # one error in eleven reference words


def _human_speech_dir(root: Path) -> Path:
    """Stand-ins for alsa-utils' recordings: named as they are, plus the noise file that is not speech."""
    directory = root / "alsa"
    directory.mkdir()
    for name in HUMAN_CLIPS:
        speak(name.replace("_", " "), directory / f"{name}.wav", "en-us")
    sf.write(directory / "Noise.wav", np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32), 16000)
    return directory


def test_rows_run_only_when_the_checkpoint_has_what_they_use():
    plain = {"language_model_parameters": 0, "lexicon_words": 0}
    with_lm = {"language_model_parameters": 1000, "lexicon_words": 0}
    full = {"language_model_parameters": 1000, "lexicon_words": 10}
    names = {key: [d.name for d in run_all.DECODINGS if run_all.runnable(d, info)]
             for key, info in (("plain", plain), ("with_lm", with_lm), ("full", full))}
    assert names["full"] == [d.name for d in run_all.DECODINGS]
    assert names["with_lm"] == [n for n in names["full"] if "lexicon" not in n]
    assert names["plain"] == ["greedy", "beam 5", "beam 5 + CTC 0.3"]


def test_human_speech_transcripts_come_from_file_names(tmp_path):
    rows = run_all.human_speech_rows(_human_speech_dir(tmp_path))
    assert [(r["id"], r["text"]) for r in rows] == [("Front_Left", "front left"), ("Rear_Right", "rear right")]
    assert all(r["duration"] > 0.3 and Path(r["audio_filepath"]).is_file() for r in rows)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    model = LAS(ModelConfig(encoder_hidden=32, encoder_layers=2, decoder_hidden=32, attention_dim=32, embedding_dim=16))
    model.language_model = CharLanguageModel(LanguageModelConfig(hidden=16))  # so the LM rows run too
    model.lexicon = Lexicon(["front", "left", "rear", "right", "the", "a"])  # and the lexicon's
    save_checkpoint(model.eval(), root / "tiny.pt")
    rows = []
    for name, voice, text, source in CLIPS:
        speak(text, root / f"{name}.wav", voice)  # espeak-ng's own rate, 22.05 kHz: both systems resample
        rows.append({"id": name, "audio_filepath": f"{name}.wav", "duration": sf.info(root / f"{name}.wav").duration,
                     "text": text, "voice": voice, "text_source": source})
    write_manifest(root / "test.jsonl", rows)
    # Two of the clips stand in for recordings of people (the Asterisk recipe's manifest).
    write_manifest(root / "people.jsonl", [dict(row, voice="human:stand-in") for row in rows[:2]])
    command = [sys.executable, "bench/run_all.py", "--quick", "--manifest", str(root / "test.jsonl"),
               "--human-manifest", str(root / "people.jsonl"), "--human-utterances", "2",
               "--human-speech", str(_human_speech_dir(root)),
               "--utterances", "3", "--checkpoint", str(root / "tiny.pt"),
               "--scaling", ",".join(map(str, SCALING_SECONDS)), "--train-steps", "2", "--train-warmup-steps", "1",
               "--train-override", f"data.train_manifests=[{root / 'test.jsonl'}]",
               *[f"--train-override={o}" for o in TINY_TRAINING],
               "--output", str(root / "BENCHMARKS.md"), "--results-dir", str(root / "results")]
    if not peer.available():
        command.append("--no-peer")
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results, = (root / "results").glob("*.json")
    return root, (root / "BENCHMARKS.md").read_text(), json.loads(results.read_text())


def _rows(markdown: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under ``## heading``, as lists of cells."""
    section = markdown.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    table = section[section.index("\n|") + 1:].split("\n\n", 1)[0]  # the first table only
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]


@pytest.mark.slow
def test_quick_run_writes_every_table(quick_run):
    root, markdown, results = quick_run
    assert "    bash bench/run.sh\n" in markdown  # the command that reproduces it, at the top
    assert f"--manifest {root / 'test.jsonl'}" in markdown  # and the exact command of this run

    rows = _rows(markdown, "Accuracy, speed and memory on the held-out voices")
    ours = [(r[1], r[2]) for r in rows if r[0] == "ours"]
    assert ours == [(d, b) for d, *_, batched in run_all.DECODINGS for b in (("1", "8") if batched else ("1",))]
    percent = re.compile(r"\d+\.\d %")
    for row in rows[:-1]:
        assert percent.fullmatch(row[3]) and percent.fullmatch(row[4]), row  # WER, CER
        assert float(row[5]) > 0 and float(row[6]) > 0 and float(row[8]) > 0, row  # RTFs, peak RSS
    peer_rows = [r for r in rows if r[0] == "pocketsphinx"]
    if peer.available():
        assert peer_rows[0][2] == "1" and percent.fullmatch(peer_rows[0][3])
        assert "no batched decoding" in peer_rows[1][2]
    else:
        assert "not run" in peer_rows[0][2]

    kinds = _rows(markdown, "Per kind of text")
    assert [(r[0], r[2]) for r in kinds] == [("`fortune`", "13"), ("`phrase`", "6")]  # words, normalised
    assert all(percent.fullmatch(r[3]) and percent.fullmatch(r[4]) for r in kinds)

    human = _rows(markdown, "Human speech")
    wanted = [("ours", d) for d, *_ in run_all.HUMAN_DECODINGS] + ([("pocketsphinx", "default")] * peer.available())
    assert [(r[0], r[1]) for r in human] == wanted
    both = re.compile(r"\d+\.\d % / \d+\.\d %")
    for row in human:  # WER and CER overall, then per source: the stand-ins and the alsa-utils clips
        assert percent.fullmatch(row[2]) and percent.fullmatch(row[3]) and len(row) == 6, row
        assert both.fullmatch(row[4]) and both.fullmatch(row[5]), row
    assert "`human:stand-in` WER / CER" in markdown and "Left out" not in markdown
    if peer.available():  # with the configuration chosen on the synthetic set, not the best on people
        summary = markdown.split("## Summary", 1)[1]
        best = re.search(r"our best configuration \(([^)]*)\)", summary).group(1)
        assert f"- **On human speech** (4 recordings of people): ours ({best}) has WER" in summary
    said = markdown.split("## Human speech", 1)[1].split("\n## ", 1)[0].split("| Said", 1)[1]
    said_rows = [line.split("|")[1].strip() for line in said.splitlines() if line.startswith("| `")]
    assert said_rows == ["`front left`", "`rear right`"]  # one row per recording; Noise.wav is not speech

    scaling = _rows(markdown, "Scaling with audio length")
    systems = 2 if peer.available() else 1
    assert len(scaling) == systems * len(SCALING_SECONDS)
    for row, seconds in zip(scaling, SCALING_SECONDS * systems):  # ours first, each system by length
        assert float(row[1]) >= seconds and float(row[3]) > 0

    training = _rows(markdown, "Training throughput")
    assert training[0][1].startswith("CPU") and float(training[0][-1].strip("*")) > 0
    assert "GPU" in training[-1][1]
    assert "## Project targets" in markdown and "## Summary" in markdown


@pytest.mark.slow
def test_peer_process_holds_no_torch(quick_run):
    _, _, results = quick_run
    if not peer.available():
        pytest.skip("pocketsphinx is not installed (pip install -r bench/requirements.txt)")
    peer_runs = [r for r in results["test_runs"] + results["scaling_runs"] if r["system"] == "pocketsphinx"]
    assert peer_runs and not any(r["torch_loaded"] for r in peer_runs)


@pytest.mark.slow
def test_missing_human_speech_is_said_not_hidden(quick_run):
    _, _, results = quick_run
    human = results["human_speech"]
    for source in human["sources"].values():
        source["missing"] = True
    markdown = report.render(dict(results, human_speech=dict(human, runs=[])))
    section = markdown.split("## Human speech", 1)[1].split("\n## ", 1)[0]
    assert "Not measured" in section and "people.jsonl" in section and "alsa" in section


@pytest.mark.slow
def test_saved_results_render_the_same_report(quick_run, tmp_path):
    root, markdown, _ = quick_run
    saved, = (root / "results").glob("*.json")
    run_all.main(["--report-from", str(saved), "--output", str(tmp_path / "again.md")])
    assert (tmp_path / "again.md").read_text() == markdown


def test_level_robustness_prints_one_line_per_level(tmp_path):
    model = LAS(ModelConfig(encoder_hidden=32, encoder_layers=2, decoder_hidden=32, attention_dim=32, embedding_dim=16))
    save_checkpoint(model.eval(), tmp_path / "tiny.pt")
    speak("turn left", tmp_path / "a.wav")
    rows = [{"audio_filepath": str(tmp_path / "a.wav"), "duration": 1.0, "text": "turn left", "voice": "v"}]
    write_manifest(tmp_path / "m.jsonl", rows)
    script = [sys.executable, "bench/level_robustness.py", "--manifest", str(tmp_path / "m.jsonl"),
              "--checkpoint", str(tmp_path / "tiny.pt"), "--levels", "-6", "-70"]
    done = subprocess.run(script + ["--voice", "v"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("1 clip of v") and len(lines) == 4  # as recorded, -6, -70
    assert lines[3].strip() == "peak -70 dBFS: CER 100.0 %   empty 1/1"  # below the silence floor: nothing
    missing = subprocess.run(script + ["--voice", "nobody"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "no clips" in missing.stderr


def test_channel_copy_writes_what_an_8khz_or_telephone_channel_delivers(tmp_path):
    import numpy as np
    import soundfile as sf

    from asr.manifest import read_manifest

    t = np.arange(16_000) / 16_000
    tones = (0.3 * np.sin(2 * np.pi * 1_000 * t) + 0.3 * np.sin(2 * np.pi * 6_000 * t)).astype(np.float32)
    sf.write(tmp_path / "a.wav", tones, 16_000)
    rows = [{"audio_filepath": str(tmp_path / "a.wav"), "duration": 1.0, "text": "two tones", "voice": "v"}]
    write_manifest(tmp_path / "m.jsonl", rows)

    def copy(channel):
        out = tmp_path / channel
        done = subprocess.run([sys.executable, "bench/channel_copy.py", str(tmp_path / "m.jsonl"), str(out),
                               "--channel", channel], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        copied, = read_manifest(out / "manifest.jsonl")
        assert {k: v for k, v in copied.items() if k != "audio_filepath"} == {k: v for k, v in rows[0].items()
                                                                              if k != "audio_filepath"}
        return sf.read(copied["audio_filepath"], dtype="float32")

    def level_at(samples, rate, hz):
        spectrum = np.abs(np.fft.rfft(samples)) / len(samples)
        return spectrum[int(round(hz * len(samples) / rate))]

    narrow, rate = copy("8k")
    assert rate == 8_000 and len(narrow) == 8_000  # 6 kHz cannot exist at 8 kHz; 1 kHz survives
    assert level_at(narrow, rate, 1_000) > 0.1
    phone, rate = copy("telephone")
    assert rate == 16_000 and level_at(phone, rate, 1_000) > 20 * level_at(phone, rate, 6_000)
    assert level_at(tones, 16_000, 6_000) > 0.1  # the 6 kHz tone was there before

    gone = subprocess.run([sys.executable, "bench/channel_copy.py", str(tmp_path / "nope.jsonl"), str(tmp_path / "x")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert gone.returncode == 1 and gone.stderr.count("\n") == 1 and "no such manifest" in gone.stderr


def test_train_speed_prints_only_its_json_when_starting_from_a_checkpoint(tmp_path):
    model = LAS(ModelConfig(encoder_hidden=32, encoder_layers=2, decoder_hidden=32, attention_dim=32, embedding_dim=16))
    save_checkpoint(model.eval(), tmp_path / "tiny.pt")
    speak("turn left at the light", tmp_path / "a.wav")
    rows = [{"audio_filepath": str(tmp_path / "a.wav"), "duration": 2.0, "text": "turn left at the light"}]
    write_manifest(tmp_path / "m.jsonl", rows)
    done = subprocess.run([sys.executable, "bench/train_speed.py", "--steps", "1", "--warmup-steps", "1",
                           f"data.train_manifests=[{tmp_path / 'm.jsonl'}]", "data.num_workers=0",
                           f"train.init_from={tmp_path / 'tiny.pt'}", *TINY_TRAINING],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "initialised from" in done.stderr  # the trainer's message, kept, but out of the JSON's way
    result = json.loads(done.stdout)  # the whole of stdout is one JSON object
    assert result["steps"] == 1 and result["audio_s"] > 0
