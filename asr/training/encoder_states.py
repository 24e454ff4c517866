"""A cache of a frozen encoder's states, for training the layers above it on a CPU.

Whisper's encoder does not train here, so running it on every training utterance at
every epoch would repeat the same work.  :func:`cache_states` runs it once per utterance,
exactly as serving does (:func:`asr.audio.io.normalize_level`, then the model's own
front end and encoder), and stores each utterance's states as one fp16 ``.npy``.
A kill at any moment loses at most the batch in flight; a rerun skips what is done, and
redoes an utterance whose audio was made again after its states (a new corpus version).
``meta.json`` records which encoder made the states, and training refuses states from
another one.

    python -m asr.training.encoder_states --encoder exp/whisper_tiny_encoder.pt --listener whisper-tiny \
        --manifest data/synth/train.jsonl data/synth/dev.jsonl --out data/synth/states/whisper-tiny
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from asr.audio.io import SAMPLE_RATE, AudioError, load_audio, normalize_level
from asr.files import atomic_path, write_atomic
from asr.text import normalize_text
from asr.model.vocab import Vocabulary

META_NAME = "meta.json"
BATCH_SECONDS = 120.0  # audio encoded together; padding-invariant, so it changes speed only


class StatesError(ValueError):
    """A states folder that does not belong to this model; the message is one line."""


def state_path(states_dir, audio_filepath: str) -> Path:
    """Where one utterance's states live: named by a hash of its audio path, 256 subfolders."""
    key = hashlib.sha1(str(audio_filepath).encode()).hexdigest()
    return Path(states_dir) / key[:2] / f"{key}.npy"


def has_fresh_states(states_dir, audio_filepath: str) -> bool:
    """Whether the stored states exist and are newer than the audio they were computed from."""
    target = state_path(states_dir, audio_filepath)
    try:
        return target.stat().st_mtime_ns >= Path(audio_filepath).stat().st_mtime_ns
    except FileNotFoundError:
        return False


def encoder_identity(model) -> dict:
    """What the cached states depend on: the listener kind, its weights' origin, the window rule."""
    return {"listener": model.config.listener, "pad_to_window": model.config.pad_to_window,
            "encoder_sha256": model.metadata.get("pretrained_encoder", {}).get("sha256", "")}


def check_meta(states_dir, model) -> None:
    """Raise :class:`StatesError` unless ``states_dir`` was made by this model's encoder."""
    meta_path = Path(states_dir) / META_NAME
    if not meta_path.is_file():
        raise StatesError(f"{states_dir}: no {META_NAME}; make the states with python -m asr.training.encoder_states")
    theirs = json.loads(meta_path.read_text())
    ours = encoder_identity(model)
    different = [k for k in ours if theirs.get(k) != ours[k]]
    if different:
        raise StatesError(f"{states_dir}: states of another encoder ("
                          + ", ".join(f"{k} {theirs.get(k)!r} there, {ours[k]!r} here" for k in different) + ")")


@torch.no_grad()
def cache_states(model, rows: list[dict], states_dir, progress: bool = True) -> dict:
    """Compute and store the frozen encoder's states of every row not already stored.

    Returns counts: ``done`` (stored now), ``skipped`` (already there), ``failed`` (unreadable audio),
    ``too_long`` (over Whisper's 30-second window: no utterance to train on).
    """
    if not model.pretrained:
        raise StatesError(f"the {model.config.listener} listener trains end to end; it has no states to cache")
    states_dir = Path(states_dir)
    states_dir.mkdir(parents=True, exist_ok=True)
    meta_path = states_dir / META_NAME
    if meta_path.is_file():
        check_meta(states_dir, model)
    else:
        write_atomic(meta_path, json.dumps(encoder_identity(model), indent=1) + "\n")
    model.eval()
    from asr.model.whisper import WINDOW_SECONDS

    fits = [r for r in rows if float(r["duration"]) <= WINDOW_SECONDS]  # longer ones are no training utterances
    todo = [r for r in fits if not has_fresh_states(states_dir, r["audio_filepath"])]
    counts = {"done": 0, "skipped": len(fits) - len(todo), "failed": 0, "too_long": len(rows) - len(fits)}
    todo.sort(key=lambda r: float(r["duration"]))  # similar lengths together: less padding
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc="encoder states", unit="utt", disable=not progress, dynamic_ncols=True)
    batch: list[tuple[dict, np.ndarray]] = []

    def flush():
        lengths = torch.tensor([samples.size for _, samples in batch])
        waveforms = torch.zeros(len(batch), int(lengths.max()))
        for i, (_, samples) in enumerate(batch):
            waveforms[i, : samples.size] = torch.from_numpy(samples)
        feats, frame_lengths = model.frontend(waveforms, lengths)
        states, state_lengths = model.listener.pretrained_states(feats, frame_lengths)
        for (row, _), s, n in zip(batch, states, state_lengths.tolist()):
            target = state_path(states_dir, row["audio_filepath"])
            target.parent.mkdir(exist_ok=True)
            with atomic_path(target) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, s[:n].numpy().astype(np.float16))
        counts["done"] += len(batch)
        bar.update(len(batch))
        batch.clear()

    longest = 0.0
    for row in todo:
        try:
            samples = normalize_level(load_audio(row["audio_filepath"]))
        except AudioError as error:
            print(f"warning: no states for an unreadable utterance: {error}", file=sys.stderr)
            counts["failed"] += 1
            bar.update(1)
            continue
        longest = max(longest, samples.size / SAMPLE_RATE)
        if batch and longest * (len(batch) + 1) > BATCH_SECONDS:
            flush()
            longest = samples.size / SAMPLE_RATE
        batch.append((row, samples))
    if batch:
        flush()
    bar.close()
    return counts


class EncoderStateDataset(Dataset):
    """(cached states (T, D) float32, character ids) pairs for manifest rows."""

    def __init__(self, rows: list[dict], vocabulary: Vocabulary, states_dir):
        self.rows, self.states_dir = rows, Path(states_dir)
        self.targets = [vocabulary.encode(normalize_text(r["text"])) for r in rows]

    def set_epoch(self, epoch: int) -> None:  # nothing random here: the masks are in the model
        pass

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path = state_path(self.states_dir, self.rows[index]["audio_filepath"])
        try:
            states = np.load(path)
        except (OSError, ValueError) as error:
            raise StatesError(f"{path}: missing or unreadable states of {self.rows[index]['audio_filepath']} "
                              f"({type(error).__name__}); run python -m asr.training.encoder_states again") from None
        return torch.from_numpy(states.astype(np.float32)), torch.tensor(self.targets[index], dtype=torch.long)


def collate_states(batch: list[tuple[torch.Tensor, torch.Tensor]]):
    """Pad a list of (states, target) to (B, T, D), (B,), (B, U), (B,)."""
    lengths = torch.tensor([s.shape[0] for s, _ in batch])
    target_lengths = torch.tensor([t.numel() for _, t in batch])
    states = torch.zeros(len(batch), int(lengths.max()), batch[0][0].shape[1])
    targets = torch.zeros(len(batch), max(int(target_lengths.max()), 1), dtype=torch.long)
    for i, (s, t) in enumerate(batch):
        states[i, : s.shape[0]] = s
        targets[i, : t.numel()] = t
    return states, lengths, targets, target_lengths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", required=True, help="encoder weights from python -m asr.model.ctranslate2")
    parser.add_argument("--listener", default="whisper-tiny", help="the listener kind the weights are for")
    parser.add_argument("--pad-to-window", action="store_true", help="encode each utterance in a 30-s window")
    parser.add_argument("--manifest", required=True, nargs="+", help="JSONL manifest(s) of the utterances")
    parser.add_argument("--out", required=True, help="the states folder")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    args = parser.parse_args(argv)
    from asr.model.ctranslate2 import fill_pretrained_listener
    from asr.training.manifest import read_manifest
    from asr.model.las import LAS, ModelConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = LAS(ModelConfig(listener=args.listener, pad_to_window=args.pad_to_window))
        fill_pretrained_listener(model, args.encoder)
        rows = [r for m in args.manifest for r in read_manifest(m)]
        counts = cache_states(model, rows, args.out)
    except (StatesError, ValueError, OSError) as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"{args.out}: {counts['done']} stored, {counts['skipped']} already there, "
          f"{counts['failed']} unreadable, {counts['too_long']} over 30 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
