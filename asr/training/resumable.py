"""What makes a run stoppable at any moment and resumable exactly: deferred stop signals and random state.

Used by both trainers (:mod:`asr.training.trainer`, :mod:`asr.training.lm`).
"""

from __future__ import annotations

import random
import signal
import threading
from contextlib import contextmanager

import numpy as np
import torch


def ignore_stop_signals(worker_id: int) -> None:
    """Data workers leave Ctrl-C and SIGTERM to the trainer, which finishes its step and saves.

    (A terminal's Ctrl-C and ``pkill`` reach the workers too; a worker dying from it would
    make the trainer fail instead of stopping cleanly.)
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@contextmanager
def stop_signals_deferred():
    """Hold Ctrl-C (SIGINT) and SIGTERM until the block ends; they are handled right after it.

    With torch 2.11 on CPU, a signal that arrives while an LSTM's backward pass runs (oneDNN's
    RNN kernels) aborts the whole process with glibc heap corruption ("corrupted size vs.
    prev_size while consolidating"), whatever Python does with the signal: a stop request lost
    the steps since the last checkpoint.  Training steps run inside this block.
    """
    if threading.current_thread() is not threading.main_thread():  # signals only reach the main thread
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def rng_state() -> dict:
    """torch's, numpy's and Python's random state as plain tensors and values (weights_only-safe)."""
    return {"torch": torch.get_rng_state(), "numpy": _numpy_state_to_plain(np.random.get_state()),
            "python": _python_state_to_plain(random.getstate())}


def _numpy_state_to_plain(state):
    name, keys, pos, has_gauss, cached = state
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _python_state_to_plain(state):
    version, internal, gauss = state
    return {"version": version, "internal": list(internal), "gauss": gauss}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
