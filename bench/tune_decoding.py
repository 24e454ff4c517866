"""Choose decoding weights on the human dev half: a grid of beam, CTC and LM weights, one model load.

Usage:
    python bench/tune_decoding.py                                   # the bundled model, the default grid
    python bench/tune_decoding.py --checkpoint exp/whisper_tiny/with_lm.pt \
        --beam 4 --ctc 0.3 0.5 --lm 0 0.3 --oov 0 2 --word-lm 0 0.5 --word-bonus 0 1

Only the dev half can be tuned on: the test half is for quoting what was chosen here
(``bench/human.py``).  Prints one Markdown row per setting, best WER last, with the
decoding seconds per second of audio on one thread; the preset table
(``asr/presets.py``) is then set by hand from these rows.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch

from asr.audio import load_audio
from asr.checkpoint import default_checkpoint, load_model
from asr.decoding import DecodeOptions
from asr.manifest import read_manifest
from human import score


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=Path("data/asterisk/dev.jsonl"))
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled one")
    parser.add_argument("--beam", type=int, nargs="+", default=[4])
    parser.add_argument("--ctc", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    parser.add_argument("--lm", type=float, nargs="+", default=[0.0, 0.3, 0.5])
    parser.add_argument("--oov", type=float, nargs="+", default=[0.0])
    parser.add_argument("--word-lm", type=float, nargs="+", default=[0.0], help="word LM weights")
    parser.add_argument("--word-bonus", type=float, nargs="+", default=[0.0], help="per-word bonuses")
    args = parser.parse_args(argv)
    if "test" in args.manifest.name:
        parser.error("tune on dev; the test half only reports what dev chose (bench/human.py)")
    torch.set_num_threads(1)
    checkpoint = args.checkpoint or default_checkpoint()
    model = load_model(checkpoint)
    rows = read_manifest(args.manifest)
    audio = [load_audio(r["audio_filepath"]) for r in rows]
    seconds_of_audio = sum(a.size for a in audio) / 16_000
    print(f"Checkpoint `{checkpoint}`, {args.manifest}: {len(rows)} utterances, {seconds_of_audio / 60:.1f} min.\n")
    print("| beam | ctc_weight | lm_weight | oov_penalty | word_lm_weight | word_bonus | WER | CER | exact | RTF |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    results = []
    for beam, ctc, lm, oov, word_lm, bonus in itertools.product(args.beam, args.ctc, args.lm, args.oov,
                                                                  args.word_lm, args.word_bonus):
        if (lm and model.language_model is None) or (oov and model.lexicon is None) \
                or (word_lm and model.word_language_model is None) or (bonus and not word_lm):
            continue
        options = DecodeOptions(beam_size=beam, ctc_weight=ctc, lm_weight=lm, oov_penalty=oov,
                                word_lm_weight=word_lm, word_bonus=bonus)
        start = time.perf_counter()
        hypotheses = [model.transcribe(samples, options=options).text for samples in audio]
        rtf = (time.perf_counter() - start) / seconds_of_audio
        s = score(rows, hypotheses)
        results.append((s["wer"], f"| {beam} | {ctc} | {lm} | {oov} | {word_lm} | {bonus} | {s['wer']:.1%} | {s['cer']:.1%} | "
                                  f"{s['exact']}/{s['utterances']} | {rtf:.3f} |"))
        print(results[-1][1], flush=True)
    if results:
        print(f"\nBest WER: {min(results)[1]}")


if __name__ == "__main__":
    main()
