"""The ``asr`` subcommands, one module each; what several of them share lives here."""

from __future__ import annotations

import argparse

_VTLN_HELP = ("test-time vocal-tract-length normalisation: decode once per warp factor "
              "(asr.decoding.VTLN_WARP_FACTORS) and keep the surest result; that many times slower, "
              "and the largest gain on a person's voice (see the model card)")


def add_vtln_argument(parser: argparse.ArgumentParser, default: bool = False) -> None:
    """``--vtln``; a command that defaults it on also gets ``--no-vtln``."""
    if default:
        parser.add_argument("--vtln", action=argparse.BooleanOptionalAction, default=True,
                            help=_VTLN_HELP + "; on by default here")
    else:
        parser.add_argument("--vtln", action="store_true", help=_VTLN_HELP)


def add_oov_penalty_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--oov-penalty", type=float, default=0.0, metavar="P",
                        help="log-probability charged once per word outside the checkpoint's lexicon (runs beam "
                             "search): a misspelling loses to a real word the audio supports nearly as well; "
                             "0 is off, inf writes lexicon words only")


def checkpoint_lacks(model, options, checkpoint) -> str | None:
    """The one-line complaint when ``options`` need a part ``model``'s checkpoint doesn't have, else None."""
    if options.lm_weight > 0 and model.language_model is None:
        return f"--lm-weight: {checkpoint} has no language model (asr train-lm adds one)"
    if options.oov_penalty > 0 and model.lexicon is None:
        return f"--oov-penalty: {checkpoint} has no lexicon (asr train-lm --lexicon adds one)"
    return None
