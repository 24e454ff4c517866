"""Train the character language model on plain text and bundle it with an acoustic model.

    asr train-lm --text data/synth/text/train.txt --dev-text data/synth/text/dev.txt \\
        --checkpoint exp/whisper_tiny/averaged.pt --out exp/whisper_tiny/with_lm.pt

Text files hold one sentence per line and go through the same normalisation as
transcripts.  Batches group sentences of similar length up to a budget of
characters.  Every ``save_every`` steps ``exp_dir/last.pt`` is written atomically
with the weights, the optimiser and the position in the epoch; a killed run
started again with the same ``exp_dir`` continues from there.  Each epoch's batch
order depends only on the seed and the epoch, and the random generator is saved
too, so on a CPU a resumed run ends with the weights of an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from asr.model.checkpoint import language_model_to_dict, save_atomic
from asr.model.char_lm import CharLanguageModel, LanguageModelConfig
from asr.model.lexicon import Lexicon
from asr.model.word_lm import WordLanguageModel
from asr.training.config import OptimConfig, learning_rate
from asr.training.resumable import stop_signals_deferred
from asr.model.vocab import Vocabulary


@dataclass(frozen=True)
class LMTrainingConfig:
    epochs: int = 4
    batch_characters: int = 12_000  # padded characters per batch
    peak_lr: float = 2e-3
    warmup_steps: int = 200
    grad_clip: float = 1.0
    seed: int = 0
    save_every: int = 200  # steps between resumable checkpoints
    threads: int = 0  # torch CPU threads; 0 = all cores
    device: str = "auto"


def plan_batches(lengths: list[int], batch_characters: int, rng: random.Random) -> list[list[int]]:
    """Indices grouped into batches of similar length, each at most ``batch_characters`` once padded.

    Sorting all sentences would give every epoch the same batches; sorting within random
    chunks of 50 batches' worth keeps padding low and the batches different each epoch.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    per_batch = max(1, batch_characters // max(1, round(sum(lengths) / max(1, len(lengths)))))
    chunk = 50 * per_batch
    batches = []
    for start in range(0, len(order), chunk):
        current, longest = [], 0
        for i in sorted(order[start:start + chunk], key=lambda i: lengths[i]):
            if current and max(longest, lengths[i] + 1) * (len(current) + 1) > batch_characters:
                batches.append(current)
                current, longest = [], 0
            current.append(i)
            longest = max(longest, lengths[i] + 1)
        if current:
            batches.append(current)
    rng.shuffle(batches)
    return batches


@torch.no_grad()
def bits_per_character(lm: CharLanguageModel, texts: list[str], vocabulary: Vocabulary,
                       batch_size: int = 64) -> float:
    """Average negative log2-probability per character (``<eos>`` counted as one)."""
    was_training = lm.training
    lm.eval()
    total, count = 0.0, 0
    ids = [vocabulary.encode(t) for t in texts]
    for start in range(0, len(ids), batch_size):
        nats, n = lm.loss(ids[start:start + batch_size], vocabulary)
        total, count = total + float(nats), count + n
    lm.train(was_training)
    return total / max(1, count) / math.log(2)


def train_language_model(texts: list[str], dev_texts: list[str], vocabulary: Vocabulary,
                         model_config: LanguageModelConfig, config: LMTrainingConfig, exp_dir,
                         progress: bool = True, log=print) -> CharLanguageModel:
    """Train (or continue training, from ``exp_dir/last.pt``) a character LM; returns it in eval mode."""
    from tqdm import tqdm

    if not texts:
        raise ValueError("no training text: every line was empty after normalisation")
    if model_config.vocab_size != len(vocabulary):
        raise ValueError(f"language model vocab_size {model_config.vocab_size} != vocabulary size {len(vocabulary)}")
    if config.threads:
        torch.set_num_threads(config.threads)
    device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available()
                          else "cpu" if config.device == "auto" else config.device)
    torch.manual_seed(config.seed)
    lm = CharLanguageModel(model_config).to(device)
    optimizer = torch.optim.AdamW(lm.parameters(), lr=config.peak_lr, weight_decay=1e-6)
    ids = [vocabulary.encode(t) for t in texts]
    lengths = [len(t) for t in ids]
    # Batch counts differ a little between epochs; the schedule spans all of them exactly.
    total_steps = sum(len(plan_batches(lengths, config.batch_characters, random.Random(config.seed + epoch)))
                      for epoch in range(config.epochs))
    schedule = OptimConfig(peak_lr=config.peak_lr, warmup_steps=config.warmup_steps, max_steps=total_steps)
    # What must match for a saved run to be continued rather than mixed with a different one
    # (threads and device may change between a run and its continuation).
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("threads", "device")}
    text_digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    identity = {"model": dataclasses.asdict(model_config), "training": settings, "text_sha256": text_digest,
                "vocabulary": list(vocabulary.tokens)}
    exp_dir = Path(exp_dir)
    last = exp_dir / "last.pt"
    step, epoch, batch_in_epoch, elapsed, history = 0, 0, 0, 0.0, []
    if last.is_file():
        try:
            saved = torch.load(last, map_location="cpu", weights_only=True)
        except Exception:
            raise ValueError(f"{last} is not a readable language-model training state; delete it to start over") \
                from None
        if not isinstance(saved, dict) or saved.get("identity") != identity:
            raise ValueError(f"{last} is from a different language-model run (other text or settings); "
                             "use another --exp-dir or delete it")
        lm.load_state_dict(saved["state_dict"])
        optimizer.load_state_dict(saved["optimizer"])
        step, epoch, batch_in_epoch = saved["step"], saved["epoch"], saved["batch_in_epoch"]
        elapsed, history = saved["elapsed"], list(saved["history"])
        torch.set_rng_state(saved["rng"])  # dropout masks continue as if never stopped
        log(f"resumed from {last} at step {step} (epoch {epoch + 1}, batch {batch_in_epoch})")

    def save() -> None:
        save_atomic({"identity": identity, "state_dict": lm.state_dict(), "optimizer": optimizer.state_dict(),
                     "step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch,
                     "elapsed": elapsed + time.time() - started, "history": history,
                     "rng": torch.get_rng_state()}, last)

    stop = []

    def request_stop(signum, frame):  # finish the step and save; a second Ctrl-C acts as usual
        stop.append(signum)
        signal.signal(signum, previous[signum])

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    started = time.time()
    bar = tqdm(total=total_steps, initial=step, desc="train-lm", disable=not progress, dynamic_ncols=True)
    try:
        lm.train()
        while epoch < config.epochs and not stop:
            batches = plan_batches(lengths, config.batch_characters, random.Random(config.seed + epoch))
            while batch_in_epoch < len(batches) and not stop:
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(step, schedule)
                with stop_signals_deferred():
                    nats, count = lm.loss([ids[i] for i in batches[batch_in_epoch]], vocabulary)
                    loss = nats / count
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(lm.parameters(), config.grad_clip)
                    optimizer.step()
                step, batch_in_epoch = step + 1, batch_in_epoch + 1
                bar.update(1)
                bar.set_postfix(bpc=f"{loss.item() / math.log(2):.3f}", epoch=epoch + 1)
                if step % config.save_every == 0:
                    save()
            if batch_in_epoch == len(batches):
                dev_bpc = bits_per_character(lm, dev_texts, vocabulary) if dev_texts else float("nan")
                history.append(round(dev_bpc, 4))
                log(f"epoch {epoch + 1}: dev {dev_bpc:.3f} bits per character")
                epoch, batch_in_epoch = epoch + 1, 0
        save()
    finally:
        bar.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop:
        raise KeyboardInterrupt(f"stopped at step {step}; the same command continues from {last}")
    lm.metadata = {"sentences": len(texts), "characters": sum(lengths), "epochs": config.epochs, "steps": step,
                   "dev_bits_per_character": history, "wall_seconds": round(elapsed + time.time() - started, 1),
                   "device": str(device), "training": dataclasses.asdict(config)}
    return lm.eval()


def bundle(checkpoint: dict, lm: CharLanguageModel, out, lexicon: Lexicon | None = None,
           word_lm: WordLanguageModel | None = None) -> None:
    """Write ``checkpoint`` (an acoustic model's dict) with ``lm`` (and ``lexicon``, ``word_lm``) in it
    to ``out``, atomically."""
    acoustic = {k: v for k, v in checkpoint.items() if k not in ("training_state", "word_language_model")}
    extra = {"lexicon": lexicon.to_dict()} if lexicon is not None else {}
    if word_lm is not None:
        extra["word_language_model"] = word_lm.to_dict()
    save_atomic({**acoustic, "language_model": language_model_to_dict(lm), **extra}, out)
