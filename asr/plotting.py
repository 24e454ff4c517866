"""Pictures of attention: the alignment of characters to audio, under the spectrogram.

Used by the demo, by evaluation (worst utterances) and by training (TensorBoard).
"""

from __future__ import annotations

import numpy as np

from asr.audio import SAMPLE_RATE
from asr.features import HOP_SECONDS


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display needed: figures are written to files or images
    import matplotlib.pyplot as plt

    return plt


def log_mel_for_display(samples: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """(n_mels, frames) log-mel in dB at the model's 10 ms hop, for drawing only."""
    import torch
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(sample_rate=SAMPLE_RATE, n_fft=400,
                                               hop_length=int(HOP_SECONDS * SAMPLE_RATE), n_mels=n_mels)
    power = mel(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)))
    return (10 * torch.log10(power + 1e-10)).numpy()


def alignment_figure(samples: np.ndarray, text: str, attention: np.ndarray, frame_seconds: float,
                     offset: float = 0.0, highlight: int | None = None, title: str | None = None):
    """Spectrogram on top, attention (characters x time) below, sharing one time axis in seconds.

    Args:
        samples: (N,) 16 kHz audio the attention refers to.
        text: the decoded characters; ``len(text) == attention.shape[0]``.
        attention: (U, T) weights over encoder frames.
        frame_seconds: seconds per encoder frame; offset: time of frame 0 in ``samples``.
        highlight: index of a character whose row is outlined (the demo's selector).
    Returns:
        a matplotlib Figure.
    """
    plt = _pyplot()
    duration = samples.size / SAMPLE_RATE
    steps = attention.shape[0]
    height = 2.2 + min(0.16 * max(steps, 1), 9.0)
    fig, (ax_spec, ax_att) = plt.subplots(2, 1, figsize=(max(8.0, min(2.0 * duration, 18.0)), height),
                                          sharex=True, gridspec_kw={"height_ratios": [2.2, height - 2.2]})
    ax_spec.imshow(log_mel_for_display(samples), origin="lower", aspect="auto", cmap="magma",
                   extent=(0, duration, 0, 80))
    ax_spec.set_ylabel("mel bin")
    ax_spec.set_title(title or "log-mel spectrogram and attention alignment")
    if steps:
        t0 = offset
        t1 = offset + attention.shape[1] * frame_seconds
        ax_att.imshow(attention, origin="upper", aspect="auto", cmap="Blues", interpolation="nearest",
                      extent=(t0, t1, steps - 0.5, -0.5), vmin=0, vmax=max(float(attention.max()), 1e-6))
        labels = ["␣" if c == " " else c for c in text]
        ax_att.set_yticks(range(steps))
        ax_att.set_yticklabels(labels, fontsize=7 if steps > 40 else 9, fontfamily="monospace")
        if highlight is not None and 0 <= highlight < steps:
            ax_att.axhspan(highlight - 0.5, highlight + 0.5, fill=False, edgecolor="red", linewidth=1.5)
    else:
        ax_att.text(0.5, 0.5, "(no characters)", transform=ax_att.transAxes, ha="center", va="center")
    ax_att.set_xlim(0, duration)
    ax_att.set_xlabel("time (s)")
    ax_att.set_ylabel("output character")
    fig.tight_layout()
    return fig


def attention_image(attention: np.ndarray) -> np.ndarray:
    """(3, U, T) float image of an attention matrix, for TensorBoard's add_image."""
    plt = _pyplot()
    scaled = attention / max(float(attention.max()), 1e-9) if attention.size else np.zeros((1, 1))
    rgb = plt.get_cmap("viridis")(scaled)[..., :3]
    return rgb.transpose(2, 0, 1).astype(np.float32)
