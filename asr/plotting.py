"""Pictures of attention: the alignment of characters to audio, under the spectrogram.

Used by the demo, by evaluation (worst utterances) and by training (TensorBoard).

Figures are built with matplotlib's object API (``Figure`` and an Agg canvas),
never ``pyplot``: pyplot keeps global state, and the demo draws figures for
several requests at once from different threads.
"""

from __future__ import annotations

import numpy as np

from asr.audio.io import SAMPLE_RATE
from asr.model.features import HOP_SECONDS

SPECTROGRAM_RANGE_DB = 80.0  # dynamic range drawn below the loudest mel bin
SPAN_THRESHOLD = 0.25  # a character "attends to" the frames around its peak above this share of the peak
MIN_SPAN_SECONDS = 0.04  # one encoder frame at the usual 40 ms; shorter spans are widened to this
MIN_LABEL_POINTS = 5.0  # rows thinner than this font size are labelled by word instead of by letter
MIN_LETTER_GAP_INCHES = 0.1  # letters closer than this in the letters strip overlap: words are shown instead
ATTENTION_GAMMA = 0.5  # colour = weight ** gamma: faint, spread-out attention stays visible
SPACE_GLYPH = "␣"
DPI = 100


def log_mel_for_display(samples: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """(n_mels, frames) log-mel in dB at the model's 10 ms hop, for drawing only."""
    import torch
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(sample_rate=SAMPLE_RATE, n_fft=400,
                                               hop_length=int(HOP_SECONDS * SAMPLE_RATE), n_mels=n_mels)
    power = mel(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)))
    return (10 * torch.log10(power + 1e-10)).numpy()


def attended_span(weights: np.ndarray, frame_seconds: float, offset: float = 0.0,
                  threshold: float = SPAN_THRESHOLD) -> tuple[float, float]:
    """The stretch of audio one character attends to: the frames around its peak above ``threshold * peak``.

    Args:
        weights: (T,) one character's attention over encoder frames.
        frame_seconds: seconds per frame; offset: time of frame 0 in seconds.
    Returns:
        (start, end) in seconds, at least :data:`MIN_SPAN_SECONDS` long.
    """
    if weights.size == 0:
        return offset, offset + MIN_SPAN_SECONDS
    peak = int(np.argmax(weights))
    above = weights >= threshold * weights[peak]
    lo, hi = peak, peak + 1
    while lo > 0 and above[lo - 1]:
        lo -= 1
    while hi < weights.size and above[hi]:
        hi += 1
    start, end = offset + lo * frame_seconds, offset + hi * frame_seconds
    if end - start < MIN_SPAN_SECONDS:
        middle = (start + end) / 2
        start, end = middle - MIN_SPAN_SECONDS / 2, middle + MIN_SPAN_SECONDS / 2
    return max(start, 0.0), end


def stitch_segments(segments, offsets: list[float], duration: float) -> tuple[str, np.ndarray, float]:
    """One attention matrix on the global time axis from the segments of long audio.

    Each segment's characters attend only within the segment; its columns are placed at
    the segment's offset (rounded to the nearest frame, so within half a frame, 20 ms).
    Segments are joined by a space row with no attention, as in ``Transcription.text``.

    Args:
        segments: :class:`asr.decoding.search.DecodeResult` list; offsets: their start times in seconds.
        duration: seconds of the whole input.
    Returns:
        text, attention (U, T) over the whole input, frame_seconds.
    """
    kept = [(s, off) for s, off in zip(segments, offsets) if s.text]
    if not kept:
        return "", np.zeros((0, 0)), segments[0].frame_seconds if segments else HOP_SECONDS
    frame_seconds = kept[0][0].frame_seconds
    frames = int(np.ceil(duration / frame_seconds))
    rows, text = [], []
    for i, (segment, offset) in enumerate(kept):
        if i:
            rows.append(np.zeros((1, frames)))
            text.append(" ")
        start = int(round(offset / frame_seconds))
        placed = np.zeros((segment.attention.shape[0], frames))
        width = max(0, min(segment.attention.shape[1], frames - start))
        placed[:, start:start + width] = segment.attention[:, :width]
        rows.append(placed)
        text.append(segment.text)
    return "".join(text), np.concatenate(rows), frame_seconds


def alignment_figure(samples: np.ndarray, text: str, attention: np.ndarray, frame_seconds: float,
                     offset: float = 0.0, highlight: int | None = None, title: str | None = None):
    """Spectrogram on top, the letters at the times they attend to, and attention (characters x time) below.

    All three panels share one time axis in seconds.

    Args:
        samples: (N,) 16 kHz audio the attention refers to.
        text: the decoded characters; ``len(text) == attention.shape[0]``.
        attention: (U, T) weights over encoder frames.
        frame_seconds: seconds per encoder frame; offset: time of frame 0 in ``samples``.
        highlight: index of a character whose row and letter are marked in red, and its attended
            audio (:func:`attended_span`) boxed on the spectrogram.
        title: the figure title.
    Returns:
        a matplotlib Figure.
    """
    from matplotlib.colors import PowerNorm
    from matplotlib.figure import Figure

    duration = max(samples.size / SAMPLE_RATE, 1e-3)
    steps, frames = attention.shape
    if len(text) != steps:
        raise ValueError(f"{len(text)} characters but {steps} attention rows")
    heat_height = min(0.15 * max(steps, 4), 7.5)
    heights = [1.9, 0.45, heat_height]
    fig = Figure(figsize=(max(9.0, min(3.2 * duration + 2.0, 18.0)), sum(heights) + 1.1), dpi=DPI,
                 layout="constrained")
    ax_spec, ax_letters, ax_att = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": heights})
    fig.suptitle(title or "What the model attends to: each letter's attention over the audio", fontsize=11)

    mel = log_mel_for_display(samples)
    ax_spec.imshow(mel, origin="lower", aspect="auto", cmap="magma", extent=(0, duration, 0, mel.shape[0]),
                   vmin=float(mel.max()) - SPECTROGRAM_RANGE_DB, vmax=float(mel.max()))
    ax_spec.set_ylabel("mel bin")
    ax_spec.set_yticks([])
    ax_letters.set_yticks([])
    ax_letters.set_ylim(0, 1)
    ax_att.set_xlim(0, duration)
    ax_att.set_xlabel("time (s)")
    if not steps:
        ax_att.text(0.5, 0.5, "(no characters)", transform=ax_att.transAxes, ha="center", va="center")
        ax_att.set_yticks([])
        return fig

    # Weights are probabilities, so the colour scale is fixed at 0..1: focused attention is dark and
    # lost, flat attention is pale, whatever the model (scaling to the data's peak would paint flat
    # attention as confident).  The square root keeps moderately spread attention visible.
    t0, t1 = offset, offset + frames * frame_seconds
    norm = PowerNorm(gamma=ATTENTION_GAMMA, vmin=0.0, vmax=1.0)
    image = ax_att.imshow(attention, origin="upper", aspect="auto", cmap="Blues", interpolation="nearest",
                          extent=(t0, t1, steps - 0.5, -0.5), norm=norm)
    fig.colorbar(image, ax=[ax_spec, ax_letters, ax_att], shrink=0.35, pad=0.01, anchor=(0, 0.0),
                 label="attention weight")
    ax_att.set_ylabel("output character")
    _label_rows(ax_att, text, row_points=heat_height * 72 / steps)
    for u in _word_starts(text)[1:]:  # thin separators between words make rows easy to follow
        ax_att.axhline(u - 0.5, color="0.75", linewidth=0.5)

    # The letters laid out at the times they attend to: the at-a-glance reading of the heatmap.
    centres = [(attention[u].argmax() + 0.5) * frame_seconds + offset for u in range(steps)]
    inches_per_second = fig.get_figwidth() * 0.85 / duration
    spoken = [u for u in range(steps) if text[u] != " " and attention[u].any()]
    gaps = np.diff([centres[u] for u in spoken]) * inches_per_second
    if len(gaps) and np.median(gaps) < MIN_LETTER_GAP_INCHES:  # too dense to read letters: name the words
        _draw_words(ax_letters, text, centres, attention)
        ax_letters.set_ylabel("words", rotation=0, ha="right", va="center")
    else:
        word_index = np.cumsum([c == " " for c in text])
        for u in spoken:
            color = "tab:red" if u == highlight else ("black" if word_index[u] % 2 == 0 else "tab:blue")
            ax_letters.text(centres[u], 0.5, text[u], ha="center", va="center", fontsize=11, family="monospace",
                            color=color, fontweight="bold" if u == highlight else "normal", clip_on=True)
        ax_letters.set_ylabel("letters", rotation=0, ha="right", va="center")

    if highlight is not None and 0 <= highlight < steps and attention[highlight].any():
        start, end = attended_span(attention[highlight], frame_seconds, offset)
        ax_spec.axvspan(start, end, facecolor="none", edgecolor="cyan", linewidth=2)  # visible on magma
        ax_letters.axvspan(start, end, color="tab:red", alpha=0.2, linewidth=0)
        ax_att.axvspan(start, end, facecolor="none", edgecolor="tab:red", linewidth=0.8, linestyle=":")
        ax_att.axhspan(highlight - 0.5, highlight + 0.5, fill=False, edgecolor="tab:red", linewidth=1.5)
    return fig


def _draw_words(ax, text: str, centres: list[float], attention: np.ndarray) -> None:
    for n, start in enumerate(_word_starts(text)):
        end = text.find(" ", start)
        end = len(text) if end < 0 else end
        if attention[start:end].any():
            ax.text((centres[start] + centres[end - 1]) / 2, 0.5 if n % 2 == 0 else 0.2, text[start:end],
                    ha="center", va="center", fontsize=8, color="black" if n % 2 == 0 else "tab:blue", clip_on=True)


def _word_starts(text: str) -> list[int]:
    return [u for u, c in enumerate(text) if c != " " and (u == 0 or text[u - 1] == " ")]


def _label_rows(ax, text: str, row_points: float) -> None:
    size = min(9.0, 0.9 * row_points)
    if size >= MIN_LABEL_POINTS:
        ax.set_yticks(range(len(text)))
        ax.set_yticklabels([SPACE_GLYPH if c == " " else c for c in text], family="monospace", fontsize=size)
    else:  # rows too thin to read letter by letter: name each word at its first letter
        starts = _word_starts(text)
        ax.set_yticks(starts)
        ax.set_yticklabels([text[u:].split(" ", 1)[0] for u in starts], fontsize=MIN_LABEL_POINTS)


def figure_to_image(fig) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of a figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def attention_image(attention: np.ndarray) -> np.ndarray:
    """(3, U, T) float image of an attention matrix, for TensorBoard's add_image."""
    from matplotlib import colormaps

    scaled = attention / max(float(attention.max()), 1e-9) if attention.size else np.zeros((1, 1))
    rgb = colormaps["viridis"](scaled)[..., :3]
    return rgb.transpose(2, 0, 1).astype(np.float32)
