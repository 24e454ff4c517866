"""One measurement in a fresh process: one system, one setting, its time and peak memory.

Usage (bench/run_all.py runs one of these per row; by hand for a single configuration):
    python bench/measure.py las --inputs subset.jsonl --beam-size 5 --batch-size 8
    python bench/measure.py las --inputs long.wav --checkpoint exp/x/averaged.pt --threads 0
    python bench/measure.py las --inputs subset.jsonl --beam-size 5 --ctc-weight 0.3 --vtln
    python bench/measure.py pocketsphinx --inputs subset.jsonl

Prints one JSON object on stdout: seconds of audio, wall and CPU seconds, the
real-time factors (seconds per second of audio), the texts in input order,
the resident memory after loading and warming up, and the peak resident
memory of the process (``VmHWM``).  A fresh process per measurement
keeps each peak its own: nothing that an earlier configuration allocated
is counted.  Before the clock starts, the system loads and transcribes
``--warm-up`` once (default: the first input), so one-time set-up is not
billed per file.  CPU seconds are those of the whole process, all threads.

Nothing here imports ``asr`` (and so torch) unless the system measured is
ours: a pocketsphinx process holds only pocketsphinx, numpy and soundfile.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SYSTEMS = ("las", "pocketsphinx")


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux)."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak resident memory of this process since it started its program, in MB (Linux).

    Not ``getrusage().ru_maxrss``: that survives ``exec``, so a child started by a
    big parent reports the parent's size as its own peak.
    """
    return _status_mb("VmHWM")


def input_paths(inputs: list[str]) -> list[Path]:
    """Audio paths from audio files and JSONL manifests (relative paths resolved as asr.manifest does), in order."""
    paths = []
    for item in inputs:
        if not item.endswith(".jsonl"):
            paths.append(Path(item))
            continue
        for line in Path(item).read_text().splitlines():
            if line.strip():
                path = Path(json.loads(line)["audio_filepath"])
                paths.append(path if path.is_absolute() else Path(item).parent / path)
    return paths


def measure_las(paths: list[Path], warm_up: Path, args) -> dict:
    import torch

    import asr
    from asr.commands.transcribe import DEFAULT_BATCH_SIZE, DEFAULT_THREADS
    from asr.decoding import VTLN_WARP_FACTORS, DecodeOptions
    from asr.transcribe import transcribe_many
    from transcribe_speed import measure

    threads = DEFAULT_THREADS if args.threads is None else args.threads
    batch_size = args.batch_size or DEFAULT_BATCH_SIZE
    if threads:
        torch.set_num_threads(threads)
    model = asr.load_model(args.checkpoint)
    options = DecodeOptions(beam_size=args.beam_size, ctc_weight=args.ctc_weight, lm_weight=args.lm_weight,
                            oov_penalty=args.oov_penalty, warp_factors=VTLN_WARP_FACTORS if args.vtln else ())
    list(transcribe_many(model, [warm_up], options, batch_size))
    after_load = rss_mb()
    result = measure(model, paths, options, batch_size, warm_up=False, repeats=args.repeats)
    return result | {"rss_after_load_mb": after_load, "threads": torch.get_num_threads(), "batch_size": batch_size}


def measure_pocketsphinx(paths: list[Path], warm_up: Path, args) -> dict:
    import peer

    recognizer = peer.PocketSphinx()
    recognizer.transcribe(warm_up)
    after_load = rss_mb()
    result = peer.measure(recognizer, paths, repeats=args.repeats)
    return result | {"rss_after_load_mb": after_load, "threads": 1, "batch_size": 1}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("system", choices=SYSTEMS, help="las: our model; pocketsphinx: the peer")
    parser.add_argument("--inputs", nargs="+", required=True, metavar="PATH",
                        help="audio files and/or JSONL manifests, transcribed in this order")
    parser.add_argument("--warm-up", type=Path, default=None, metavar="PATH",
                        help="audio transcribed once before timing (default: the first input)")
    parser.add_argument("--checkpoint", default=None,
                        help="las: checkpoint to load (default: the bundled one)")
    parser.add_argument("--beam-size", type=int, default=1, help="las: 1 is greedy (default: 1)")
    parser.add_argument("--ctc-weight", type=float, default=0.0, help="las: joint CTC weight (default: 0)")
    parser.add_argument("--lm-weight", type=float, default=0.0, help="las: language model weight (default: 0)")
    parser.add_argument("--oov-penalty", type=float, default=0.0,
                        help="las: penalty per word outside the checkpoint's lexicon (default: 0)")
    parser.add_argument("--vtln", action="store_true",
                        help="las: speaker normalisation, as asr transcribe --vtln (default: off)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="las: segments decoded together (default: asr transcribe's, 8)")
    parser.add_argument("--threads", type=int, default=None,
                        help="las: torch CPU threads, 0 for torch's default (default: asr transcribe's, 1)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="timed runs over the inputs; the fastest counts (default: 1)")
    args = parser.parse_args(argv)
    paths = input_paths(args.inputs)
    if not paths:
        raise SystemExit("no inputs")
    warm_up = args.warm_up or paths[0]
    run = measure_las if args.system == "las" else measure_pocketsphinx
    result = run(paths, warm_up, args)
    result["peak_rss_mb"] = peak_rss_mb()
    result["torch_loaded"] = "torch" in sys.modules
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
