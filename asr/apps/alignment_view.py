"""The attention alignment as an interactive HTML view, for the demo.

One row per output character, one column per encoder frame, darker = more attention
(the same matrix as :func:`asr.plotting.alignment_figure`, which stays the static picture
for ``asr eval`` and anything saved to disk).  In the page:

- hovering the matrix shows the character, the time and the weight under the pointer;
- a zoom slider widens the time axis, for long clips (the view scrolls sideways);
- the letters sit above the matrix at the time each attended to, on staggered rows so that
  they never overlap, in text order;
- clicking a letter plays the audio it attended to.

The HTML carries its data (the matrix as base64 bytes, the clip as a wav data URL) and
needs no server round trip; the page's script (:data:`VIEW_SCRIPT`) attaches its event
handlers once, to the component, so they keep working as results replace the HTML.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from asr.audio.io import SAMPLE_RATE
from asr.plotting import attended_span

LETTER_ROWS = 4  # staggered rows for the letters above the matrix
LETTER_GAP = 0.012  # minimum distance between letters on one row, as a share of the clip's width
MIN_PLAY_SECONDS = 0.3  # a letter's audio is widened to this, or it is too short to hear
ROW_PIXELS = 6  # height of one character's row at zoom 1


def _wav_data_url(samples: np.ndarray) -> str:
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.clip(samples, -1, 1), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()


def _heatmap_png(attention: np.ndarray) -> str:
    """The matrix as a grey PNG data URL, each row scaled to its own peak (darker = more)."""
    from PIL import Image

    peaks = attention.max(axis=1, keepdims=True)
    scaled = np.divide(attention, peaks, out=np.zeros_like(attention), where=peaks > 0)
    image = Image.fromarray((255 - scaled * 255).astype(np.uint8), mode="L")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def letter_layout(times: np.ndarray, duration: float) -> list[tuple[int, float]]:
    """Row (0 is the top) and horizontal position (share of the clip's width) of each letter.

    A letter goes on the first row where it keeps LETTER_GAP from that row's last letter. Where
    no row has room (attention that dwells on one spot, or a model that has not learnt to align
    yet), it goes on the row that ends furthest left, nudged right by the gap: letters never
    overlap, so each stays readable and clickable.
    """
    last = [-np.inf] * LETTER_ROWS
    layout = []
    for t in times:
        position = t / max(duration, 1e-9)
        free = [r for r in range(LETTER_ROWS) if position - last[r] >= LETTER_GAP]
        row = free[0] if free else int(np.argmin(last))
        position = max(position, last[row] + LETTER_GAP)
        last[row] = position
        layout.append((row, position))
    return layout


def alignment_html(samples: np.ndarray, text: str, attention: np.ndarray, frame_seconds: float,
                   element_id: str = "alignment") -> str:
    """The interactive view of one clip's alignment.

    Args:
        samples: the clip at 16 kHz; text: the transcript, one character per row of ``attention``.
        attention: (len(text), frames) weights; frame_seconds: seconds per column.
    """
    if not text or attention.size == 0:
        return '<div class="alignment-view empty">No alignment to show: no speech was transcribed.</div>'
    duration = samples.size / SAMPLE_RATE
    spans = [attended_span(row, frame_seconds) if row.any() else (np.nan, np.nan) for row in attention]
    centres = np.array([(s + e) / 2 for s, e in spans])
    # In text order: a letter is never drawn left of the one before it (attention can wander back).
    known = np.where(np.isnan(centres), -np.inf, centres)
    centres = np.maximum.accumulate(known)
    centres[np.isinf(centres)] = 0.0
    layout = letter_layout(centres, duration)
    letters = []
    for u, (char, (start, end), (row, position)) in enumerate(zip(text, spans, layout)):
        if char == " " or np.isnan(start):
            continue
        play_start, play_end = start, end
        if play_end - play_start < MIN_PLAY_SECONDS:
            middle = (start + end) / 2
            play_start = min(max(0.0, middle - MIN_PLAY_SECONDS / 2), max(0.0, duration - MIN_PLAY_SECONDS))
            play_end = play_start + MIN_PLAY_SECONDS
        title = f"“{char}” (character {u}) attends to {start:.2f}–{end:.2f} s; click to hear it"
        letters.append(
            f'<span class="letter" data-index="{u}" data-start="{play_start:.3f}" data-end="{play_end:.3f}" '
            f'style="left:{100 * position:.3f}%;top:{row * 1.3:.1f}em" '
            f'title="{html.escape(title)}">{html.escape(char)}</span>')
    frames = attention.shape[1]
    weights = (np.clip(attention, 0, 1) * 255).astype(np.uint8)
    data = base64.b64encode(weights.tobytes()).decode()
    chars = html.escape("".join(text), quote=True)
    return f"""
<div class="alignment-view" id="{element_id}-view" data-rows="{len(text)}" data-frames="{frames}"
     data-frame-seconds="{frame_seconds}" data-text="{chars}" data-weights="{data}">
  <div class="alignment-controls">
    <label>Zoom <input type="range" class="zoom" min="1" max="20" step="0.5" value="1"></label>
    <span class="hover-info">Hover the matrix: character, time and weight. Click a letter to hear it.</span>
  </div>
  <div class="alignment-scroll" style="overflow-x:auto">
    <div class="alignment-track" style="width:100%">
      <div class="letters" style="position:relative;height:{LETTER_ROWS * 1.3 + 0.4:.1f}em">{''.join(letters)}</div>
      <img class="attention" src="{_heatmap_png(attention)}" alt="attention of {len(text)} characters over
           {duration:.2f} s" style="width:100%;height:{max(len(text), 20) * ROW_PIXELS}px;image-rendering:pixelated">
      <div class="time-axis">0 s … {duration:.2f} s</div>
    </div>
  </div>
  <audio class="clip-audio" controls preload="auto" src="{_wav_data_url(samples)}"></audio>
</div>"""


VIEW_CSS = """
.alignment-view .letter { position: absolute; transform: translateX(-50%); cursor: pointer;
  font-family: monospace; font-weight: bold; padding: 0 1px; border-radius: 3px; }
.alignment-view .letter:hover, .alignment-view .letter.playing { background: #fde68a; }
.alignment-view .hover-info { margin-left: 1em; font-family: monospace; }
.alignment-view .time-axis { font-size: 0.8em; color: #666; }
.alignment-view .attention { display: block; cursor: crosshair; }
"""

# Event delegation on the component: the handlers find whatever view is inside it now.
VIEW_SCRIPT = """
const view = () => element.querySelector('.alignment-view');
let weightsFor = null, weights = null;
function weightAt(v, row, col) {
  if (weightsFor !== v) {
    const raw = atob(v.dataset.weights); weights = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) weights[i] = raw.charCodeAt(i);
    weightsFor = v;
  }
  return weights[row * Number(v.dataset.frames) + col] / 255;
}
element.addEventListener('mousemove', (event) => {
  const v = view(); if (!v || !event.target.classList.contains('attention')) return;
  const box = event.target.getBoundingClientRect();
  const rows = Number(v.dataset.rows), frames = Number(v.dataset.frames);
  const row = Math.min(rows - 1, Math.floor((event.clientY - box.top) / box.height * rows));
  const col = Math.min(frames - 1, Math.floor((event.clientX - box.left) / box.width * frames));
  if (row < 0 || col < 0) return;
  const ch = v.dataset.text[row] === ' ' ? 'space' : '“' + v.dataset.text[row] + '”';
  const t = (col * Number(v.dataset.frameSeconds)).toFixed(2);
  v.querySelector('.hover-info').textContent =
    `${ch} (character ${row}) at ${t} s: weight ${weightAt(v, row, col).toFixed(2)}`;
});
element.addEventListener('input', (event) => {
  const v = view(); if (!v || !event.target.classList.contains('zoom')) return;
  v.querySelector('.alignment-track').style.width = (100 * Number(event.target.value)) + '%';
});
element.addEventListener('click', (event) => {
  const v = view(); const letter = event.target.closest('.letter'); if (!v || !letter) return;
  const audio = v.querySelector('.clip-audio');
  const start = Number(letter.dataset.start), end = Number(letter.dataset.end);
  v.querySelectorAll('.letter.playing').forEach((l) => l.classList.remove('playing'));
  letter.classList.add('playing');
  audio.currentTime = start;
  const stop = () => { if (audio.currentTime >= end) { audio.pause(); audio.removeEventListener('timeupdate', stop); } };
  audio.addEventListener('timeupdate', stop);
  audio.play();
  v.querySelector('.hover-info').textContent =
    `“${v.dataset.text[Number(letter.dataset.index)]}” (character ${letter.dataset.index}): ` +
    `playing ${start.toFixed(2)}–${end.toFixed(2)} s`;
});
"""
