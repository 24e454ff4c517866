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
