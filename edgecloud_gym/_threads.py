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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["THREADS", "run_in_chunks", "splits"]


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
_pool: ThreadPoolExecutor | None = None


def _forget_pool() -> None:
    """A forked child has none of the parent's threads: it starts its own pool when needed."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_pool)


def _chunks(n: int, min_chunk: int) -> int:
    return min(THREADS, n // max(min_chunk, 1))


def splits(n: int, min_chunk: int) -> bool:
    """Whether :func:`run_in_chunks` would split ``n`` rows: hot paths call their kernel on the
    whole arrays directly when it would not, saving the slicing."""
    return _chunks(n, min_chunk) >= 2


def run_in_chunks(work: Callable[[int, int], None], n: int, min_chunk: int) -> None:
    """Call ``work(start, stop)`` on contiguous chunks that cover ``range(n)``.

    With ``THREADS`` > 1 and at least ``2 * min_chunk`` rows, the rows are split into up to
    ``THREADS`` chunks of at least ``min_chunk`` rows; the calling thread works the last chunk
    while the pool works the others, and the call returns when all are done (re-raising the
    first error). Otherwise ``work(0, n)`` runs in the calling thread.
    """
    chunks = _chunks(n, min_chunk)
    if chunks < 2:
        work(0, n)
        return
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max(THREADS - 1, 1), thread_name_prefix="edgecloud")
    bounds = [n * k // chunks for k in range(chunks + 1)]
    futures = [_pool.submit(work, bounds[k], bounds[k + 1]) for k in range(chunks - 1)]
    try:
        work(bounds[-2], bounds[-1])
    finally:
        for future in futures:
            future.result()
