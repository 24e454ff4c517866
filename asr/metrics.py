"""Character and word error rates, by Levenshtein distance."""

from __future__ import annotations

from dataclasses import dataclass


def edit_distance(reference, hypothesis) -> int:
    """Minimum substitutions + insertions + deletions turning ``reference`` into ``hypothesis``."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_item in enumerate(reference, 1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_item in enumerate(hypothesis, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_item != hyp_item))
        previous = current
    return previous[-1]


@dataclass
class ErrorRate:
    """Accumulates errors over many utterances; ``rate`` is total errors / total reference length."""

    errors: int = 0
    reference_length: int = 0

    def update(self, reference, hypothesis) -> int:
        errors = edit_distance(reference, hypothesis)
        self.errors += errors
        self.reference_length += len(reference)
        return errors

    @property
    def rate(self) -> float:
        return self.errors / max(self.reference_length, 1)


def cer(reference: str, hypothesis: str) -> float:
    return edit_distance(reference, hypothesis) / max(len(reference), 1)


def wer(reference: str, hypothesis: str) -> float:
    return edit_distance(reference.split(), hypothesis.split()) / max(len(reference.split()), 1)
