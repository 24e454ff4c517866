"""Alignment pictures: spans, stitching long audio, and figures that draw for any input."""

import numpy as np
import pytest

from asr.decoding.search import DecodeResult
from asr.plotting import (MIN_SPAN_SECONDS, alignment_figure, attended_span, attention_image, figure_to_image,
                          stitch_segments)

FRAME = 0.04


def _diagonal(text: str, frames: int) -> np.ndarray:
    centres = np.linspace(2, frames - 3, len(text))
    weights = np.exp(-0.5 * ((np.arange(frames)[None] - centres[:, None]) / 1.0) ** 2)
    return weights / weights.sum(axis=1, keepdims=True)


def _segment(text: str, frames: int) -> DecodeResult:
    return DecodeResult(text=text, tokens=[0] * len(text), token_log_probs=np.zeros(len(text)),
                        attention=_diagonal(text, frames), char_starts=np.zeros(len(text)),
                        char_ends=np.zeros(len(text)), words=[], score=0.0, frame_seconds=FRAME)


def test_attended_span_is_the_stretch_around_the_peak():
    weights = np.array([0.0, 0.05, 0.3, 1.0, 0.5, 0.1, 0.0, 0.9])  # a second, separate bump at the end
    start, end = attended_span(weights, FRAME, offset=1.0, threshold=0.25)
    assert (start, end) == pytest.approx((1.0 + 2 * FRAME, 1.0 + 5 * FRAME))


def test_attended_span_is_never_shorter_than_the_minimum():
    start, end = attended_span(np.eye(10)[4], 0.01)
    assert end - start == pytest.approx(MIN_SPAN_SECONDS)
    assert start >= 0


def test_stitching_places_each_segment_at_its_offset():
    first, second = _segment("hi", 10), _segment("yo", 8)
    text, attention, frame_seconds = stitch_segments([first, second], [0.0, 2.0], duration=3.0)
    assert text == "hi yo" and frame_seconds == FRAME
    assert attention.shape == (5, 75)
    assert not attention[2].any()  # the joining space attends to nothing
    np.testing.assert_allclose(attention[3:, 50:58], second.attention)
    assert not attention[3:, :50].any() and not attention[:2, 10:].any()


def test_stitching_skips_empty_segments_and_handles_none():
    text, attention, _ = stitch_segments([_segment("", 5), _segment("ok", 5)], [0.0, 1.0], duration=2.0)
    assert text == "ok" and attention.shape[0] == 2
    assert stitch_segments([], [], duration=1.0)[0] == ""


@pytest.mark.parametrize("text, highlight", [("hello world", 4), ("", None), ("x" * 130, 129)])
def test_figures_draw_for_short_empty_and_long_text(text, highlight):
    samples = np.random.default_rng(0).standard_normal(16_000 * 2).astype(np.float32) * 0.1
    attention = _diagonal(text, 50) if text else np.zeros((0, 50))
    image = figure_to_image(alignment_figure(samples, text, attention, FRAME, highlight=highlight))
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.std() > 10  # something was drawn


def test_text_and_attention_must_agree():
    with pytest.raises(ValueError, match="3 characters but 2 attention rows"):
        alignment_figure(np.zeros(16_000, dtype=np.float32), "abc", np.ones((2, 25)) / 25, FRAME)


def test_attention_image_for_tensorboard():
    image = attention_image(_diagonal("abc", 20))
    assert image.shape == (3, 3, 20) and image.dtype == np.float32 and 0 <= image.min() <= image.max() <= 1
