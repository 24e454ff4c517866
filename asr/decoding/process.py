"""A model that decodes in child processes, so that a server's own threads are never starved.

Beam search is mostly Python, so a thread running it holds the GIL most of the time.  In
the demo that would hold up everything else the server does: receiving the chunks of
microphone audio, answering the page's refreshes, decoding clips.  :class:`ProcessModel`
loads the checkpoint in child processes and runs ``transcribe`` there; the server's process
only receives audio, cuts it at pauses and renders results.

The children run at the server's own priority.  Receiving a chunk only queues it
(:mod:`asr.apps.live_transport`), so the server needs little time, and on a machine busy with
other work, decoding at a lower priority would fall further and further behind the speaker.

The children are spawned, not forked (forking a process with torch's and Gradio's threads
running is unsafe), and each one exits by itself if the server dies without closing it.

A call given a ``stop`` callable (a running transcript) can be stopped mid-search: the caller's
thread polls ``stop()`` while it waits, and sets a flag in memory shared with the children
that the child's search checks at every step.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

PARENT_POLL_SECONDS = 1.0  # how often a child checks that the server is still there
STOP_POLL_SECONDS = 0.02  # how often a waiting caller checks its stop()
STOP_SLOTS = 64  # calls that can be stopped at once; more run to the end

_model = None  # the checkpoint, loaded once in each child by _start_child
_stop_flags = None  # shared with the parent: slot -> 1 once that call should stop


class DecodingProcessError(RuntimeError):
    """The child process died (killed, out of memory) or could not load the checkpoint."""


def _start_child(checkpoint: str, threads: int, parent: int, stop_flags) -> None:
    global _model, _stop_flags
    import torch

    from asr.model.checkpoint import load_model

    torch.set_num_threads(threads)
    _model = load_model(Path(checkpoint))
    _stop_flags = stop_flags
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A server killed with SIGKILL never shuts its pool down: its children must not outlive it."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(0)


def _transcribe_in_child(audio, options, itn=True, slot=None):
    stop = None if slot is None else (lambda: _stop_flags[slot] != 0)
    return _model.transcribe(audio, options=options, itn=itn, stop=stop)


def _ready_in_child() -> int:
    return os.getpid()


class ProcessModel:
    """``transcribe(audio, options=...)`` of a checkpoint, run in ``processes`` child processes.

    Calls from several threads run in parallel, up to ``processes`` at once.  A child that
    dies fails its call with :class:`DecodingProcessError`, and the next call starts fresh
    children.

    Args:
        checkpoint: the checkpoint file; each child loads it once.
        processes: children, i.e. utterances decoded at once.
        threads: torch threads in each child.
    """

    def __init__(self, checkpoint: Path, processes: int = 1, threads: int = 1):
        self.checkpoint, self.processes, self.threads = Path(checkpoint), processes, threads
        self._pool: ProcessPoolExecutor | None = None
        self._started: list[Future] = []  # one per child, done once it has loaded the checkpoint
        self._lock = threading.Lock()
        context = multiprocessing.get_context("spawn")
        self._stop_flags = context.RawArray("b", STOP_SLOTS)
        self._free_slots = list(range(STOP_SLOTS))

    def _current_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.processes, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_child,
                    initargs=(str(self.checkpoint), self.threads, os.getpid(), self._stop_flags))
            return self._pool

    def _call(self, fn, *args, stop=None, slot=None):
        pool = self._current_pool()
        try:
            future: Future = pool.submit(fn, *args)
            while stop is not None:
                try:
                    return future.result(timeout=STOP_POLL_SECONDS)
                except TimeoutError:
                    if stop():
                        self._stop_flags[slot] = 1  # the child's search sees it at its next step
                        stop = None
            return future.result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise DecodingProcessError(f"the decoding process for {self.checkpoint.name} stopped "
                                       "(killed, out of memory, or the checkpoint did not load)") from None

    def start(self, wait: bool = True) -> None:
        """Starts every child and loads the checkpoint in each now, so the first utterance is not slow.

        ``wait=False`` returns at once and lets them load in the background (a failure then
        shows at the first ``transcribe``)."""
        pool = self._current_pool()
        ready = self._started = [pool.submit(_ready_in_child) for _ in range(self.processes)]
        if not wait:
            return
        try:
            for future in ready:
                future.result()
        except BrokenProcessPool:
            self._call(_ready_in_child)  # raises DecodingProcessError and resets the pool

    @property
    def ready(self) -> bool:
        """Whether :meth:`start` has been called and every child has loaded the checkpoint (or failed to)."""
        return bool(self._started) and all(future.done() for future in self._started)

    def transcribe(self, audio, options=None, itn=True, stop=None):
        """:meth:`asr.model.las.LAS.transcribe` in a child process; the result is the same Transcription.

        ``stop``: a callable polled while the child decodes; once it returns true the child's search
        is stopped and :class:`asr.decoding.search.DecodingStopped` is raised here."""
        with self._lock:
            slot = self._free_slots.pop() if stop is not None and self._free_slots else None
        if slot is None:
            return self._call(_transcribe_in_child, audio, options, itn)
        try:
            return self._call(_transcribe_in_child, audio, options, itn, slot, stop=stop, slot=slot)
        finally:
            self._stop_flags[slot] = 0  # the call is over in the child too: the slot is free again
            with self._lock:
                self._free_slots.append(slot)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
