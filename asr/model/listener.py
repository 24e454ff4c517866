"""The listener: a convolutional front end, then a pyramidal bidirectional LSTM; or a frozen pretrained
encoder under a BLSTM adapter (:class:`PretrainedListener`).

The conv front end divides the frame rate by ``conv_reduction`` (2 or 4);
each pyramid step concatenates pairs of neighbouring frames and halves it
again (Chan et al. 2016), so with a 2x conv front end a 4x listener has one
pyramid step and an 8x listener two.  The earlier the frame rate drops, the
cheaper the BLSTMs, which dominate training time on a CPU.  Fewer encoder
frames make attention cheaper and sharper, at the cost of time resolution.
"""

from __future__ import annotations

import math

import torch
from torch import nn

def _mask_padding(x: torch.Tensor, lengths: torch.Tensor, time_dim: int) -> torch.Tensor:
    """Zero every frame at or past its utterance's length along ``time_dim``."""
    positions = torch.arange(x.shape[time_dim], device=x.device)
    valid = positions[None, :] < lengths[:, None]  # (B, T)
    shape = [x.shape[0]] + [1] * (x.dim() - 1)
    shape[time_dim] = x.shape[time_dim]
    return x * valid.view(shape)


class ConvSubsampling(nn.Module):
    """Two 3x3 convolutions: time /``time_reduction`` (2 or 4), frequency /4.

    Args:
        feats: (B, T, n_mels); lengths: (B,)
    Returns:
        (B, T / time_reduction, out_dim) and the new lengths.
    """

    def __init__(self, n_mels: int, channels: int, out_dim: int, time_reduction: int = 2):
        super().__init__()
        if time_reduction not in (2, 4):
            raise ValueError(f"the conv front end reduces time by 2 or 4, not {time_reduction}")
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, stride=(2, 2), padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=(time_reduction // 2, 2), padding=1)
        freq = math.ceil(math.ceil(n_mels / 2) / 2)
        self.project = nn.Linear(channels * freq, out_dim)
        # Unit-scale inputs for the first LSTM: without it the projection's small outputs
        # leave the LSTMs nearly input-independent at the start and training stalls.
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = _mask_padding(feats, lengths, time_dim=1).unsqueeze(1)  # (B, 1, T, F)
        x = torch.relu(self.conv1(x))  # (B, C, T/2, F/2)
        lengths = torch.div(lengths - 1, 2, rounding_mode="floor") + 1
        # Padding frames would leak into the last real frame through the next kernel.
        x = _mask_padding(x, lengths, time_dim=2)
        x = torch.relu(self.conv2(x))  # (B, C, T/r, F/4)
        if self.conv2.stride[0] == 2:
            lengths = torch.div(lengths - 1, 2, rounding_mode="floor") + 1
        batch, channels, frames, freq = x.shape
        x = x.transpose(1, 2).reshape(batch, frames, channels * freq)  # (B, T/r, C*F/4)
        return self.norm(self.project(x)), lengths


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each utterance's first ``length`` frames of (B, T, D), leaving padding in place.

    Its own inverse.
    """
    positions = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
    last = (lengths.to(x.device) - 1)[:, None]
    index = torch.where(positions <= last, last - positions, positions)  # (B, T)
    return x.gather(1, index[:, :, None].expand_as(x))


class BLSTM(nn.Module):
    """A bidirectional LSTM layer over padded batches, run as two fused unidirectional LSTMs.

    Padding sits at the end, so the forward direction reads it only after every real frame.  The
    backward direction reads each utterance reversed within its length, which gives it the same
    property.  (Packed sequences would do the same, but on the CPU they run frame by frame, and
    their backward pass zero-fills the whole packed batch at every frame: 2/3 of a training step.)

    Args:
        x: (B, T, input_dim); lengths: (B,)
    Returns:
        (B, T, 2 * hidden), zero past each length.
    """

    def __init__(self, input_dim: int, hidden: int):
        super().__init__()
        self.forward_lstm = nn.LSTM(input_dim, hidden, batch_first=True)
        self.backward_lstm = nn.LSTM(input_dim, hidden, batch_first=True)
        self.register_load_state_dict_pre_hook(_from_bidirectional_lstm)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        forward_out, _ = self.forward_lstm(x)
        backward_out, _ = self.backward_lstm(reverse_within_lengths(x, lengths))
        out = torch.cat([forward_out, reverse_within_lengths(backward_out, lengths)], dim=-1)
        return _mask_padding(out, lengths, time_dim=1)


def _from_bidirectional_lstm(module, state_dict, prefix, *args) -> None:
    """Read checkpoints written when each layer was one ``nn.LSTM(bidirectional=True)``."""
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        for old, new in ((f"{name}_l0", f"forward_lstm.{name}_l0"), (f"{name}_l0_reverse", f"backward_lstm.{name}_l0")):
            if prefix + old in state_dict:
                state_dict[prefix + new] = state_dict.pop(prefix + old)


class PyramidalBLSTM(nn.Module):
    """Stacked BLSTMs; after each of the first ``pyramid_steps`` layers, frames are paired up.

    Args:
        x: (B, T, input_dim); lengths: (B,)
    Returns:
        (B, T / 2**pyramid_steps, 2 * hidden) and the new lengths.
    """

    def __init__(self, input_dim: int, hidden: int, num_layers: int, pyramid_steps: int, dropout: float):
        super().__init__()
        if pyramid_steps >= num_layers:  # frames are paired between layers, so a step needs a layer after it
            raise ValueError(f"{pyramid_steps} pyramid step(s) need at least {pyramid_steps + 1} layers, got {num_layers}")
        self.pyramid_steps = pyramid_steps
        self.layers = nn.ModuleList()
        for i in range(num_layers):
            # A layer after a pyramid step sees two concatenated frames of the one before.
            in_dim = input_dim if i == 0 else 2 * hidden * (2 if i <= pyramid_steps else 1)
            self.layers.append(BLSTM(in_dim, hidden))
        # Each layer's output is normalised per frame, or the signal shrinks layer by layer at
        # initialisation and the encoder starts out nearly constant in time.
        self.norms = nn.ModuleList(nn.LayerNorm(2 * hidden) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for i, (lstm, norm) in enumerate(zip(self.layers, self.norms)):
            # Packing keeps the backward direction from starting in the padding.
            x = self.dropout(norm(lstm(x, lengths)))
            if i < self.pyramid_steps:
                x, lengths = _pair_frames(x, lengths)
        return x, lengths


def _pair_frames(x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, D) -> (B, ceil(T/2), 2D); an odd last frame is paired with zeros."""
    x = _mask_padding(x, lengths, time_dim=1)
    if x.shape[1] % 2:
        x = nn.functional.pad(x, (0, 0, 0, 1))
    batch, frames, dim = x.shape
    return x.reshape(batch, frames // 2, 2 * dim), torch.div(lengths + 1, 2, rounding_mode="floor")


class Listener(nn.Module):
    """Log-mel features -> encoder states at 1/``reduction`` of the frame rate.

    Args:
        feats: (B, T, n_mels) normalised features; lengths: (B,)
    Returns:
        h (B, T / reduction, 2 * hidden) and its lengths (B,).
    """

    def __init__(self, n_mels: int, conv_channels: int, hidden: int, num_layers: int, reduction: int,
                 dropout: float, conv_reduction: int = 2):
        super().__init__()
        if reduction not in (2, 4, 8, 16) or reduction < conv_reduction:
            raise ValueError(f"reduction must be 2, 4, 8 or 16 and at least conv_reduction, got {reduction}")
        self.reduction = reduction
        self.subsample = ConvSubsampling(n_mels, conv_channels, 2 * hidden, conv_reduction)
        pyramid_steps = int(math.log2(reduction // conv_reduction))
        self.blstm = PyramidalBLSTM(2 * hidden, hidden, num_layers, pyramid_steps, dropout)
        self.output_dim = 2 * hidden

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, lengths = self.subsample(feats, lengths)  # (B, T/conv_reduction, 2H)
        h, lengths = self.blstm(x, lengths)  # (B, T/reduction, 2H)
        return _mask_padding(h, lengths, time_dim=1), lengths


class PretrainedListener(nn.Module):
    """A frozen pretrained encoder (Whisper's), then a small trainable adapter.

    The encoder never trains, so its states can be computed once per training utterance
    (:mod:`asr.training.encoder_states`) and training runs only :meth:`adapt` and what follows.  The
    adapter is a pyramidal BLSTM: its first pyramid step takes Whisper's 20 ms states to
    40 ms.  In training, the states get SpecAugment-style masks (time spans and blocks of
    dimensions; the feature config's mask settings) before the adapter.  At decoding time the
    encoder may hear ``context_frames`` of silence on either side of the speech (see
    :class:`asr.model.whisper.WhisperEncoder`); training states are computed without.

    Args:
        feats: (B, T, 80) Whisper log-mel; lengths: (B,)
    Returns:
        h (B, T / (2 * 2**pyramid_steps), 2 * hidden) and its lengths (B,).
    """

    def __init__(self, size: str, hidden: int, num_layers: int, pyramid_steps: int, dropout: float,
                 masks: nn.Module, pad_to_window: bool = False):
        super().__init__()
        from asr.model.whisper import WHISPER_SIZES, WhisperEncoder

        if size not in WHISPER_SIZES:
            raise ValueError(f"unknown listener {size!r}; known: blstm, {', '.join(WHISPER_SIZES)}")
        self.encoder = WhisperEncoder(WHISPER_SIZES[size]).requires_grad_(False)
        self.pad_to_window = pad_to_window
        self.masks = masks
        self.adapter = PyramidalBLSTM(self.encoder.dims.width, hidden, num_layers, pyramid_steps, dropout)
        self.state_dim = self.encoder.dims.width
        self.output_dim = 2 * hidden

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.eval()  # frozen: always run as at inference
        return self

    @torch.no_grad()
    def pretrained_states(self, feats: torch.Tensor, lengths: torch.Tensor,
                          context_frames: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The frozen encoder's states (B, T / 2, width): what :mod:`asr.training.encoder_states` caches."""
        return self.encoder(feats, lengths, pad_to_window=self.pad_to_window, context_frames=context_frames)

    def adapt(self, states: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        states = self.masks(states, lengths)  # identity outside training
        h, lengths = self.adapter(states, lengths)
        return _mask_padding(h, lengths, time_dim=1), lengths

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, context_frames: int = 0,
                keep: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``keep``: (first frame (B,), frames (B,)) of each utterance that the adapter hears, an even
        first frame; the encoder hears all of ``feats`` (the recording around a piece cut from it)."""
        states, state_lengths = self.pretrained_states(feats, lengths, context_frames)
        if keep is not None:
            from asr.model.whisper import num_states

            states, state_lengths = _crop_states(states, keep[0] // 2, num_states(keep[1]))
        return self.adapt(states, state_lengths)


def _crop_states(states: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, D) -> (B, max(lengths), D): each row's ``lengths[i]`` states from ``starts[i]`` on."""
    out = states.new_zeros(states.shape[0], int(lengths.max()), states.shape[2])
    for i, (start, n) in enumerate(zip(starts.tolist(), lengths.tolist())):
        out[i, :n] = states[i, start:start + n]
    return out, lengths
