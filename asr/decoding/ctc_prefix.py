"""CTC prefix scoring for joint attention/CTC decoding (Watanabe et al. 2017, as in ESPnet).

The attention speller alone can skip or repeat words and can't tell when it
has run past the audio; CTC is monotonic and knows exactly how much audio a
prefix explains.  For a hypothesis prefix ``g`` and a candidate character
``c`` we compute log p_ctc(g + c + anything | x), the probability that the
CTC output *starts with* ``g + c``, with the forward variables

    r_t^n(h): paths of h ending in a non-blank at frame t
    r_t^b(h): paths of h ending in blank at frame t

and add ``ctc_weight * (psi(g + c) - psi(g))`` to the attention score.
This runs in numpy: the arrays are small and the per-frame loop is cheaper
without tensor dispatch overhead.
"""

from __future__ import annotations

import numpy as np

NEG_INF = -1e30


class CTCPrefixScorer:
    """Scores extensions of many prefixes of one utterance at once.

    Args:
        log_probs: (T, V) CTC log-probabilities of one utterance (no padding).
        blank_id, eos_id: token ids.
    """

    def __init__(self, log_probs: np.ndarray, blank_id: int, eos_id: int):
        self.log_probs = log_probs.astype(np.float64)
        self.blank_id, self.eos_id = blank_id, eos_id
        self.frames = log_probs.shape[0]

    def initial_state(self) -> np.ndarray:
        """Forward variables of the empty prefix: (T, 2), all paths are blanks so far."""
        r = np.full((self.frames, 2), NEG_INF)
        r[:, 1] = np.cumsum(self.log_probs[:, self.blank_id])
        return r

    def extend(self, r_prev: np.ndarray, last: np.ndarray, is_empty: np.ndarray, candidates: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Prefix scores of ``g + c`` for each prefix g (K of them) and its C candidates.

        Args:
            r_prev: (K, T, 2) forward variables of each prefix.
            last: (K,) each prefix's last character (ignored where ``is_empty``).
            is_empty: (K,) True for the empty prefix.
            candidates: (K, C) candidate character ids (may include ``eos_id``).
        Returns:
            psi (K, C): log prefix probabilities, and r (K, C, T, 2) for each extension.
        """
        frames = self.frames
        x = self.log_probs[:, candidates]  # (T, K, C)
        x_blank = self.log_probs[:, self.blank_id][:, None, None]  # (T, 1, 1)
        prev_n = r_prev[:, :, 0].T[:, :, None]  # (T, K, 1)
        prev_b = r_prev[:, :, 1].T[:, :, None]
        prev_total = np.logaddexp(prev_n, prev_b)
        # A repeated character needs a blank between the two, so only blank-ending paths of g extend it.
        same = (candidates == last[:, None]) & ~is_empty[:, None]  # (K, C)
        phi = np.where(same[None], prev_b, prev_total)  # (T, K, C)

        r = np.full((frames,) + candidates.shape + (2,), NEG_INF)  # (T, K, C, 2)
        r[0, :, :, 0] = np.where(is_empty[:, None], x[0], NEG_INF)
        psi = r[0, :, :, 0].copy()
        for t in range(1, frames):
            r[t, :, :, 0] = np.logaddexp(r[t - 1, :, :, 0], phi[t - 1]) + x[t]
            r[t, :, :, 1] = np.logaddexp(r[t - 1, :, :, 0], r[t - 1, :, :, 1]) + x_blank[t]
            psi = np.logaddexp(psi, phi[t - 1] + x[t])
        # Ending here: the whole utterance must be explained by g itself.
        psi = np.where(candidates == self.eos_id, prev_total[-1], psi)
        return psi, r.transpose(1, 2, 0, 3)
