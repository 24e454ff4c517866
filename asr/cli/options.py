"""What several ``asr`` subcommands share: ``--preset`` and the flags that override its fields.

Nothing here imports torch: ``asr --help`` and every command's ``--help`` stay instant.
"""

from __future__ import annotations

import argparse

from asr.decoding.presets import DEFAULT_PRESET, PRESETS, describe


_OVERRIDES = ("beam_size", "ctc_weight", "lm_weight", "oov_penalty", "word_lm_weight", "word_bonus", "vtln",
              "attention_window", "encoder_context", "piece_context")


def add_decoding_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """``--preset`` (this command's default from :data:`asr.decoding.presets.DEFAULT_PRESET`) and the flags
    that override single fields of it."""
    default = DEFAULT_PRESET[command]
    group = parser.add_argument_group("decoding", "a preset, and flags that override its fields")
    group.add_argument("--preset", choices=list(PRESETS), default=default,
                       help="; ".join(f"{name}: {describe(name)}" for name in PRESETS))
    group.add_argument("--beam-size", type=int, default=argparse.SUPPRESS, metavar="N",
                       help="1 decodes greedily (fastest); more runs beam search and fills the n-best "
                            "(default: the preset's)")
    group.add_argument("--ctc-weight", type=float, default=argparse.SUPPRESS, metavar="W",
                       help="weight in [0, 1] of CTC prefix scores in beam search (default: the preset's)")
    group.add_argument("--lm-weight", type=float, default=argparse.SUPPRESS, metavar="W",
                       help="weight of the checkpoint's character language model, shallow fusion in beam search "
                            "(default: the preset's)")
    group.add_argument("--oov-penalty", type=float, default=argparse.SUPPRESS, metavar="P",
                       help="log-probability charged once per word outside the checkpoint's lexicon: a "
                            "misspelling loses to a real word the audio supports nearly as well; 0 is off, inf "
                            "writes lexicon words only (default: the preset's)")
    group.add_argument("--word-lm-weight", type=float, default=argparse.SUPPRESS, metavar="W",
                       help="weight of the checkpoint's word n-gram LM in beam search, through its look-ahead "
                            "(default: the preset's)")
    group.add_argument("--word-bonus", type=float, default=argparse.SUPPRESS, metavar="B",
                       help="score added per word written when the word LM is on (default: the preset's)")
    group.add_argument("--attention-window", type=attention_window, default=argparse.SUPPRESS, metavar="B,A",
                       help="let each character attend only from B seconds before to A seconds after the last "
                            "one's attention peak, or none for the whole segment (default: the preset's)")
    group.add_argument("--encoder-context", type=float, default=argparse.SUPPRESS, metavar="S",
                       help="seconds of silence the encoder hears before and after audio of up to 10 s, decoded "
                            "whole; 0 for none (default: the preset's)")
    group.add_argument("--piece-context", type=float, default=argparse.SUPPRESS, metavar="S",
                       help="seconds of the recording the encoder hears before and after each piece cut from "
                            "audio over 10 s; 0 for none (default: the preset's)")
    group.add_argument("--vtln", action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                       help="test-time vocal-tract-length normalisation of audio of up to 10 s, decoded whole: "
                            "decode it once per warp factor and keep the surest result; that many times slower "
                            "(default: the preset's)")


def attention_window(text: str) -> tuple[float, ...]:
    """``--attention-window``'s value: ``BEFORE,AFTER`` in seconds, or ``none``."""
    if text.strip().lower() == "none":
        return ()
    try:
        before, after = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not BEFORE,AFTER in seconds (say 1,3) or none") from None
    return (before, after)


def decoding_options(args: argparse.Namespace):
    """The DecodeOptions ``args`` ask for; ValueError with one line for a bad value."""
    from asr.decoding.presets import preset

    given = {name: getattr(args, name, None) for name in _OVERRIDES}  # a flag not given is absent
    return preset(args.preset, **given)


def options_for_model(args: argparse.Namespace, options, model, checkpoint):
    """(options, problem): the preset's aids the checkpoint lacks are dropped; a flag that asks
    for one explicitly is a one-line problem instead."""
    from asr.decoding.presets import usable

    if getattr(args, "lm_weight", None) and model.language_model is None:
        return options, f"--lm-weight: {checkpoint} has no language model (asr train-lm adds one)"
    if getattr(args, "oov_penalty", None) and model.lexicon is None:
        return options, f"--oov-penalty: {checkpoint} has no lexicon (asr train-lm --lexicon adds one)"
    if getattr(args, "word_lm_weight", None) and model.word_language_model is None:
        return options, f"--word-lm-weight: {checkpoint} has no word LM (asr train-lm --word-lm adds one)"
    return usable(options, model), None
