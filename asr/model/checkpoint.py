"""One self-contained checkpoint file: config, vocabulary, features, weights, provenance.

The file holds only tensors and plain Python values (no pickled classes), so
it loads with ``torch.load(weights_only=True)``.  Layout::

    {
      "format": "las-asr/1",
      "model_config": {...},        # ModelConfig as a dict, with "features": FeatureConfig
      "vocabulary": ["<blank>", ...],
      "state_dict": {...},          # weights, including the front end's CMVN statistics
      "metadata": {...},            # how it was trained: data, steps, dev CER, ...
      "language_model": {...},      # optional: a character LM for shallow fusion (config, state_dict, metadata)
      "lexicon": {...},             # optional: words beam search prefers (words, metadata); asr.model.lexicon
      "word_language_model": {...}, # optional: word n-grams for beam search (unigrams, bigrams, trigrams); asr.model.word_lm
      "punctuation": {...},         # optional: capitals and punctuation after decoding (config, state_dict, forms,
                                    # metadata); asr.model.punctuator
      "training_state": {...}       # optional: optimiser etc., only in resumable checkpoints
    }
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from asr.model.features import FeatureConfig
from asr.files import atomic_path
from asr.model.char_lm import CharLanguageModel, LanguageModelConfig
from asr.model.lexicon import Lexicon
from asr.model.word_lm import WordLanguageModel
from asr.model.las import LAS, ModelConfig
from asr.model.punctuator import Punctuator
from asr.model.vocab import Vocabulary

FORMAT = "las-asr/1"


def bundled_path(name: str) -> Path:
    """A folder that ships with the package: ``checkpoints`` or ``examples``.

    In a checkout (or an editable install) it is the repository's top-level folder; a wheel
    carries it inside the package, as ``asr/<name>``.
    """
    package = Path(__file__).resolve().parents[1]  # asr/
    checkout = package.parent / name
    return checkout if checkout.is_dir() else package / name


CHECKPOINT_DIR = bundled_path("checkpoints")
DEFAULT_CHECKPOINT_NAME = "las_whisper_base.pt"


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint; the message is one line for the user."""


def model_to_dict(model: LAS, half: bool = False) -> dict:
    """The checkpoint's sections as tensors and plain data (``half``: every weight stored in fp16)."""
    stored = _half if half else _stored
    checkpoint = {
        "format": FORMAT,
        "model_config": dataclasses.asdict(model.config),
        "vocabulary": list(model.vocabulary.tokens),
        # The language model and the punctuator have their own sections, so the acoustic weights
        # load alone (train.init_from).
        "state_dict": {k: stored(k, v.detach().cpu()) for k, v in model.state_dict().items()
                       if not k.startswith(("language_model.", "punctuator."))},
        "metadata": dict(model.metadata),
    }
    if model.language_model is not None:
        checkpoint["language_model"] = language_model_to_dict(model.language_model, half=half)
    if model.lexicon is not None:
        checkpoint["lexicon"] = model.lexicon.to_dict()
    if model.word_language_model is not None:
        checkpoint["word_language_model"] = model.word_language_model.to_dict()
    if model.punctuator is not None:
        checkpoint["punctuation"] = model.punctuator.to_dict()
    return checkpoint


# Whisper's frozen encoder is stored in fp16, as it was published; it loads back into fp32.
# The layers trained here stay fp32 in training checkpoints, which resume exactly, and go to
# fp16 only in a packed checkpoint (:func:`pack_checkpoint`).
_HALF_PRECISION_PREFIX = "listener.encoder."


def _stored(name: str, tensor: torch.Tensor) -> torch.Tensor:
    if name.startswith(_HALF_PRECISION_PREFIX) and tensor.is_floating_point():
        return tensor.half()
    return tensor


def _half(name: str, tensor: torch.Tensor) -> torch.Tensor:
    return tensor.half() if tensor.is_floating_point() else tensor


def language_model_to_dict(lm: CharLanguageModel, half: bool = False) -> dict:
    stored = _half if half else _stored
    return {"config": dataclasses.asdict(lm.config),
            "state_dict": {k: stored(k, v.detach().cpu()) for k, v in lm.state_dict().items()},
            "metadata": dict(lm.metadata)}


def language_model_from_dict(section: dict) -> CharLanguageModel:
    lm = CharLanguageModel(LanguageModelConfig(**section["config"]))
    lm.load_state_dict(section["state_dict"])
    lm.metadata = dict(section.get("metadata", {}))
    return lm.eval()


def save_atomic(obj: dict, path) -> None:
    """torch.save through :func:`asr.files.atomic_path`: a kill at any moment leaves the old file or the new."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_checkpoint(model: LAS, path, training_state: dict | None = None) -> None:
    checkpoint = model_to_dict(model)
    if training_state is not None:
        checkpoint["training_state"] = training_state
    save_atomic(checkpoint, path)


def pack_checkpoint(source, destination) -> None:
    """A checkpoint for inference: the model, its LMs and lexicon, every weight in fp16 (loaded
    back into fp32, so decoding runs as before), and no training state."""
    save_atomic(model_to_dict(load_model(source), half=True), destination)


def read_checkpoint(path) -> dict:
    """The raw checkpoint dict, loaded safely; raises :class:`CheckpointError` with one line."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{path}: not a readable checkpoint ({_first_line(error)})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} checkpoint")
    return checkpoint


def config_from_dict(values: dict) -> ModelConfig:
    values = dict(values)
    if "ctc_weight" in values:  # checkpoints and configs written before the loss weight was renamed
        values["ctc_loss_weight"] = values.pop("ctc_weight")
    values["features"] = FeatureConfig(**values.get("features", {}))
    return ModelConfig(**values)


def model_from_dict(checkpoint: dict) -> LAS:
    model = LAS(config_from_dict(checkpoint["model_config"]), Vocabulary(tuple(checkpoint["vocabulary"])))
    model.load_state_dict(checkpoint["state_dict"])
    model.metadata = dict(checkpoint.get("metadata", {}))
    if checkpoint.get("language_model") is not None:
        lm = language_model_from_dict(checkpoint["language_model"])
        if lm.config.vocab_size != len(model.vocabulary):
            raise ValueError(f"language model has {lm.config.vocab_size} tokens, the vocabulary {len(model.vocabulary)}")
        model.language_model = lm
    if checkpoint.get("lexicon") is not None:
        model.lexicon = Lexicon.from_dict(checkpoint["lexicon"])
    if checkpoint.get("word_language_model") is not None:
        model.word_language_model = WordLanguageModel.from_dict(checkpoint["word_language_model"])
    if checkpoint.get("punctuation") is not None:
        model.punctuator = Punctuator.from_dict(checkpoint["punctuation"])
    return model.eval()


def average_checkpoints(paths: list[str]) -> dict:
    """Element-wise mean of the weights of several checkpoints of one model (without training state)."""
    checkpoints = [read_checkpoint(p) for p in paths]
    base = {k: v for k, v in checkpoints[0].items() if k != "training_state"}
    state = {}
    for name, tensor in base["state_dict"].items():
        if tensor.is_floating_point():
            state[name] = sum(c["state_dict"][name].double() for c in checkpoints).div(len(checkpoints)).to(tensor.dtype)
        else:
            state[name] = tensor
    base["state_dict"] = state
    base["metadata"] = dict(base.get("metadata", {})) | {"averaged_from": [Path(p).name for p in paths]}
    return base


def default_checkpoint() -> Path:
    """The bundled checkpoint, or a clear error if none has been trained yet."""
    path = CHECKPOINT_DIR / DEFAULT_CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"no bundled checkpoint at {path}; train one with recipes/synth or pass a path")
    return path


def available_checkpoints() -> list[Path]:
    """Every checkpoint in the bundled checkpoints/ directory, the default first."""
    found = sorted(CHECKPOINT_DIR.glob("*.pt"), key=lambda p: (p.name != DEFAULT_CHECKPOINT_NAME, p.name))
    return found


def load_model(path=None, device: str | torch.device = "cpu") -> LAS:
    """Load a checkpoint (default: the bundled one) as an eval-mode model on ``device``."""
    path = path if path is not None else default_checkpoint()
    checkpoint = read_checkpoint(path)
    try:
        model = model_from_dict(checkpoint)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:  # right format tag, wrong contents
        raise CheckpointError(f"{path}: a {FORMAT} checkpoint this version cannot build a model from "
                              f"({_first_line(error)})") from None
    return model.to(device)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:120] if text else type(error).__name__
