"""Score a checkpoint on a manifest: CER and WER, per-utterance hypotheses, alignment plots.

Examples:
    asr eval --manifest data/synth/test.jsonl
    asr eval --manifest data/librispeech/test-other.jsonl --checkpoint exp/librispeech_100h/averaged.pt \\
        --beam-size 5 --ctc-weight 0.3

Writes into --output-dir (default exp/eval/CHECKPOINT/MANIFEST):
    hypotheses.jsonl   one line per utterance: id, reference, hypothesis, cer, wer (and voice, speaker,
                       text_source when the manifest has them; written, the text users read, when
                       normalisation changed it)
    summary.json       the totals, rates per voice, speaker and text source when the manifest has them,
                       the decoding options
    worst/NN_ID.png    spectrogram and attention of the --worst utterances by CER
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asr.cli.options import add_decoding_arguments, decoding_options, options_for_model


def _count(minimum: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True,
                        help="JSONL manifest to score (audio_filepath, duration, text)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint to evaluate; when not given, the bundled one")
    add_decoding_arguments(parser, "eval")
    parser.add_argument("--itn", action=argparse.BooleanOptionalAction, default=True,
                        help="score the written form users get (numerals), normalised back to words like the "
                             "references; --no-itn scores the speller's own words")
    parser.add_argument("--batch-size", type=_count(1), default=16, help="utterances decoded together")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="where hypotheses, summary and plots go; when not given, exp/eval/CHECKPOINT/MANIFEST")
    parser.add_argument("--worst", type=_count(0), default=5, help="alignment plots of this many worst utterances")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (auto: cuda when available)")


def run(args: argparse.Namespace) -> int:
    import torch

    from asr.audio.io import AudioError
    from asr.model.checkpoint import CheckpointError, default_checkpoint, load_model
    from asr.apps.evaluate import EvalError, check_audio, evaluate, save_worst_plots, write_hypotheses, write_summary
    from asr.training.manifest import ManifestError, read_manifest

    try:
        options = decoding_options(args)
    except ValueError as error:
        return _fail(str(error))
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    try:
        rows = read_manifest(args.manifest)
        if not rows:
            raise EvalError(f"{args.manifest}: no utterances in it")
        check_audio(rows)
        checkpoint = args.checkpoint or default_checkpoint()
        model = load_model(checkpoint, device)
        options, problem = options_for_model(args, options, model, checkpoint)
        if problem:
            raise EvalError(problem)
        report = evaluate(model, rows, options, args.batch_size, worst=args.worst, progress=True, itn=args.itn)
    except (ManifestError, CheckpointError, EvalError, AudioError) as error:
        return _fail(str(error))
    except RuntimeError as error:  # e.g. a device that does not exist
        return _fail(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)

    out = args.output_dir or Path("exp/eval") / Path(checkpoint).stem / args.manifest.stem
    try:
        hypotheses = write_hypotheses(report, out / "hypotheses.jsonl")
        summary = write_summary(report, out / "summary.json", manifest=str(args.manifest),
                                checkpoint=str(checkpoint))
        plots = save_worst_plots(report, out / "worst")
    except OSError as error:
        return _fail(f"{out}: can't write results ({error.strerror or error})")

    seconds = report.audio_seconds
    audio = f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"
    print(f"CER {100 * report.cer:.2f} %  WER {100 * report.wer:.2f} %  ({_utterances(len(report.utterances))}, "
          f"{audio} of audio, decoded in {report.decode_seconds:.0f} s)")
    for field in ("voice", "text_source"):  # per speaker would be hundreds of lines: that is in summary.json
        groups = report.breakdown(field)
        if len(groups) > 1:
            for value, rates in groups.items():
                print(f"  {field.replace('_', ' ')} {value}: CER {100 * rates['cer']:.2f} %  "
                      f"WER {100 * rates['wer']:.2f} %  ({_utterances(rates['utterances'])})")
    print(f"hypotheses: {hypotheses}")
    print(f"summary: {summary}")
    if plots:
        print(f"alignment plots of the {len(plots)} worst: {plots[0].parent}/")
    return 0


def _utterances(count: int) -> str:
    return f"{count} utterance" + ("" if count == 1 else "s")


def _fail(message: str) -> int:
    print(f"asr eval: error: {message}", file=sys.stderr)
    return 1
