"""Move a trained adapter and speller onto another pretrained encoder (Whisper tiny -> base).

Everything above the frozen encoder (the adapter's BLSTMs, the attention, the speller, the CTC
head) took hours of CPU to train, and none of it depends on the encoder except the adapter's
first layer, which reads the encoder's states.  So a model on a bigger encoder need not start
from random weights.  The two encoders see the same audio at the same 20 ms frame rate, so their
states can be set side by side frame by frame, and a least-squares map fitted from the new
encoder's states to the old one's (:func:`fit_bridge`).  The first layer's input weights then
read the new states through that map (:func:`swap_listener`): the new model starts out computing
about what the trained one did, as well as a linear map between the two encoders allows, and
training goes on from there.

    python -m asr.training.swap_listener --checkpoint exp/whisper_tiny_ft_cycle2/averaged.pt \\
        --encoder exp/whisper_base_encoder.pt --listener whisper-base \\
        --states data/synth/states/whisper-tiny --new-states data/synth/states/whisper-base \\
        --manifest data/synth/train.jsonl --out exp/whisper_base_init.pt

The result is a training checkpoint for ``train.init_from``; its model config is the old one
with the new listener, so a config with the same widths trains on from it.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys

import numpy as np
import torch

# The adapter's first BLSTM layer: the only weights that read the encoder's states.
FIRST_LAYER = "listener.adapter.layers.0"


def fit_bridge(old_states: list[np.ndarray], new_states: list[np.ndarray], ridge: float = 1e-3):
    """The affine map ``new @ A + b ~ old`` by ridge regression, and its R^2 on every frame given.

    Args:
        old_states, new_states: per utterance, (T, D_old) and (T, D_new) states of the same audio.
    Returns:
        A (D_new, D_old), b (D_old,) as float32 tensors, and the fraction of the old states'
        variance the map explains.
    """
    pairs = [(o, n) for o, n in zip(old_states, new_states) if o.shape[0] == n.shape[0] and o.shape[0] > 0]
    if not pairs:
        raise ValueError("no utterance has states of the same length from both encoders")
    old = np.concatenate([o for o, _ in pairs]).astype(np.float64)
    new = np.concatenate([n for _, n in pairs]).astype(np.float64)
    design = np.hstack([new, np.ones((new.shape[0], 1))])
    gram = design.T @ design
    # The ridge is relative to the states' scale, and leaves the bias free.
    penalty = ridge * np.trace(gram[:-1, :-1]) / (gram.shape[0] - 1) * np.eye(gram.shape[0])
    penalty[-1, -1] = 0.0
    solution = np.linalg.solve(gram + penalty, design.T @ old)
    weights, bias = torch.from_numpy(solution[:-1]).float(), torch.from_numpy(solution[-1]).float()
    return weights, bias, bridge_score([o for o, _ in pairs], [n for _, n in pairs], weights, bias)


def swap_listener(model, listener: str, encoder_path, weights: torch.Tensor, bias: torch.Tensor):
    """A new model: ``model``'s trained layers over the ``listener`` encoder read from ``encoder_path``.

    The first adapter layer's input weights W (4H, D_old) become W A^T (4H, D_new), and its input
    bias gains W b, so that on states ``s`` it computes W (s A + b) as before on ``s A + b``.
    """
    from asr.model.ctranslate2 import fill_pretrained_listener
    from asr.model.las import LAS

    if not model.pretrained:
        raise ValueError(f"the {model.config.listener} listener has no pretrained encoder to swap")
    new = LAS(dataclasses.replace(model.config, listener=listener), model.vocabulary)
    fill_pretrained_listener(new, encoder_path)
    state = {k: v for k, v in model.state_dict().items()
             if not k.startswith(("listener.encoder.", "language_model."))}
    for direction in ("forward_lstm", "backward_lstm"):
        prefix = f"{FIRST_LAYER}.{direction}"
        reads = state[f"{prefix}.weight_ih_l0"]
        state[f"{prefix}.weight_ih_l0"] = reads @ weights.T
        state[f"{prefix}.bias_ih_l0"] = state[f"{prefix}.bias_ih_l0"] + reads @ bias
    missing, unexpected = new.load_state_dict(state, strict=False)
    left_out = [k for k in missing if not k.startswith("listener.encoder.")]
    if left_out or unexpected:
        raise ValueError(f"the models differ beyond the encoder: {', '.join(left_out + list(unexpected))}")
    new.metadata = {"pretrained_encoder": new.metadata["pretrained_encoder"],
                    "swapped_from": {"listener": model.config.listener, "step": model.metadata.get("step")}}
    return new.eval()


def bridge_score(old_states, new_states, weights: torch.Tensor, bias: torch.Tensor) -> float:
    """R^2 of ``new @ weights + bias`` against ``old`` over the given utterances."""
    old = np.concatenate(old_states).astype(np.float64)
    predicted = np.concatenate(new_states).astype(np.float64) @ weights.double().numpy() + bias.double().numpy()
    return 1.0 - float(((old - predicted) ** 2).sum() / ((old - old.mean(0)) ** 2).sum())


def _paired_states(rows, old_dir, new_dir, utterances: int, seed: int):
    from asr.training.encoder_states import has_fresh_states, state_path

    rows = list(rows)
    random.Random(seed).shuffle(rows)
    old, new = [], []
    for row in rows:
        audio = row["audio_filepath"]
        # States older than their audio are of a previous take of it, not of what the other encoder heard.
        if has_fresh_states(old_dir, audio) and has_fresh_states(new_dir, audio):
            old.append(np.load(state_path(old_dir, audio)))
            new.append(np.load(state_path(new_dir, audio)))
            if len(old) == utterances:
                break
    return old, new


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Move a trained model's adapter and speller onto another encoder.")
    parser.add_argument("--checkpoint", required=True, help="the trained model")
    parser.add_argument("--encoder", required=True, help="the new encoder's weights (python -m asr.model.ctranslate2)")
    parser.add_argument("--listener", required=True, help="the new listener kind, e.g. whisper-base")
    parser.add_argument("--states", required=True, help="the trained model's cached encoder states")
    parser.add_argument("--new-states", required=True, help="the new encoder's cached states of the same utterances")
    parser.add_argument("--manifest", required=True, help="utterances to fit the map on (JSONL)")
    parser.add_argument("--utterances", type=int, default=1000, help="how many to fit on (default 1000)")
    parser.add_argument("--out", required=True, help="the new training checkpoint")
    args = parser.parse_args(argv)

    from asr.model.checkpoint import CheckpointError, load_model, save_checkpoint
    from asr.model.ctranslate2 import WeightsError
    from asr.training.manifest import read_manifest

    try:
        model = load_model(args.checkpoint)
        rows = read_manifest(args.manifest)
        old, new = _paired_states(rows, args.states, args.new_states, args.utterances, seed=0)
        # Fit on all but every tenth utterance; R^2 on those tells how much of the old states survives.
        fit = [i for i in range(len(old)) if i % 10]
        weights, bias, fitted = fit_bridge([old[i] for i in fit], [new[i] for i in fit])
        held_out = bridge_score(old[::10], new[::10], weights, bias)
        swapped = swap_listener(model, args.listener, args.encoder, weights, bias)
    except (CheckpointError, WeightsError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    save_checkpoint(swapped, args.out)
    print(f"{args.out}: {model.config.listener} -> {args.listener}; the map from {len(old)} utterances explains "
          f"{fitted:.1%} of the old states' variance ({held_out:.1%} on a tenth held out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
