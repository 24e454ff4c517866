"""Experiment configs: the YAML a recipe writes, as dataclasses, and the learning-rate schedule.

    config = load_config("recipes/synth/whisper_tiny.yaml", ["optim.max_steps=500"])

A config is plain data (no object graph).  It may name a ``base:`` config that it
overrides section by section and key by key, so a recipe's configs are short deltas.
Every mistake (bad YAML, an unknown key, a value of the wrong type) is a ``ValueError``
with one line naming the setting.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from asr.training.data import AugmentConfig
from asr.model.las import ModelConfig


@dataclass
class DataConfig:
    train_manifests: list[str] = field(default_factory=list)
    dev_manifest: str = ""
    max_batch_seconds: float = 200.0  # padded audio per batch (per process)
    max_utterance_seconds: float = 20.0
    num_workers: int = 2
    # A pretrained listener trains on its frozen encoder's cached states (asr.training.encoder_states)
    # from this folder instead of on the audio: only the adapter and what follows run.
    encoder_states: str = ""
    dev_utterances: int = 300  # evaluated at each evaluation (a fixed random subset)
    cmvn_utterances: int = 500  # utterances used for the normalisation statistics
    sortagrad: bool = True  # first epoch shortest utterances first


@dataclass
class OptimConfig:
    peak_lr: float = 1e-3
    warmup_steps: int = 500
    max_steps: int = 10_000
    final_lr_ratio: float = 0.05  # cosine decay ends at peak_lr * this
    weight_decay: float = 1e-6
    grad_clip: float = 5.0


@dataclass
class TrainConfig:
    exp_dir: str = "exp/run"
    seed: int = 1
    eval_every: int = 500
    checkpoint_every: int = 100
    keep_best: int = 5
    sampling_probability: float = 0.0  # scheduled sampling, reached linearly at the end of warmup
    log_every: int = 10
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # torch CPU threads; 0 = all cores
    # Fine-tuning: start from this checkpoint's weights and normalisation statistics (its model
    # section must match); the optimiser, schedule and step count start afresh.
    init_from: str = ""
    # A Whisper listener's encoder weights (python -m asr.model.ctranslate2) for a run from scratch.
    pretrained_encoder: str = ""


@dataclass
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: dict = field(default_factory=dict)  # ModelConfig fields; missing ones take their defaults
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def load_config(path: str | None, overrides: list[str] = ()) -> ExperimentConfig:
    """Read YAML and apply ``section.key=value`` overrides (values parsed as YAML).

    Every mistake in the file or the overrides (bad YAML, an unknown key, a value of the wrong
    type) is a ``ValueError`` with a one-line message naming the setting.
    """
    raw = _read_config_file(Path(path)) if path else {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected sections data, model, optim, augment, train; got {type(raw).__name__}")
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ValueError(f"override {item!r} is not section.key=value")
        section, name = key.split(".", 1)
        if raw.get(section) is None:  # absent, or written as an empty `section:`
            raw[section] = {}
        target = raw[section]
        *parents, leaf = name.split(".")
        for p in parents:
            if isinstance(target, dict) and target.get(p) is None:  # absent, or an empty `features:`
                target[p] = {}
            target = target[p] if isinstance(target, dict) else None
        if not isinstance(target, dict):
            raise ValueError(f"override {item!r}: {key.rsplit('.', 1)[0]} is not a section")
        try:
            target[leaf] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError(f"override {item!r}: the value is not valid YAML") from None
    sections = {"data": DataConfig, "optim": OptimConfig, "augment": AugmentConfig, "train": TrainConfig}
    unknown = set(raw) - set(sections) - {"model"}
    if unknown:
        raise ValueError(f"unknown config section(s): {', '.join(sorted(map(str, unknown)))}")
    built = {name: cls(**_typed(cls, raw.get(name) or {}, name)) for name, cls in sections.items()}
    config = ExperimentConfig(model=_typed(ModelConfig, raw.get("model") or {}, "model"), **built)
    from asr.model.checkpoint import config_from_dict

    config_from_dict(config.model)  # fail now, not after loading the data, on a model it cannot build
    return config


def _read_config_file(path: Path, seen: tuple = ()) -> dict:
    """A config file with its ``base:`` (a path relative to it) read first and overridden, recursively.

    A config is a short delta over its base, as nanoGPT's are: only what differs is written.
    """
    raw = _read_yaml(path)
    if not isinstance(raw, dict) or "base" not in raw:
        return raw
    base_path = path.parent / str(raw.pop("base"))
    if base_path.resolve() in seen:
        raise ValueError(f"{path}: its base {base_path} includes it again")
    base = _read_config_file(base_path, (*seen, path.resolve()))
    if not isinstance(base, dict):
        raise ValueError(f"{base_path}: expected sections data, model, optim, augment, train")
    return _merged(base, raw)


def _merged(base: dict, delta: dict) -> dict:
    """``base`` with ``delta``'s values, mappings merged key by key."""
    out = dict(base)
    for key, value in delta.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read_yaml(path: Path):
    try:
        return yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read it ({type(error).__name__})") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise ValueError(f"{path}: not valid YAML{line}") from None


def _typed(cls, values, where: str) -> dict:
    """``values`` (a dict for dataclass ``cls``) with each value converted to its field's type.

    YAML reads ``1e-3`` as a string (its floats need a dot) and people type ``max_steps=8e3``:
    both mean what they say. Nested dataclasses (``model.features``) stay dicts.
    """
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping of settings, got {values!r}")
    types = typing.get_type_hints(cls)
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown {where} setting(s): {', '.join(sorted(map(str, unknown)))}")
    return {name: _convert(value, types[name], f"{where}.{name}") for name, value in values.items()}


def _convert(value, kind, where: str):
    if dataclasses.is_dataclass(kind):
        return _typed(kind, {} if value is None else value, where)  # an empty `features:` is no settings
    if typing.get_origin(kind) is list:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(kind)
        return [_convert(v, item, where) for v in value]
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind in (int, float):
        try:
            number = math.nan if isinstance(value, bool) else float(value)  # true is not 1 here
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or (kind is int and not number.is_integer()):
            raise ValueError(f"{where}: expected {'a whole number' if kind is int else 'a number'}, got {value!r}")
        return int(number) if kind is int else number
    if kind is str:
        if value is None or isinstance(value, (dict, list)):
            raise ValueError(f"{where}: expected text, got {value!r}")
        return str(value)
    return value


# Settings that only shape training; a fine-tuning run may change them.


def learning_rate(step: int, config: OptimConfig) -> float:
    """Linear warmup to ``peak_lr``, then cosine decay to ``peak_lr * final_lr_ratio`` at ``max_steps``."""
    if step < config.warmup_steps:
        return config.peak_lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
    floor = config.final_lr_ratio
    return config.peak_lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
