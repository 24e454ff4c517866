"""Whisper's audio encoder and its log-mel front end, as plain PyTorch modules.

Whisper (Radford et al. 2022, MIT licence) was trained on 680,000 hours of people
speaking; its encoder is the part of it that hears.  This module is our own port of
that encoder, filled from the published weights by :mod:`asr.model.ctranslate2` once, at
recipe time; after that the weights travel inside our checkpoint and nothing of
Whisper's own software is needed to run it.

Both pieces sit inside the model, so training states and serving states come from
the same code:

- :class:`WhisperLogMel`: 80 log-mel bins, 25 ms windows every 10 ms, Whisper's
  ``log10``, its 80 dB dynamic range and its ``(x + 4) / 4`` scaling.
- :class:`WhisperEncoder`: two convolutions (the second halves the frame rate, to
  20 ms), sinusoidal positions, pre-LayerNorm transformer blocks, a final LayerNorm.

Whisper always saw 30-second windows.  ``pad_to_window=False`` runs the encoder on
the true length instead, with the position table sliced; see the model card for
which one the bundle uses and why.  Either way, ``context_frames`` of silence can go
before and after the speech: the encoder then hears a word at the edge of a segment
with silence around it, as it heard speech inside its window, and only the states of
the segment itself come out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from asr.audio.io import SAMPLE_RATE
from asr.audio.augment import vtlp_warp

N_MELS = 80
N_FFT = 400  # 25 ms
HOP_LENGTH = 160  # 10 ms
WINDOW_SECONDS = 30
WINDOW_FRAMES = WINDOW_SECONDS * SAMPLE_RATE // HOP_LENGTH  # 3000 log-mel frames
MAX_STATES = WINDOW_FRAMES // 2  # 1500 encoder states of 20 ms: the position table's length
LOG_FLOOR = 1e-10
DYNAMIC_RANGE = 8.0  # log10 units: 80 dB below the loudest bin is clamped
LAYER_NORM_EPS = 1e-5


@dataclass(frozen=True)
class WhisperDims:
    width: int  # model width (Whisper's n_audio_state)
    layers: int
    heads: int


WHISPER_SIZES = {
    "whisper-tiny": WhisperDims(width=384, layers=4, heads=6),
    "whisper-base": WhisperDims(width=512, layers=6, heads=8),
}


def num_mel_frames(lengths: torch.Tensor) -> torch.Tensor:
    """Log-mel frames for each length in samples (Whisper drops the centred STFT's last frame)."""
    return torch.div(lengths.clamp_min(N_FFT), HOP_LENGTH, rounding_mode="floor")


def num_states(mel_frames: torch.Tensor) -> torch.Tensor:
    """Encoder states for each number of log-mel frames (the second convolution has stride 2)."""
    return torch.div(mel_frames + 1, 2, rounding_mode="floor")


class WhisperLogMel(nn.Module):
    """Waveforms (B, samples) at 16 kHz -> Whisper log-mel features (B, frames, 80).

    Each utterance is featurized alone, over its own samples, so it gets the same features
    alone or padded in a batch (the dynamic-range clamp depends on the loudest bin).
    ``warp`` != 1 warps the power spectrum's frequency axis first (test-time VTLN).
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        # Slaney-style filters, as Whisper's mel_filters.npz (librosa.filters.mel): (80, 201)
        filters = torchaudio.functional.melscale_fbanks(N_FFT // 2 + 1, 0.0, SAMPLE_RATE / 2, N_MELS, SAMPLE_RATE,
                                                        norm="slaney", mel_scale="slaney").T
        self.register_buffer("mel_filters", filters.contiguous(), persistent=False)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor,
                warp: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        frame_lengths = num_mel_frames(lengths)
        feats = waveforms.new_zeros(waveforms.shape[0], int(frame_lengths.max()), N_MELS)
        for i, (waveform, length) in enumerate(zip(waveforms, lengths.tolist())):
            samples = waveform[:length].float()
            if length < N_FFT:  # too short to reflect-pad: zeros make it one window long
                samples = F.pad(samples, (0, N_FFT - length))
            feats[i, : frame_lengths[i]] = self.log_mel(samples, warp).T
        return feats, frame_lengths

    def log_mel(self, samples: torch.Tensor, warp: float = 1.0) -> torch.Tensor:
        """One utterance's samples (N,) -> (80, N // 160)."""
        spectrum = torch.stft(samples, N_FFT, HOP_LENGTH, window=self.window, return_complex=True)
        power = spectrum[:, :-1].abs() ** 2  # (201, frames)
        if warp != 1.0:
            power = vtlp_warp(power, warp)
        log_spec = torch.clamp(self.mel_filters @ power, min=LOG_FLOOR).log10()
        log_spec = torch.maximum(log_spec, log_spec.max() - DYNAMIC_RANGE)
        return (log_spec + 4.0) / 4.0


class _SelfAttention(nn.Module):
    """Multi-head self-attention with Whisper's projections: the key has no bias."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width, bias=False)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        batch, frames, width = x.shape

        def split(t):  # (B, T, W) -> (B, heads, T, W / heads)
            return t.view(batch, frames, self.heads, width // self.heads).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        # Whisper scales q and k by d**-0.25 each: the product is SDPA's default 1/sqrt(d).
        mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, T): True = attend
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, heads, T, W / heads)
        return self.out(context.transpose(1, 2).reshape(batch, frames, width))


class _Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attention_norm = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.attention = _SelfAttention(width, heads)
        self.mlp_norm = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))  # exact GELU

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), key_mask)
        return x + self.mlp(self.mlp_norm(x))


class WhisperEncoder(nn.Module):
    """Whisper log-mel (B, frames, 80) -> encoder states (B, ceil(frames / 2), width) every 20 ms.

    Padding frames are zeroed after each convolution and masked out of attention, so an
    utterance's states do not depend on what it is batched with.

    Args:
        feats: (B, T, 80) from :class:`WhisperLogMel`; lengths: (B,) frames.
        pad_to_window: run each utterance padded to Whisper's 30-second window, as it was
            trained, and keep the states of its true length; else run on the true length.
        context_frames: log-mel frames of silence put before and after each utterance (fewer
            where the window would overflow); the states of that silence are dropped again.
    Returns:
        states (B, T', width) and their lengths (B,).
    """

    def __init__(self, dims: WhisperDims):
        super().__init__()
        self.dims = dims
        self.conv1 = nn.Conv1d(N_MELS, dims.width, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(dims.width, dims.width, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positions", torch.zeros(MAX_STATES, dims.width))  # filled from the weights
        self.blocks = nn.ModuleList(_Block(dims.width, dims.heads) for _ in range(dims.layers))
        self.final_norm = nn.LayerNorm(dims.width, eps=LAYER_NORM_EPS)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor,
                pad_to_window: bool = False, context_frames: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        if feats.shape[1] > WINDOW_FRAMES:
            raise ValueError(f"Whisper's encoder takes at most {WINDOW_SECONDS} s at a time, "
                             f"got {feats.shape[1] * HOP_LENGTH / SAMPLE_RATE:.1f} s")
        state_lengths = num_states(lengths)
        # Each utterance's own margin (an even number of frames, so its states stay on the 20-ms grid),
        # never more than its window has room for: its states do not depend on what it is batched with.
        margins = [min(context_frames, (WINDOW_FRAMES - n) // 2) // 2 * 2 for n in lengths.tolist()]
        if not pad_to_window and not any(margins):
            return self._run(feats, lengths, key_mask=True)
        # Silence, to Whisper, is zero samples: the clamp's floor, 80 dB below the utterance's loudest bin.
        floor = torch.stack([f[:n].max() for f, n in zip(feats, lengths.tolist())]) - DYNAMIC_RANGE / 4  # (B,)
        padded_lengths = lengths + 2 * torch.tensor(margins, device=lengths.device)
        width = WINDOW_FRAMES if pad_to_window else int(padded_lengths.max())
        window = floor[:, None, None].expand(feats.shape[0], width, N_MELS).clone()
        for i, (n, margin) in enumerate(zip(lengths.tolist(), margins)):
            window[i, margin:margin + n] = feats[i, :n]
        if pad_to_window:
            states, _ = self._run(window, torch.full_like(lengths, WINDOW_FRAMES), key_mask=False)
        else:
            states, _ = self._run(window, padded_lengths, key_mask=True)
        out = states.new_zeros(feats.shape[0], int(state_lengths.max()), states.shape[2])
        for i, (n, margin) in enumerate(zip(state_lengths.tolist(), margins)):
            out[i, :n] = states[i, margin // 2:margin // 2 + n]
        return out, state_lengths

    def _run(self, feats, lengths, key_mask: bool):
        x = _zero_past(feats, lengths).transpose(1, 2)  # (B, 80, T)
        x = F.gelu(self.conv1(x))  # (B, W, T)
        x = _zero_past(x.transpose(1, 2), lengths).transpose(1, 2)  # padding must not leak into conv2
        x = F.gelu(self.conv2(x)).transpose(1, 2)  # (B, T/2, W)
        lengths = num_states(lengths)
        x = x + self.positions[: x.shape[1]]
        mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None] if key_mask else None
        for block in self.blocks:
            x = block(x, mask)
        return _zero_past(self.final_norm(x), lengths), lengths


def _zero_past(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero (B, T, D) past each utterance's length."""
    valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
    return x * valid.unsqueeze(-1)
