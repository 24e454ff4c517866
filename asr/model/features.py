"""Log-mel features, global mean/variance normalisation and SpecAugment.

The whole front end is an ``nn.Module`` inside the model, so its settings and
statistics travel in the checkpoint and training and inference cannot
featurize differently.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchaudio
from torch import nn

from asr.audio.io import SAMPLE_RATE
from asr.audio.augment import vtlp_warp

HOP_SECONDS = 0.010
WINDOW_SECONDS = 0.025
LOG_FLOOR = 1e-6


@dataclass(frozen=True)
class FeatureConfig:
    """How audio becomes features. Stored in every checkpoint."""

    sample_rate: int = SAMPLE_RATE
    n_mels: int = 80
    hop_length: int = int(HOP_SECONDS * SAMPLE_RATE)  # 160 samples = 10 ms
    n_fft: int = int(WINDOW_SECONDS * SAMPLE_RATE)  # 400 samples = 25 ms
    f_min: float = 20.0
    f_max: float = 7600.0
    # SpecAugment (training only): masks per utterance and their maximum widths.
    freq_masks: int = 2
    freq_mask_width: int = 15
    time_masks: int = 2
    time_mask_fraction: float = 0.05  # each time mask covers at most this share of the utterance
    vtlp_range: float = 0.1  # training-time vocal tract warp factor in [1 - r, 1 + r]; 0 disables


def num_frames(num_samples: torch.Tensor, hop_length: int) -> torch.Tensor:
    """Frames a centred STFT gives for each length."""
    return torch.div(num_samples, hop_length, rounding_mode="floor") + 1


class LogMel(nn.Module):
    """Waveforms (B, T) -> log-mel features (B, frames, n_mels), with optional VTLP in training.

    ``warp`` is a fixed vocal-tract warp factor for inference (test-time speaker
    normalisation, see ``DecodeOptions.warp_factors``); 1.0 leaves the spectrum alone.
    """

    def __init__(self, config: FeatureConfig):
        super().__init__()
        self.config = config
        self.spectrogram = torchaudio.transforms.Spectrogram(
            n_fft=config.n_fft, hop_length=config.hop_length, power=2.0, center=True)
        self.mel_scale = torchaudio.transforms.MelScale(
            n_mels=config.n_mels, sample_rate=config.sample_rate, f_min=config.f_min,
            f_max=config.f_max, n_stft=config.n_fft // 2 + 1)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor,
                warp: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        frame_lengths = num_frames(lengths, self.config.hop_length)
        feats = waveforms.new_zeros(waveforms.shape[0], int(frame_lengths.max()), self.config.n_mels)
        # One STFT per utterance over its own samples: the centred STFT reflects at the
        # true end, so an utterance gets the same features alone or padded in a batch.
        for i, (waveform, length) in enumerate(zip(waveforms, lengths.tolist())):
            power = self.spectrogram(waveform[:length].float())  # (freq, frames)
            if self.training and self.config.vtlp_range > 0:
                r = self.config.vtlp_range
                power = vtlp_warp(power, float(torch.empty(()).uniform_(1 - r, 1 + r)))
            if warp != 1.0:
                power = vtlp_warp(power, warp)
            mel = self.mel_scale(power)  # (n_mels, frames)
            feats[i, : mel.shape[1]] = torch.log(mel + LOG_FLOOR).T
        return feats, frame_lengths


class GlobalCMVN(nn.Module):
    """Per-dimension mean/variance normalisation with statistics from the training set.

    The statistics are buffers, so they are saved in (and loaded from) the checkpoint.
    """

    def __init__(self, n_mels: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_mels))
        self.register_buffer("std", torch.ones(n_mels))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.mean) / self.std

    @torch.no_grad()
    def set_statistics(self, total: torch.Tensor, total_squares: torch.Tensor, count: int) -> None:
        """Set from running sums of features and their squares over ``count`` frames."""
        mean = total / count
        self.mean.copy_(mean)
        self.std.copy_((total_squares / count - mean**2).clamp_min(1e-8).sqrt())


class SpecAugment(nn.Module):
    """Frequency and time masking (Park et al. 2019); identity outside training."""

    def __init__(self, config: FeatureConfig):
        super().__init__()
        self.config = config

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return feats
        c = self.config
        feats = feats.clone()
        batch, frames, n_mels = feats.shape
        for i in range(batch):
            for _ in range(c.freq_masks):
                width = int(torch.randint(0, c.freq_mask_width + 1, ()))
                start = int(torch.randint(0, max(1, n_mels - width), ()))
                feats[i, :, start:start + width] = 0.0
            length = int(lengths[i])
            max_width = max(1, int(c.time_mask_fraction * length))
            for _ in range(c.time_masks):
                width = int(torch.randint(0, max_width + 1, ()))
                start = int(torch.randint(0, max(1, length - width), ()))
                feats[i, start:start + width, :] = 0.0  # 0 is the mean after normalisation
        return feats


class FrontEnd(nn.Module):
    """Waveforms -> normalised log-mel features, padding frames zeroed.

    Args:
        waveforms: (B, samples) float at ``config.sample_rate``, zero padded.
        lengths: (B,) valid samples per utterance.
    Returns:
        feats (B, frames, n_mels) and frame lengths (B,).
    """

    def __init__(self, config: FeatureConfig):
        super().__init__()
        self.config = config
        self.log_mel = LogMel(config)
        self.cmvn = GlobalCMVN(config.n_mels)
        self.spec_augment = SpecAugment(config)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor,
                warp: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        feats, frame_lengths = self.log_mel(waveforms, lengths, warp)
        feats = self.spec_augment(self.cmvn(feats), frame_lengths)
        valid = torch.arange(feats.shape[1], device=feats.device)[None, :] < frame_lengths[:, None]
        return feats * valid.unsqueeze(-1), frame_lengths
