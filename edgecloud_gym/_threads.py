"""One small thread pool for the batch work of large vector envs.

The step kernel, the observation pass and the workload sampler are compiled or numpy code that
releases the GIL, and the LSTM forecaster's torch passes release it too, so the rows of a large
batch can be split over a few threads. Every row is computed from its own inputs only, so the
results are the same for any number of threads: threads change the time, never the numbers.

``EDGECLOUD_THREADS`` (environment variable, read at import) sets the number of threads;
default ``min(4, os.cpu_count())``. Set it to 1 where several processes already share the
cores (for example one env per process in SB3's ``SubprocVecEnv``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["THREADS", "rows_of", "run_in_chunks", "splits"]


def _threads_from_env() -> int:
    text = os.environ.get("EDGECLOUD_THREADS")
    if text is None or text == "":
        return min(4, os.cpu_count() or 1)
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"EDGECLOUD_THREADS must be a positive number of threads, got {text!r}; unset it "
            "to use min(4, cpu_count)."
        )
    return value


#: Threads that share the rows of a large batch (see the module docstring).
THREADS = _threads_from_env()


class _Worker:
    """A daemon thread that runs one chunk each time it is handed one.

    The handoff is two plain locks (released to start, released back when done), a few
    microseconds, where a ``ThreadPoolExecutor``'s futures and queue cost ~40 us a call: the
    chunks of a vector env's step are only ~100 us of work.
    """

    def __init__(self) -> None:
        self._go = threading.Lock()
        self._go.acquire()
        self._done = threading.Lock()
        self._done.acquire()
        self._task: tuple[Callable[[int, int], None], int, int] | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._loop, name="edgecloud", daemon=True).start()

    def _loop(self) -> None:
        while True:
            self._go.acquire()
            work, start, stop = self._task  # type: ignore[misc]
            try:
                work(start, stop)
            except BaseException as exc:  # handed back to the caller by wait()
                self._error = exc
            self._done.release()

    def start(self, work: Callable[[int, int], None], start: int, stop: int) -> None:
        self._task = (work, start, stop)
        self._go.release()

    def wait(self) -> BaseException | None:
        self._done.acquire()
        error, self._error, self._task = self._error, None, None
        return error


_workers: list[_Worker] = []
_lock = threading.Lock()  # one batch at a time uses the workers
_seen: set[object] = set()  # code objects of the work functions split so far (under _lock)


def _forget_workers() -> None:
    """A forked child has none of the parent's threads: it starts its own when needed."""
    global _workers, _lock
    _workers, _lock = [], threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_workers)


def _chunks(n: int, min_chunk: int) -> int:
    return min(THREADS, n // max(min_chunk, 1))


def splits(n: int, min_chunk: int) -> bool:
    """Whether :func:`run_in_chunks` would split ``n`` rows: hot paths call their kernel on the
    whole arrays directly when it would not, saving the slicing."""
    return _chunks(n, min_chunk) >= 2


def run_in_chunks(
    work: Callable[[int, int], None], n: int, min_chunk: int, block: int | None = None
) -> None:
    """Call ``work(start, stop)`` on contiguous chunks that cover ``range(n)``.

    With ``THREADS`` > 1 and at least ``2 * min_chunk`` rows, the rows are shared by up to
    ``THREADS`` threads (at least ``min_chunk`` rows each); the calling thread is one of them,
    and the call returns when all are done (re-raising the first error). Otherwise, or when
    another thread's batch holds the workers (or this is a worker's own chunk), ``work(0, n)``
    runs in the calling thread.

    Without ``block`` each thread works one chunk of about ``n / threads`` rows: the cheapest
    split, for short work such as a step. With ``block``, the rows go in chunks of ``block``
    rows to whichever thread is free, so a thread that the machine's other load slows down
    does fewer of them: for long work such as a reset, where an even split left one core idle
    for a quarter of the time on a shared machine. After an error no further chunk starts.

    The first split of a given function (its code object) computes row 0 alone in the calling
    thread before the others start, so that numba compiles, or loads from its cache, each
    kernel the chunks call in one thread: first calls of a kernel from several threads at
    once can crash numba (a segmentation fault, seen with 3 threads).
    """
    threads = _chunks(n, min_chunk)
    if threads < 2 or not _lock.acquire(blocking=False):
        work(0, n)
        return
    try:
        start = 0
        code = getattr(work, "__code__", work)
        if code not in _seen:  # the first split of this code: one row alone first (see above)
            work(0, 1)
            _seen.add(code)
            start = 1
        while len(_workers) < threads - 1:
            _workers.append(_Worker())
        if block is None:
            bounds = [start + (n - start) * k // threads for k in range(threads + 1)]
            parts = [(work, bounds[k], bounds[k + 1]) for k in range(threads)]
        else:
            deal = _Dealer(work, start, n, max(int(block), 1))
            parts = [(deal.run, 0, 0)] * threads
        for k in range(threads - 1):
            _workers[k].start(*parts[k])
        first: BaseException | None = None
        try:
            last, start, stop = parts[-1]
            last(start, stop)
        except BaseException as exc:
            first = exc
        for k in range(threads - 1):  # every worker finishes before the arrays are reused
            error = _workers[k].wait()
            first = first or error
        if first is not None:
            raise first
    finally:
        _lock.release()


class _Dealer:
    """Hands out the chunks ``[start + k * block, start + (k + 1) * block)`` of
    ``range(start, n)`` in order to the threads that call :meth:`run`, each taking the next one
    when it has finished its last."""

    def __init__(self, work: Callable[[int, int], None], start: int, n: int, block: int) -> None:
        self.work, self.n, self.block = work, n, block
        self.next = start
        self.failed = False
        self.lock = threading.Lock()

    def run(self, _start: int, _stop: int) -> None:
        while True:
            with self.lock:
                start = self.next
                if start >= self.n or self.failed:
                    return
                self.next = start + self.block
            try:
                self.work(start, min(start + self.block, self.n))
            except BaseException:
                self.failed = True  # the others stop after their current chunk
                raise


def rows_of(args: Sequence[Any], per_system: Sequence[bool], lo: int, hi: int | None) -> tuple:
    """A compiled call's arguments for the systems ``lo..hi-1`` of a chunk: those marked in
    ``per_system`` (batch axis first) sliced, the shared ones as they are."""
    return tuple(x[lo:hi] if cut else x for x, cut in zip(args, per_system, strict=True))
