"""Training: a config in, checkpoints out, resumable at any moment.

    asr train --config recipes/synth/small.yaml [key=value ...] [--resume]
    torchrun --nproc_per_node 2 -m asr train --config ...   # several processes / GPUs / nodes

The config is an :class:`asr.training.config.ExperimentConfig`, read from YAML by
:func:`asr.training.config.load_config`.
Each ``checkpoint_every`` steps the trainer writes ``exp_dir/last.pt``
atomically with everything needed to continue: weights, optimiser, schedule,
the position in the epoch and every random generator.  ``--resume`` picks it
up and continues with the very batches the killed run would have seen.  The
``keep_best`` checkpoints by dev CER are kept and averaged into
``exp_dir/averaged.pt`` at the end.  ``train.init_from=CKPT`` fine-tunes: it starts a
new run (fresh optimiser and schedule) from another checkpoint's weights.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import yaml

from asr.audio.io import SAMPLE_RATE, load_audio
from asr.model.checkpoint import average_checkpoints, config_from_dict, model_to_dict, read_checkpoint, save_atomic
from asr.model.ctranslate2 import fill_pretrained_listener
from asr.training.data import DurationBucketSampler, SpeechDataset, collate, filter_rows, load_for_cmvn
from asr.decoding.search import DecodeOptions
from asr.training.encoder_states import EncoderStateDataset, check_meta, collate_states
from asr.training.config import ExperimentConfig, learning_rate
from asr.files import write_atomic
from asr.training.manifest import read_manifest
from asr.metrics import ErrorRate
from asr.model.las import LAS
from asr.training.resumable import ignore_stop_signals, rng_state, set_rng_state, stop_signals_deferred
from asr.text import normalize_text
from asr.audio.segment import MAX_SEGMENT_SECONDS
from asr.decoding.transcribe import decode_pieces, transcribe
from asr.model.vocab import Vocabulary
from asr.training.widen import GROWABLE, widen


# Seconds of audio per cached encoder state (Whisper's 20 ms), for the throughput figures.
STATE_SECONDS = 0.02

_TRAINING_ONLY = {"dropout", "ctc_loss_weight", "label_smoothing", "freq_masks", "freq_mask_width", "time_masks",
                  "time_mask_fraction", "vtlp_range"}


_PART = {"encoder_hidden": "listener", "decoder_hidden": "speller"}


def _architecture(config) -> dict:
    """The model and feature settings the weights depend on, flattened."""
    settings = dataclasses.asdict(config)
    settings |= {f"features.{k}": v for k, v in settings.pop("features").items()}
    return {k: v for k, v in settings.items() if k.rsplit(".", 1)[-1] not in _TRAINING_ONLY}


# --- distributed helpers -----------------------------------------------------------------------

def _distributed() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) when run directly."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


class Trainer:
    """Owns the model, optimiser and bookkeeping of one training run (one process of it under DDP)."""

    def __init__(self, config: ExperimentConfig, resume: bool = False, config_path: str | None = None):
        self.config = config
        self.rank, self.world_size, local_rank = _distributed()
        self.main = self.rank == 0
        t = config.train
        if t.threads:
            torch.set_num_threads(t.threads)
        use_cuda = t.device == "cuda" or (t.device == "auto" and torch.cuda.is_available())
        self.device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
        if use_cuda:
            torch.cuda.set_device(self.device)  # NCCL's object collectives use the current device
        if self.world_size > 1 and not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
        self.exp_dir = Path(t.exp_dir)
        self.exp_dir.mkdir(parents=True, exist_ok=True)
        if self.main:
            for stale in self.exp_dir.glob(".*.tmp"):  # half-written by a run killed mid-save
                stale.unlink()
        torch.manual_seed(t.seed + self.rank)
        np.random.seed(t.seed + self.rank)
        random.seed(t.seed + self.rank)

        self.vocabulary = Vocabulary()
        train_rows = [r for m in config.data.train_manifests for r in read_manifest(m)]
        self.train_rows = filter_rows(train_rows, config.data.max_utterance_seconds)
        if not self.train_rows:
            raise ValueError("no training utterances: check data.train_manifests")
        dev_rows = read_manifest(config.data.dev_manifest) if config.data.dev_manifest else []
        picks = random.Random(0).sample(range(len(dev_rows)), min(config.data.dev_utterances, len(dev_rows)))
        self.dev_rows = [dev_rows[i] for i in sorted(picks)]
        # Read now, so a broken dev file stops the run before training rather than at its first evaluation.
        self._dev_audio = [load_audio(r["audio_filepath"]) for r in self.dev_rows] if self.main else []
        self._dev_alignment = None  # attention of the first dev utterance at the last evaluation

        self.model = LAS(config_from_dict(config.model), self.vocabulary).to(self.device)
        if config.data.encoder_states and not self.model.pretrained:
            raise ValueError(f"data.encoder_states is for a pretrained listener, not {self.model.config.listener}")
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.optim.peak_lr,
                                           weight_decay=config.optim.weight_decay)
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.best: list[tuple[float, int, str]] = []  # (dev CER, step, path), best first
        self.started_at = time.time()
        self.trained_seconds = 0.0  # audio seconds seen, all processes
        last = self.exp_dir / "last.pt"
        if resume and last.exists():
            self._restore(last)
        else:
            if t.init_from:
                self._initialize_from(t.init_from)
            elif self.model.pretrained:
                if not t.pretrained_encoder:
                    raise ValueError(f"a {self.model.config.listener} listener needs train.pretrained_encoder "
                                     "(weights from python -m asr.model.ctranslate2) or train.init_from")
                fill_pretrained_listener(self.model, t.pretrained_encoder)
            else:
                self._compute_cmvn()
            if self.main:
                write_atomic(self.exp_dir / "config.yaml", yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))
        if config.data.encoder_states:
            check_meta(config.data.encoder_states, self.model)
            self.dataset = EncoderStateDataset(self.train_rows, self.vocabulary, config.data.encoder_states)
            self.collate, self.input_seconds = collate_states, STATE_SECONDS
        else:
            self.dataset = SpeechDataset(self.train_rows, self.vocabulary, config.augment, seed=t.seed)
            self.collate, self.input_seconds = collate, 1 / self.model.config.features.sample_rate
        self.sampler = DurationBucketSampler([float(r["duration"]) for r in self.train_rows],
                                             config.data.max_batch_seconds, seed=t.seed,
                                             rank=self.rank, world_size=self.world_size,
                                             sortagrad=config.data.sortagrad)
        if self.sampler.batches_per_epoch() == 0:
            raise ValueError(f"{len(self.train_rows)} training utterances make no batch for each of "
                             f"{self.world_size} processes")
        self.ddp_model = self.model
        if self.world_size > 1:
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if use_cuda else None)
        self.autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if use_cuda else nullcontext())
        self.writer = None
        if self.main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.exp_dir / "tensorboard"))
        self._stop_requested = False

    # --- state ----------------------------------------------------------------------------------

    @torch.no_grad()
    def _compute_cmvn(self) -> None:
        """Global mean/variance of log-mel features over a sample of training audio (rank 0's view)."""
        log_mel = self.model.frontend.log_mel.eval()
        total, squares, count = 0.0, 0.0, 0
        for samples in load_for_cmvn(self.train_rows, self.config.data.cmvn_utterances, self.config.train.seed):
            wave = torch.from_numpy(samples)[None].to(self.device)
            feats, _ = log_mel(wave, torch.tensor([samples.size], device=self.device))
            feats = feats[0].double()
            total, squares, count = total + feats.sum(0), squares + (feats**2).sum(0), count + feats.shape[0]
        self.model.frontend.cmvn.set_statistics(total.float(), squares.float(), count)
        if self.world_size > 1:  # everyone uses rank 0's statistics
            torch.distributed.broadcast(self.model.frontend.cmvn.mean, 0)
            torch.distributed.broadcast(self.model.frontend.cmvn.std, 0)

    def _initialize_from(self, path: str) -> None:
        checkpoint = read_checkpoint(path)
        their_config = config_from_dict(checkpoint["model_config"])
        ours, theirs = _architecture(self.model.config), _architecture(their_config)
        different = sorted(k for k in ours if ours[k] != theirs[k])
        state_dict, widened = checkpoint["state_dict"], ""
        grown = [k for k in GROWABLE if k in different and ours[k] > theirs[k] and ours[k] % theirs[k] == 0]
        if different and set(grown) == set(different):
            # A wider listener or speller starts as a copy of the narrow one's function (asr.training.widen).
            state_dict = widen(state_dict, their_config, self.model.config, seed=self.config.train.seed)
            widened = "".join(f", {_PART[k]} widened from {theirs[k]} to {ours[k]} units" for k in grown)
        elif different:
            raise ValueError(f"train.init_from={path} has a different model: "
                             + ", ".join(f"{k} {theirs[k]!r} there, {ours[k]!r} here" for k in different)
                             + ("" if set(different) - set(GROWABLE) else
                                " (a listener or speller can only grow, by a whole factor)"))
        self.model.load_state_dict(state_dict)  # CMVN statistics are buffers in it
        self._keep_pretrained_provenance(checkpoint)
        if self.main:
            print(f"initialised from {path} (trained {checkpoint.get('metadata', {}).get('step', '?')} steps"
                  f"{widened})")

    def _keep_pretrained_provenance(self, checkpoint: dict) -> None:
        """Where the frozen encoder's weights came from goes on into every checkpoint of this run."""
        provenance = checkpoint.get("metadata", {}).get("pretrained_encoder")
        if provenance:
            self.model.metadata["pretrained_encoder"] = provenance

    def _metadata(self) -> dict:
        pretrained = self.model.metadata.get("pretrained_encoder")
        return ({"pretrained_encoder": pretrained} if pretrained else {}) | {
            "step": self.step, "epoch": self.epoch,
            "train_manifests": list(self.config.data.train_manifests),
            "train_utterances": len(self.train_rows),
            "train_hours": round(sum(float(r["duration"]) for r in self.train_rows) / 3600, 2),
            "audio_seconds_seen": round(self.trained_seconds, 1),
            "wall_seconds": round(time.time() - self.started_at, 1),
            "world_size": self.world_size, "device": str(self.device),
            "config": json.dumps(dataclasses.asdict(self.config)),
        }

    def _training_state(self, rng_by_rank: list[dict]) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(), "step": self.step, "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch, "rng": rng_by_rank[0], "rng_by_rank": rng_by_rank,
            "best": [[cer, step, path] for cer, step, path in self.best],
            "trained_seconds": self.trained_seconds, "elapsed": time.time() - self.started_at,
        }

    def save_last(self) -> None:
        """last.pt, for --resume: weights, optimiser, position in the data, and every process's
        random state, so each one's augmentation, SpecAugment and sampling draws go on unchanged.
        Every process must call it (it gathers their random states); rank 0 writes."""
        rng_by_rank = [rng_state()]
        if self.world_size > 1:
            rng_by_rank = [None] * self.world_size
            torch.distributed.all_gather_object(rng_by_rank, rng_state())
        if self.main:
            self.model.metadata = self._metadata()
            checkpoint = model_to_dict(self.model)
            checkpoint["training_state"] = self._training_state(rng_by_rank)
            save_atomic(checkpoint, self.exp_dir / "last.pt")

    def _restore(self, path: Path) -> None:
        checkpoint = read_checkpoint(path)
        self.model.load_state_dict(checkpoint["state_dict"])
        self._keep_pretrained_provenance(checkpoint)
        state = checkpoint["training_state"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.best = [(float(c), int(s), str(p)) for c, s, p in state["best"]]
        self.trained_seconds = float(state["trained_seconds"])
        self.started_at = time.time() - float(state["elapsed"])
        rng_by_rank = state.get("rng_by_rank") or [state["rng"]]  # older checkpoints: rank 0's only
        if len(rng_by_rank) == self.world_size:
            set_rng_state(rng_by_rank[self.rank])
        elif self.main:
            print(f"resuming with {self.world_size} processes where {len(rng_by_rank)} stopped: "
                  "random draws start afresh")
        if self.main:
            print(f"resumed from {path} at step {self.step} (epoch {self.epoch}, batch {self.batch_in_epoch})")

    # --- loop -----------------------------------------------------------------------------------

    def _request_stop(self, signum, frame) -> None:
        self._stop_requested = True  # finish the current step, save, exit

    def fit(self) -> Path:
        """Train to ``optim.max_steps``; returns the path of the final (averaged) model."""
        previous = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            return self._fit()
        finally:  # a notebook or script that trains and goes on gets its Ctrl-C back
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _fit(self) -> Path:
        from tqdm import tqdm

        o, t = self.config.optim, self.config.train
        progress = tqdm(total=o.max_steps, initial=self.step, desc="train", disable=not self.main,
                        dynamic_ncols=True)
        window_start, window_audio = time.time(), 0.0
        while self.step < o.max_steps and not self._stop_requested:
            self.dataset.set_epoch(self.epoch)
            self.sampler.set_epoch(self.epoch, skip_batches=self.batch_in_epoch)
            loader = torch.utils.data.DataLoader(
                self.dataset, batch_sampler=self.sampler, collate_fn=self.collate,
                num_workers=self.config.data.num_workers, persistent_workers=False, worker_init_fn=ignore_stop_signals,
                # Its own generator: creating a loader must not draw from the global RNG, or a
                # resumed run's dropout and SpecAugment would differ from the uninterrupted run's.
                generator=torch.Generator().manual_seed(t.seed * 1000 + self.epoch))
            for waveforms, lengths, targets, target_lengths in loader:
                with stop_signals_deferred():
                    losses = self._train_step(waveforms, lengths, targets, target_lengths)
                self.step += 1
                self.batch_in_epoch += 1
                audio = float(lengths.sum()) * self.input_seconds * self.world_size
                self.trained_seconds += audio
                window_audio += audio
                progress.update(1)
                if self.main and self.step % t.log_every == 0:
                    speed = window_audio / max(time.time() - window_start, 1e-6)
                    window_start, window_audio = time.time(), 0.0
                    progress.set_postfix(loss=f"{losses['loss']:.3f}", audio_x=f"{speed:.0f}")
                    for name, value in losses.items():
                        self.writer.add_scalar(f"train/{name}", value, self.step)
                    self.writer.add_scalar("train/lr", learning_rate(self.step, o), self.step)
                    self.writer.add_scalar("train/audio_seconds_per_second", speed, self.step)
                if self.step % t.eval_every == 0 or self.step == o.max_steps:
                    self._evaluate_and_keep()
                if self.step % t.checkpoint_every == 0:
                    self.save_last()
                if self.step >= o.max_steps or self._stop_agreed():
                    break
            else:
                self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        progress.close()
        self.save_last()
        if self._stop_requested:
            if self.main:
                print(f"stopped at step {self.step}; continue with --resume")
            return self.exp_dir / "last.pt"
        if self.world_size > 1:
            self._check_replicas_agree()
        return self._finish()

    def _check_replicas_agree(self) -> None:
        """Every DDP process must end holding rank 0's weights; only rank 0's are saved, so a
        replica that drifted (a parameter or buffer left out of the all-reduce) would go unseen."""
        local = torch.stack([v.detach().double().sum() for v in self.model.state_dict().values()
                             if v.is_floating_point()])
        everyone = [torch.empty_like(local) for _ in range(self.world_size)]
        torch.distributed.all_gather(everyone, local)
        if not all(torch.equal(other, everyone[0]) for other in everyone):
            raise RuntimeError("DDP processes ended training with different weights")
        if self.main:
            print(f"DDP: {self.world_size} processes on {torch.distributed.get_backend()} "
                  "ended with the same weights")

    def _stop_agreed(self) -> bool:
        """Whether any process was asked to stop. Under DDP all must stop after the same step,
        or the ones still training would wait for the others' gradients forever."""
        if self.world_size > 1:
            flag = torch.tensor([float(self._stop_requested)], device=self.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            self._stop_requested = bool(flag.item())
        return self._stop_requested

    def _train_step(self, waveforms, lengths, targets, target_lengths) -> dict[str, float]:
        o, t = self.config.optim, self.config.train
        self.ddp_model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.step, o)
        sampling = t.sampling_probability * min(1.0, self.step / max(1, o.warmup_steps))
        with self.autocast:
            out = self.ddp_model(waveforms.to(self.device), lengths.to(self.device), targets.to(self.device),
                                 target_lengths.to(self.device), sampling_probability=sampling)
        self.optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), o.grad_clip)
        if torch.isfinite(norm):
            self.optimizer.step()  # a rare exploding batch is skipped, not learned from
        return {k: float(v.detach()) for k, v in out.items() if k.endswith("loss")} | {"grad_norm": float(norm)}

    @torch.no_grad()
    def evaluate(self, model: LAS | None = None) -> dict[str, float]:
        """Greedy CER/WER on the dev subset."""
        model = model or self.model
        model.eval()
        # Dev utterances longer than a segment are cut at pauses, as any user's long recording
        # is (and Whisper's encoder takes at most 30 s): the others are decoded in batches.
        long = {i for i, audio in enumerate(self._dev_audio) if audio.size > MAX_SEGMENT_SECONDS * SAMPLE_RATE}
        short = iter(decode_pieces(model, [a for i, a in enumerate(self._dev_audio) if i not in long],
                                   DecodeOptions(), batch_size=16))
        # Long ones greedily too, and scored on the speller's own words (``raw_text``), as the short ones are.
        results = [transcribe(model, audio, DecodeOptions(), itn=False) if i in long else next(short)
                   for i, audio in enumerate(self._dev_audio)]
        chars, words = ErrorRate(), ErrorRate()
        for i, (row, result) in enumerate(zip(self.dev_rows, results)):
            reference, said = normalize_text(row["text"]), result.raw_text if i in long else result.text
            chars.update(reference, said)
            words.update(reference.split(), said.split())
        # The image shows the first utterance the model said anything for: early in training
        # most hypotheses are empty, and an empty one has no alignment to draw.
        spoken = [r.attention for i, r in enumerate(results) if i not in long and r.attention.size]
        self._dev_alignment = spoken[0] if spoken else None
        return {"cer": chars.rate, "wer": words.rate}

    def _evaluate_and_keep(self) -> None:
        if not self.main or not self.dev_rows:
            if self.world_size > 1:
                torch.distributed.barrier()
            return
        scores = self.evaluate()
        from asr.plotting import attention_image

        self.writer.add_scalar("dev/cer", scores["cer"], self.step)
        self.writer.add_scalar("dev/wer", scores["wer"], self.step)
        if self._dev_alignment is not None and self._dev_alignment.size:
            self.writer.add_image("dev/alignment", attention_image(self._dev_alignment), self.step)
        print(f"\nstep {self.step}: dev CER {scores['cer']:.2%} WER {scores['wer']:.2%}", flush=True)
        path = self.exp_dir / f"best_step{self.step:07d}.pt"
        self.best.append((scores["cer"], self.step, str(path)))
        self.best.sort()
        if any(p == str(path) for _, _, p in self.best[: self.config.train.keep_best]):
            self.model.metadata = self._metadata() | {"dev_cer": scores["cer"], "dev_wer": scores["wer"]}
            save_atomic(model_to_dict(self.model), path)
        for _, _, old in self.best[self.config.train.keep_best:]:
            Path(old).unlink(missing_ok=True)
        self.best = self.best[: self.config.train.keep_best]
        if self.world_size > 1:
            torch.distributed.barrier()

    def _finish(self) -> Path:
        """Average the best checkpoints' weights into averaged.pt (rank 0)."""
        final = self.exp_dir / "averaged.pt"
        if self.main:
            paths = [p for _, _, p in self.best if Path(p).exists()] or [str(self.exp_dir / "last.pt")]
            averaged = average_checkpoints(paths)
            model = LAS(config_from_dict(averaged["model_config"]), self.vocabulary)
            model.load_state_dict(averaged["state_dict"])
            model.to(self.device)
            if self.dev_rows:
                scores = self.evaluate(model)
                averaged["metadata"] |= {"dev_cer": scores["cer"], "dev_wer": scores["wer"]}
                print(f"averaged {len(paths)} checkpoints: dev CER {scores['cer']:.2%} WER {scores['wer']:.2%}")
            save_atomic(averaged, final)
        if self.world_size > 1:
            torch.distributed.barrier()
        return final


def train(config: ExperimentConfig, resume: bool = False) -> Path:
    trainer = Trainer(config, resume=resume)
    try:
        return trainer.fit()
    finally:
        if trainer.writer:
            trainer.writer.close()
        if trainer.world_size > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
