"""Optional compilation of the hot loops with numba.

The step kernel is plain Python over numpy arrays; numba compiles it to machine code when it is
installed (it is a dependency of the package), which makes a batch-of-one step cost microseconds
instead of the ~1 us per numpy call that dominates tiny arrays. Without numba the same code runs
as ordinary (slow) Python, with identical results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

try:  # pragma: no cover - depends on the install
    from numba import njit as _njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - depends on the install
    HAVE_NUMBA = False


def jit(func: F) -> F:
    """Compile ``func`` with ``numba.njit(cache=True)`` when numba is available."""
    if HAVE_NUMBA:
        return _njit(cache=True, nogil=True)(func)  # type: ignore[no-any-return]
    return func


__all__ = ["HAVE_NUMBA", "jit"]
