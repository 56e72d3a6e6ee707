"""Input validation shared by the whole package.

Every user-facing check raises an exception that names the argument, says what was expected and
what came, and, where there is a near miss, suggests the fix. ``assert`` is kept for our own
invariants only.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "as_finite_array",
    "check_fraction",
    "check_int",
    "check_keys",
    "check_nonnegative",
    "check_positive",
    "check_range",
    "did_you_mean",
    "in_range",
]


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_keys(
    given: Mapping[str, Any] | Iterable[str], allowed: Iterable[str], where: str
) -> None:
    """Raise ``TypeError`` naming each unknown key in ``given`` and the closest allowed one."""
    allowed = sorted(allowed)
    for key in given:
        if key not in allowed:
            raise TypeError(
                f"{where}: unknown key {key!r}.{did_you_mean(key, allowed)} "
                f"Valid keys: {', '.join(allowed)}."
            )


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__}).")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    return value


def check_positive(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is finite and > 0, else raise naming ``name``."""
    v = _real(name, value)
    if v <= 0:
        raise ValueError(f"{name} must be > 0, got {v!r}.")
    return v


def check_nonnegative(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is finite and >= 0, else raise naming ``name``."""
    v = _real(name, value)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v!r}.")
    return v


def check_fraction(name: str, value: Any, *, closed_top: bool = True) -> float:
    """Return ``value`` as a float if it lies in [0, 1] (or [0, 1) when ``closed_top`` is False)."""
    v = _real(name, value)
    if v < 0 or v > 1 or (not closed_top and v == 1):
        top = "1]" if closed_top else "1)"
        raise ValueError(f"{name} must lie in [0, {top}, got {v!r}.")
    return v


def check_range(
    name: str, value: Any, low: float, high: float, unit: str = "", *, open_low: bool = False
) -> float:
    """Return ``value`` as a float if it is finite and within its plausible range, else raise.

    The range is ``[low, high]`` (``(low, high]`` with ``open_low``): wide enough for any real
    deployment, narrow enough that the simulator's arithmetic stays finite. The message names
    the field, the range with its unit, what came, and where the ranges are documented.
    """
    v = _real(name, value)
    if v < low or v > high or (open_low and v == low):
        left = "(" if open_low else "["
        unit = f" {unit}" if unit else ""
        raise ValueError(
            f"{name} must lie in {left}{low:g}, {high:g}]{unit}, its plausible range, got {v!r}; "
            "the ranges are listed in docs/environment.md, 'Plausible ranges'."
        )
    return v


def in_range(low: float, high: float, unit: str = "") -> Callable[[str, Any], float]:
    """A ``check(name, value)`` of one value against its plausible range ``[low, high]``."""
    return lambda name, value: check_range(name, value, low, high, unit)


def check_int(
    name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Return ``value`` as an int if it is an integer (not a bool) in [``minimum``, ``maximum``]
    (``maximum`` being the top of the field's plausible range)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(
            f"{name} must be <= {maximum}, the top of its plausible range, got {value}; the "
            "ranges are listed in docs/environment.md, 'Plausible ranges'."
        )
    return value


def as_finite_array(name: str, value: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``value`` as a float64 array, checking shape and finiteness."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric, got {value!r}.") from exc
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf), got {arr!r}.")
    return arr
