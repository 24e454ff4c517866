"""Choose test-time VTLN's warp factors on dev sets: decode once per warp, score every subset.

Usage:
    python bench/tune_warps.py                                  # the mixed dev criterion and the recorded people
    python bench/tune_warps.py --sets people --warps 0.85 0.9 0.95 1.0 1.05 1.1 --preset live

Each recording is cut as ``model.transcribe`` cuts it, and every segment is decoded with the
preset (``accurate`` by default) at each of ``--warps``, once.  Then, for every subset of those
warps that holds 1.0, two rules are scored from the same decodes: ``segment`` keeps each segment's
surest result (what :func:`asr.decoding.search.decode` does), ``recording`` keeps one warp for all
segments of a recording, the one surest over the whole recording (a speaker's vocal tract does not
change between sentences).  "Surest" is the score per character, as in ``decode``.  Prints one
Markdown row per subset and rule: WER per set, the mixed dev criterion (``bench/human.py``'s, when
its three sets are in the run), and the decodes it takes relative to one warp.  Dev sets only.
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import replace
from pathlib import Path

import torch

from asr.audio.blocks import open_audio
from asr.audio.io import load_audio
from asr.audio.segment import analyse, plan
from asr.audio.vad import SpeechDetector
from asr.decoding.presets import PRESETS, preset, usable
from asr.decoding.search import VTLN_WARP_FACTORS
from asr.decoding.transcribe import decode_pieces, heard_ranges, piece_options
from asr.model.checkpoint import default_checkpoint, load_model
from asr.training.manifest import ManifestError
from human import MIXED_SETS, mixed, score, set_rows

DEV_SETS = ("asterisk-dev", "test_natural", "longform", "people")
BEAM_PRESETS = [name for name, values in PRESETS.items() if values.get("beam_size", 1) > 1]


def per_warp_decodes(model, rows: list[dict], options, warps: list[float]) -> list[list[dict]]:
    """For each row, its segments' results at every warp: [row][segment][warp] -> (text, score per character)."""
    detector = SpeechDetector()
    decodes = []
    for row in rows:
        audio = open_audio(load_audio(row["audio_filepath"]), row["audio_filepath"])
        analysis = analyse(audio, detector)
        ranges = plan(analysis)
        read, margins = heard_ranges(model, ranges, analysis.num_samples, options)  # as model.transcribe
        pieces = list(audio.slices(read))
        heard = piece_options(options, decoded_whole=ranges == [(0, analysis.num_samples)])
        by_warp = [decode_pieces(model, pieces, replace(heard, warp_factors=(w,)), margins=margins)
                   for w in warps] if pieces else []
        decodes.append([[{"text": r.text, "score": r.score, "characters": len(r.tokens) + 1} for r in results]
                        for results in zip(*by_warp)])
    return decodes


def choose(segments: list[list[dict]], kept: list[int], rule: str) -> str:
    """One recording's text from its per-warp decodes, choosing among warp indices ``kept`` by ``rule``."""
    if rule == "segment":
        return " ".join(max((seg[k] for k in kept), key=lambda d: d["score"])["text"] for seg in segments)
    if not segments:
        return ""
    per_character = {k: sum(seg[k]["score"] * seg[k]["characters"] for seg in segments)
                     / sum(seg[k]["characters"] for seg in segments) for k in kept}
    best = max(kept, key=per_character.get)
    return " ".join(seg[best]["text"] for seg in segments)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", choices=DEV_SETS, default=list(DEV_SETS))
    parser.add_argument("--warps", type=float, nargs="+", default=[0.8, 0.9, 1.0, 1.1])
    parser.add_argument("--preset", choices=BEAM_PRESETS, default="accurate",
                        help="a beam-search preset (its scores are per character, as the rules compare them)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled one")
    parser.add_argument("--asterisk", type=Path, default=Path("data/asterisk"))
    parser.add_argument("--synth", type=Path, default=Path("data/synth"))
    parser.add_argument("--people", type=Path, default=Path("data/people"))
    args = parser.parse_args(argv)
    if 1.0 not in args.warps:
        parser.error("--warps must include 1.0, the audio as it is")
    torch.set_num_threads(1)
    model = load_model(args.checkpoint or default_checkpoint()).eval()
    options = usable(preset(args.preset, vtln=False), model)
    sets, decodes = {}, {}
    for name in args.sets:
        try:
            sets[name] = set_rows(name, args.asterisk, args.synth, args.people)
        except ManifestError as error:
            print(f"- {name}: left out: {error}")
            continue
        start = time.perf_counter()
        decodes[name] = per_warp_decodes(model, sets[name], options, args.warps)
        print(f"- {name}: {len(sets[name])} rows at {len(args.warps)} warps in {time.perf_counter() - start:.0f} s",
              flush=True)
    print(f"\nPreset `{args.preset}`; WER %.\n")
    print("| warps | rule | " + " | ".join(sets) + " | mixed | decodes |\n|---|---|" + "---|" * (len(sets) + 2))
    one = args.warps.index(1.0)
    others = [k for k in range(len(args.warps)) if k != one]
    for size in range(len(others) + 1):
        for subset in itertools.combinations(others, size):
            kept = sorted((one, *subset))
            for rule in ("segment", "recording") if size else ("segment",):
                scores = {name: score(sets[name], [choose(segs, kept, rule) for segs in decodes[name]])
                          for name in sets}
                both = all(n in scores for n in MIXED_SETS)
                cells = " | ".join(f"{100 * s['wer']:.1f}" for s in scores.values())
                criterion = f"{100 * mixed([scores[n] for n in MIXED_SETS])['wer']:.2f}" if both else ""
                warps = ", ".join(str(args.warps[k]) for k in kept)
                marker = " (VTLN_WARP_FACTORS)" if tuple(args.warps[k] for k in kept) == VTLN_WARP_FACTORS else ""
                print(f"| {warps}{marker} | {rule if size else 'none'} | {cells} | {criterion} | {len(kept)}x |",
                      flush=True)


if __name__ == "__main__":
    main()
