"""Named decoding presets: the one table every front end takes its defaults from.

    from asr.decoding.presets import preset
    options = preset("accurate")                 # a DecodeOptions
    options = preset("accurate", beam_size=8)    # any field can still be overridden

``asr transcribe``, ``asr listen``, ``asr eval``, the demo and the benchmarks all read
this table, each with its own default preset (:data:`DEFAULT_PRESET`); their flags
override single fields.  The table is plain data (no torch), so ``--help`` can show it
without loading the model's libraries.  Accuracy and speed of each preset with the
bundled model are in the model card (``checkpoints/README.md``, *Evaluation*), with
the commands that measured them.
"""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    # Greedy attention decoding: one pass, no search. The fastest.
    "fast": {},
    # Beam search with CTC prefix scores, the word LM and the lexicon: what a person speaking into a
    # microphone waits for (about 0.2 s per second of speech). The weights are chosen on the mixed
    # dev criterion and the recorded people of the dev sets (bench/tune_decoding.py; the grids in
    # recipes/synth/RESULTS.md).
    # A short input is heard by the encoder with silence around it (encoder_context, seconds each
    # side): words said alone are heard much better (recipes/synth/RESULTS.md); `live` takes less of
    # it than `accurate`, since each second of it costs a microphone's final line encoder time.
    # A piece cut from longer audio is heard with 1 s of the recording on each side instead
    # (piece_context): real speech at length gained 1.5 to 2 points; more lost soft sentences.
    "live": {"beam_size": 8, "ctc_weight": 0.5, "oov_penalty": 4.0, "word_lm_weight": 0.4, "encoder_context": 1.5,
             "piece_context": 1.0},
    # A wider beam with the same weights and twice the encoder context (3 s beat 1.5 s on the dev sets),
    # for files; the character LM adds nothing beside the word LM. Audio decoded whole (up to 10 s) is
    # also decoded at three vocal-tract warps, the surest result kept (test-time VTLN): the best on
    # every dev set for such audio, at 3x its time. Pieces cut from longer audio are decoded once,
    # unwarped, with the recording around them (recipes/synth/RESULTS.md).
    "accurate": {"beam_size": 12, "ctc_weight": 0.5, "oov_penalty": 4.0, "word_lm_weight": 0.4,
                 "encoder_context": 3.0, "vtln": True, "piece_context": 1.0},
    # The running transcript of an utterance still being spoken (`asr listen`, the demo), decoded anew
    # every 0.6 s or so and replaced at the pause. Greedy attention decoding of audio that stops
    # mid-word runs on past its end ("followed by by by by"); CTC prefix scores end the text where
    # the audio ends, for a sixth to a third more time (recipes/synth/RESULTS.md).
    "running": {"beam_size": 4, "ctc_weight": 0.5},
}

# Each front end's default: files can wait for the best; a microphone should not.
DEFAULT_PRESET = {"transcribe": "accurate", "eval": "accurate", "listen": "live", "demo": "live",
                  "python": "accurate",  # model.transcribe(path) with no options decodes as asr transcribe
                  "running": "running"}  # the running transcripts of asr listen and the demo


def describe(name: str) -> str:
    """One line for --help: ``beam_size=4 ctc_weight=0.3 ...``."""
    return " ".join(f"{k}={v}" for k, v in PRESETS[name].items()) or "greedy"


def preset(name: str, **overrides):
    """The :class:`asr.decoding.search.DecodeOptions` of preset ``name``, ``overrides`` applied (None is ignored).

    ``vtln=True`` stands for ``warp_factors=asr.decoding.search.VTLN_WARP_FACTORS``.
    """
    from dataclasses import fields

    from asr.decoding.search import VTLN_WARP_FACTORS, DecodeOptions

    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    values = dict(PRESETS[name]) | {k: v for k, v in overrides.items() if v is not None}
    vtln = values.pop("vtln", None)
    if vtln is not None and "warp_factors" not in overrides:
        values["warp_factors"] = VTLN_WARP_FACTORS if vtln else ()
    unknown = set(values) - {f.name for f in fields(DecodeOptions)}
    if unknown:
        raise ValueError(f"unknown decoding option(s): {', '.join(sorted(unknown))}")
    return DecodeOptions(**values)


def usable(options, model):
    """``options`` without the aids ``model``'s checkpoint lacks (an LM, a lexicon, a word LM).

    A preset names the aids that help the bundled model; another checkpoint without an LM,
    a lexicon or a word LM still decodes with the rest of the preset instead of failing.
    """
    from dataclasses import replace

    has_lm = getattr(model, "language_model", None) is not None
    has_lexicon = getattr(model, "lexicon", None) is not None
    has_word_lm = getattr(model, "word_language_model", None) is not None
    return replace(options, lm_weight=options.lm_weight if has_lm else 0.0,
                   oov_penalty=options.oov_penalty if has_lexicon else 0.0,
                   word_lm_weight=options.word_lm_weight if has_word_lm else 0.0,
                   word_bonus=options.word_bonus if has_word_lm else 0.0)
