"""Parameters and encoder + decoder time of one 5-second utterance, for a model config.

Usage:
    python bench/model_speed.py                       # the default small ModelConfig
    python bench/model_speed.py --checkpoint checkpoints/las_whisper_base.pt
    python bench/model_speed.py --threads 1 2 --repeats 10

The decoder is timed for a fixed number of steps (``--chars``, default 75:
about 15 characters per second of speech), so untrained and trained models
cost the same.  Median of ``--repeats`` runs after a warm-up; prints what it
measured and asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from asr.checkpoint import load_model
from asr.model import LAS, ModelConfig


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: allocator and oneDNN kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.no_grad()
def measure(model: LAS, seconds: float, chars: int, repeats: int) -> tuple[float, float]:
    """(encoder seconds, decoder seconds) for one utterance of ``seconds``."""
    samples = int(seconds * model.config.features.sample_rate)
    waveform = torch.randn(1, samples) * 0.1
    lengths = torch.tensor([samples])
    encode = lambda: model.encode(waveform, lengths)  # noqa: E731
    h, h_lengths = encode()
    mask = torch.ones(1, h.shape[1], dtype=torch.bool)

    def decode():
        keys = model.speller.attention.precompute(h)
        state = model.speller.initial_state(h, mask)
        token = torch.tensor([model.vocabulary.sos_id])
        for _ in range(chars):
            logits, state = model.speller.step(token, state, keys, h, mask)
            token = logits.argmax(-1)

    return _median_seconds(encode, repeats), _median_seconds(decode, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a checkpoint instead of the default ModelConfig")
    parser.add_argument("--seconds", type=float, default=5.0, help="utterance length")
    parser.add_argument("--chars", type=int, default=75, help="decoder steps")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts to try")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per measurement")
    args = parser.parse_args()
    model = load_model(args.checkpoint) if args.checkpoint else LAS(ModelConfig()).eval()
    parts = {"listener": model.listener.parameters(),
             "attention": model.speller.attention.parameters(), "speller (incl. attention)": model.speller.parameters(),
             "ctc head": model.ctc_head.parameters()}
    total = model.num_parameters()
    print(f"parameters: {total:,} ({total / 1e6:.2f} M)")
    for name, params in parts.items():
        print(f"  {name}: {sum(p.numel() for p in params):,}")
    print(f"{args.seconds:g} s utterance, {args.chars} decoder steps, median of {args.repeats}:")
    for threads in args.threads:
        torch.set_num_threads(threads)
        encoder, decoder = measure(model, args.seconds, args.chars, args.repeats)
        print(f"  threads={threads}: encoder {encoder * 1000:.0f} ms, decoder {decoder * 1000:.0f} ms, "
              f"total {(encoder + decoder) * 1000:.0f} ms (real-time factor {(encoder + decoder) / args.seconds:.3f})")


if __name__ == "__main__":
    main()
