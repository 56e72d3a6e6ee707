"""Closed forms of queueing theory that the validation checks simulators against."""

from __future__ import annotations

__all__ = ["erlang_c"]


def erlang_c(cores: int, offered: float) -> float:
    """Probability that an arrival waits in a stationary M/M/c queue (Erlang's C formula).

    Args:
        cores: Servers c.
        offered: Offered load ``lambda / mu`` (Erlangs), below ``cores`` for a stationary queue.

    Computed through the Erlang B recursion ``B_k = a B_{k-1} / (k + a B_{k-1})``, which stays
    finite for any c, then ``C = B / (1 - rho (1 - B))`` with ``rho = a / c``.
    """
    if cores < 1 or not 0.0 <= offered < cores:
        raise ValueError(
            f"erlang_c needs cores >= 1 and 0 <= offered < cores (a stationary queue), got "
            f"cores={cores}, offered={offered}."
        )
    b = 1.0
    for k in range(1, cores + 1):
        b = offered * b / (k + offered * b)
    rho = offered / cores
    return b / (1.0 - rho * (1.0 - b))
