"""Choose decoding weights on dev sets: a grid of beam, CTC and LM weights, one model load.

Usage:
    python bench/tune_decoding.py                                   # the bundled model, the mixed dev criterion
    python bench/tune_decoding.py --manifest data/asterisk/dev.jsonl --checkpoint exp/whisper_tiny/with_lm.pt \
        --beam 4 --ctc 0.3 0.5 --lm 0 0.3 --oov 0 2 --word-lm 0 0.5 --word-bonus 0 1
    python bench/tune_decoding.py --manifest data/synth/longform.jsonl --beam 8 --ctc 0.5 --lm 0 --oov 4 \
        --word-lm 0.5 --window none 0.5,2 --max-segment-seconds 10 20 30

By default it scores the mixed dev criterion of ``bench/human.py`` (the unweighted mean WER of
the Asterisk dev half, the held-out Kokoro speakers and the long-form dev set); give one
``--manifest`` to tune on one set.  Only dev sets can be tuned on: the Asterisk test half is
for quoting what was chosen here (``bench/human.py``).  Prints one Markdown row per setting,
best WER last, with the decoding seconds per second of audio on one thread; the preset table
(``asr/decoding/presets.py``) is then set by hand from these rows.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch

from asr.audio.io import SAMPLE_RATE, AudioError, load_audio
from asr.audio.segment import MAX_SEGMENT_SECONDS
from asr.cli.options import attention_window
from asr.model.checkpoint import default_checkpoint, load_model
from asr.decoding.search import DecodeOptions
from asr.training.manifest import ManifestError, read_manifest
from human import mixed, score


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, nargs="+", help="dev manifests; the criterion is their mean WER",
                        default=[Path("data/asterisk/dev.jsonl"), Path("data/synth/test_natural.jsonl"),
                                 Path("data/synth/longform.jsonl")])
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled one")
    parser.add_argument("--beam", type=int, nargs="+", default=[4])
    parser.add_argument("--ctc", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    parser.add_argument("--lm", type=float, nargs="+", default=[0.0, 0.3, 0.5])
    parser.add_argument("--oov", type=float, nargs="+", default=[0.0])
    parser.add_argument("--word-lm", type=float, nargs="+", default=[0.0], help="word LM weights")
    parser.add_argument("--word-bonus", type=float, nargs="+", default=[0.0], help="per-word bonuses")
    parser.add_argument("--window", type=attention_window, nargs="+", default=[()],
                        help="attention windows, BEFORE,AFTER in seconds around the last peak, or none")
    parser.add_argument("--max-segment-seconds", type=float, nargs="+", default=[MAX_SEGMENT_SECONDS],
                        help="longest segments long audio is cut into")
    args = parser.parse_args(argv)
    if any(m.stem == "test" for m in args.manifest):
        parser.error("tune on dev; the test half only reports what dev chose (bench/human.py)")
    torch.set_num_threads(1)
    checkpoint = args.checkpoint or default_checkpoint()
    model = load_model(checkpoint)
    try:
        sets = {m: read_manifest(m) for m in args.manifest}
        audio = {m: [load_audio(r["audio_filepath"]) for r in rows] for m, rows in sets.items()}
    except (ManifestError, AudioError) as error:
        parser.error(str(error))
    seconds_of_audio = sum(a.size for clips in audio.values() for a in clips) / SAMPLE_RATE
    print(f"Checkpoint `{checkpoint}`: " + "; ".join(f"{m}: {len(rows)} rows" for m, rows in sets.items())
          + f"; {seconds_of_audio / 60:.1f} min.\n")
    names = " | ".join(m.stem for m in sets)
    print(f"| beam | ctc_weight | lm_weight | oov_penalty | word_lm_weight | word_bonus | window | longest segment "
          f"| {names} | WER | CER | RTF |")
    print("|---" * (11 + len(sets)) + "|")
    results = []
    for beam, ctc, lm, oov, word_lm, bonus, window, longest in itertools.product(
            args.beam, args.ctc, args.lm, args.oov, args.word_lm, args.word_bonus, args.window,
            args.max_segment_seconds):
        if (lm and model.language_model is None) or (oov and model.lexicon is None) \
                or (word_lm and model.word_language_model is None) or (bonus and not word_lm):
            continue
        options = DecodeOptions(beam_size=beam, ctc_weight=ctc, lm_weight=lm, oov_penalty=oov,
                                word_lm_weight=word_lm, word_bonus=bonus,
                                attention_window=window)
        start = time.perf_counter()
        scores = [score(rows, [model.transcribe(samples, options=options, max_segment_seconds=longest).raw_text
                               for samples in audio[m]])
                  for m, rows in sets.items()]
        rtf = (time.perf_counter() - start) / seconds_of_audio
        criterion = mixed(scores)
        shown = ",".join(f"{w:g}" for w in window) or "none"
        results.append((criterion["wer"], f"| {beam} | {ctc} | {lm} | {oov} | {word_lm} | {bonus} | {shown} | "
                                  + f"{longest:g} s | "
                                  + " | ".join(f"{s['wer']:.1%}" for s in scores)
                                  + f" | {criterion['wer']:.1%} | {criterion['cer']:.1%} | {rtf:.3f} |"))
        print(results[-1][1], flush=True)
    if results:
        print(f"\nBest WER: {min(results)[1]}")


if __name__ == "__main__":
    main()
