"""Training data: utterances from manifests, on-the-fly augmentation, duration-bucketed batches.

Batches are built by :class:`DurationBucketSampler` so that each holds about
``max_batch_seconds`` of padded audio: many short utterances or a few long
ones, with little padding.  The batch order is a pure function of
``(seed, epoch)``, and augmentation randomness of ``(seed, epoch, index)``,
so a resumed run sees exactly the batches the killed run would have.
"""

from __future__ import annotations

import math
import random
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from asr.audio import augment
from asr.audio.io import AudioError, load_audio
from asr.text import normalize_text
from asr.model.vocab import Vocabulary


@dataclass
class AugmentConfig:
    """Waveform augmentation applied on the fly in training (SpecAugment/VTLP live in FeatureConfig)."""

    speed_factors: list[float] = field(default_factory=lambda: [0.9, 1.0, 1.1])  # Kaldi-style 3-way
    noise_probability: float = 0.0  # share of utterances mixed with coloured noise
    noise_snr_db: list[float] = field(default_factory=lambda: [10.0, 30.0])
    # Share of utterances heard through an 8 kHz channel, half of them a telephone line too
    # (band-pass and mu-law): people's recordings often come at 8 kHz, synthesizers' never do.
    narrowband_probability: float = 0.0


class SpeechDataset(Dataset):
    """(waveform, character ids) pairs from manifest rows.

    Args:
        rows: manifest rows with ``audio_filepath`` and ``text``.
        augment_config: None for no augmentation (dev/test).
        seed: with :meth:`set_epoch`, makes augmentation reproducible per item.
    """

    def __init__(self, rows: list[dict], vocabulary: Vocabulary, augment_config: AugmentConfig | None = None,
                 seed: int = 0):
        self.rows = rows
        self.vocabulary = vocabulary
        self.augment_config = augment_config
        self.seed, self.epoch = seed, 0
        self.targets = [vocabulary.encode(normalize_text(r["text"])) for r in rows]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        samples, index = self._readable(index)
        config = self.augment_config
        if config is not None:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            samples = augment.speed_perturb(samples, float(rng.choice(config.speed_factors)))
            if rng.random() < config.noise_probability:
                noise = augment.colored_noise(samples.size, float(rng.choice([0.0, 1.0, 2.0])), rng)
                samples = augment.add_noise(samples, noise, float(rng.uniform(*config.noise_snr_db)))
            if rng.random() < config.narrowband_probability:
                samples = augment.telephone(samples) if rng.random() < 0.5 else augment.narrowband(samples)
        return torch.from_numpy(np.ascontiguousarray(samples)), torch.tensor(self.targets[index], dtype=torch.long)

    def _readable(self, index: int, attempts: int = 10) -> tuple[np.ndarray, int]:
        """The audio of utterance ``index``, or of the next readable one if that file is broken.

        One unreadable file should not end a run of hours, and every batch must keep its
        utterances (under DDP all processes step together), so a broken file is reported and
        stood in for by its neighbour. Ten broken files in a row is a broken manifest: that fails.
        """
        for _ in range(attempts):
            try:
                return load_audio(self.rows[index]["audio_filepath"]), index
            except AudioError as error:
                print(f"warning: skipping a training utterance: {error}", file=sys.stderr, flush=True)
                last_error, index = error, (index + 1) % len(self.rows)
        raise AudioError(f"{last_error}, and the {attempts - 1} training utterances before it are unreadable too")


def collate(batch: list[tuple[torch.Tensor, torch.Tensor]]):
    """Pad a list of (waveform, target) to (B, samples), (B,), (B, U), (B,)."""
    lengths = torch.tensor([w.numel() for w, _ in batch])
    target_lengths = torch.tensor([t.numel() for _, t in batch])
    waveforms = torch.zeros(len(batch), int(lengths.max()))
    targets = torch.zeros(len(batch), max(int(target_lengths.max()), 1), dtype=torch.long)
    for i, (w, t) in enumerate(batch):
        waveforms[i, : w.numel()] = w
        targets[i, : t.numel()] = t
    return waveforms, lengths, targets, target_lengths


class DurationBucketSampler(Sampler[list[int]]):
    """Batches of similar-length utterances, at most ``max_batch_seconds`` of padded audio each.

    With ``sortagrad`` the first epoch is not shuffled but runs shortest first.
    With several processes (DDP), each rank takes every ``world_size``-th batch of
    the same shuffled list, and every rank gets the same number of batches.

    Args:
        durations: seconds per utterance.
        skip_batches: batches of the current epoch already done (resuming mid-epoch).
    """

    def __init__(self, durations: list[float], max_batch_seconds: float, seed: int = 0, shuffle: bool = True,
                 rank: int = 0, world_size: int = 1, max_batch_size: int = 256, sortagrad: bool = False):
        self.durations = durations
        self.max_batch_seconds, self.max_batch_size = max_batch_seconds, max_batch_size
        self.seed, self.shuffle, self.sortagrad = seed, shuffle, sortagrad
        self.rank, self.world_size = rank, world_size
        self.epoch, self.skip_batches = 0, 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch, self.skip_batches = epoch, skip_batches

    def _all_batches(self) -> list[list[int]]:
        rng = random.Random(f"{self.seed}/{self.epoch}")
        order = sorted(range(len(self.durations)), key=lambda i: self.durations[i])
        batches, current, longest = [], [], 0.0
        for i in order:
            longest_if_added = max(longest, self.durations[i])
            if current and (longest_if_added * (len(current) + 1) > self.max_batch_seconds
                            or len(current) >= self.max_batch_size):
                batches.append(current)
                current, longest_if_added = [], self.durations[i]
            current.append(i)
            longest = longest_if_added
        if current:
            batches.append(current)
        # SortaGrad (Amodei et al. 2016): the first epoch goes from short to long utterances,
        # which gets attention and CTC past their first plateau sooner.
        if self.shuffle and not (self.sortagrad and self.epoch == 0):
            rng.shuffle(batches)
        usable = len(batches) // self.world_size * self.world_size
        return batches[:usable] if self.world_size > 1 else batches

    def __iter__(self):
        mine = self._all_batches()[self.rank::self.world_size]
        return iter(mine[self.skip_batches:])

    def __len__(self) -> int:
        return max(0, math.floor(len(self._all_batches()) / self.world_size) - self.skip_batches)

    def batches_per_epoch(self) -> int:
        return len(self._all_batches()) // self.world_size


def filter_rows(rows: list[dict], max_seconds: float) -> list[dict]:
    """Drop utterances too long to batch, or with no characters the model can spell."""
    return [r for r in rows if 0 < float(r["duration"]) <= max_seconds and normalize_text(r["text"])]


def load_for_cmvn(rows: list[dict], count: int, seed: int = 0):
    """Yield up to ``count`` random utterances' samples, for the normalisation statistics."""
    picks = random.Random(seed).sample(range(len(rows)), min(count, len(rows)))
    for i in picks:
        yield load_audio(rows[i]["audio_filepath"])

