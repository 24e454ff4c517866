"""Whisper's encoder on the true length or padded to its 30-second window: which hears people better?

Usage:
    python bench/whisper_window.py --encoder exp/whisper_tiny_encoder.pt \
        --train data/synth/train.jsonl --dev data/asterisk/dev.jsonl --train-utterances 800

Whisper was trained on 30-second windows only.  Our listener can run its encoder on each
segment's true length (the position table sliced), which is several times cheaper, or padded
to the window as Whisper was trained.  For each way, this computes the frozen encoder's states
of the first ``--train-utterances`` synthetic training utterances and of the human dev half,
trains the same small probe on each (one BLSTM layer + a CTC output, same seed and steps),
and prints greedy CER/WER on the human dev half and the encoder's time per utterance.
The test half is never read.  Prints what it measured and asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from asr.audio import load_audio, normalize_level
from asr.ctranslate2 import fill_pretrained_listener
from asr.manifest import read_manifest
from asr.metrics import ErrorRate
from asr.model import LAS, ModelConfig
from asr.text import normalize_text
from asr.vocab import Vocabulary
from asr.whisper import WINDOW_SECONDS


class _Probe(nn.Module):
    def __init__(self, width: int, vocab_size: int, hidden: int = 128):
        super().__init__()
        self.lstm = nn.LSTM(width, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, vocab_size)

    def forward(self, states):
        return self.out(self.lstm(states)[0])


@torch.no_grad()
def _states(model: LAS, rows: list[dict]) -> tuple[list[torch.Tensor], float]:
    out, seconds = [], 0.0
    for row in rows:
        samples = torch.from_numpy(normalize_level(load_audio(row["audio_filepath"])))[None]
        start = time.perf_counter()
        feats, frames = model.frontend(samples, torch.tensor([samples.shape[1]]))
        states, n = model.listener.pretrained_states(feats, frames)
        seconds += time.perf_counter() - start
        out.append(states[0, : n[0]].clone())
    return out, seconds / max(len(rows), 1)


def _train_probe(states, targets, width: int, vocab: Vocabulary, steps: int, seed: int = 0) -> _Probe:
    torch.manual_seed(seed)
    probe = _Probe(width, len(vocab))
    optimizer = torch.optim.Adam(probe.parameters(), lr=2e-3)
    order = torch.randperm(len(states), generator=torch.Generator().manual_seed(seed)).tolist()
    batch_size = 16
    for step in range(steps):
        picks = [order[(step * batch_size + i) % len(order)] for i in range(batch_size)]
        lengths = torch.tensor([states[i].shape[0] for i in picks])
        batch = nn.utils.rnn.pad_sequence([states[i] for i in picks], batch_first=True)
        target_lengths = torch.tensor([len(targets[i]) for i in picks])
        flat = torch.tensor([t for i in picks for t in targets[i]])
        log_probs = F.log_softmax(probe(batch), dim=-1).transpose(0, 1)
        loss = F.ctc_loss(log_probs, flat, lengths, target_lengths, blank=vocab.blank_id, zero_infinity=True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return probe.eval()


@torch.no_grad()
def _score(probe: _Probe, states, rows, vocab: Vocabulary) -> tuple[float, float]:
    chars, words = ErrorRate(), ErrorRate()
    for s, row in zip(states, rows):
        best = probe(s[None])[0].argmax(-1).tolist()
        ids = [t for k, t in enumerate(best) if t != vocab.blank_id and (k == 0 or t != best[k - 1])]
        hypothesis, reference = vocab.decode(ids), normalize_text(row["text"])
        chars.update(reference, hypothesis)
        words.update(reference.split(), hypothesis.split())
    return chars.rate, words.rate


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", required=True, help="encoder weights from python -m asr.ctranslate2")
    parser.add_argument("--listener", default="whisper-tiny")
    parser.add_argument("--train", required=True, help="synthetic training manifest")
    parser.add_argument("--dev", required=True, help="human dev manifest (never the test half)")
    parser.add_argument("--train-utterances", type=int, default=800)
    parser.add_argument("--steps", type=int, default=600, help="probe training steps of 16 utterances")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    vocab = Vocabulary()
    fits = lambda r: float(r["duration"]) <= WINDOW_SECONDS  # noqa: E731
    train_rows = [r for r in read_manifest(args.train) if fits(r)][: args.train_utterances]
    dev_rows = [r for r in read_manifest(args.dev) if fits(r)]
    targets = [vocab.encode(normalize_text(r["text"])) for r in train_rows]
    print(f"{len(train_rows)} training utterances ({sum(float(r['duration']) for r in train_rows) / 3600:.2f} h), "
          f"{len(dev_rows)} human dev utterances, probe: 1 BLSTM layer of 128 + CTC, {args.steps} steps")
    print("| encoder input | human dev CER | human dev WER | encoder s per dev utterance |")
    print("|---|---|---|---|")
    for pad in (False, True):
        model = LAS(ModelConfig(listener=args.listener, pad_to_window=pad)).eval()
        fill_pretrained_listener(model, args.encoder)
        train_states, _ = _states(model, train_rows)
        dev_states, seconds = _states(model, dev_rows)
        probe = _train_probe(train_states, targets, model.listener.state_dim, vocab, args.steps)
        cer, wer = _score(probe, dev_states, dev_rows, vocab)
        name = "padded to the 30-s window" if pad else "true length"
        print(f"| {name} | {cer:.1%} | {wer:.1%} | {seconds:.3f} |", flush=True)


if __name__ == "__main__":
    main()
