"""The torch network of the LSTM forecaster (imported only when an LSTM is built or trained).

Kept apart from :mod:`edgecloud_gym.forecasting.lstm` so that importing the package never
imports torch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["LSTMNet", "bfloat16_lstm", "single_thread"]


class LSTMNet(nn.Module):
    """A stacked LSTM over one node's feature sequence and a linear head to H log-ratios.

    Input (S, L, F) feature sequences (S = nodes x episodes, node as batch); output
    (S, L, H): at each step t, ``log(forecast / level_t)`` for steps t + 1 .. t + H.

    Args:
        input_size: Features per step F.
        hidden_size: LSTM units per layer.
        num_layers: Stacked LSTM layers.
        horizon: Forecast steps H.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, horizon: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(features)
        return self.head(hidden)


def bfloat16_lstm(lstm: nn.LSTM, input_size: int) -> nn.LSTM:
    """A bfloat16 copy of ``lstm`` that takes ``input_size >= lstm.input_size`` input columns,
    the extra ones with zero weights (so it computes the same function of the first columns).

    Inference only; the copy shares nothing with ``lstm``.
    """
    if input_size < lstm.input_size:
        raise ValueError(f"input_size must be >= {lstm.input_size}, got {input_size}.")
    wide = nn.LSTM(input_size, lstm.hidden_size, lstm.num_layers, batch_first=lstm.batch_first)
    state = {k: v.detach().clone() for k, v in lstm.state_dict().items()}
    weight = torch.zeros((4 * lstm.hidden_size, input_size), dtype=state["weight_ih_l0"].dtype)
    weight[:, : lstm.input_size] = state["weight_ih_l0"]
    state["weight_ih_l0"] = weight
    wide.load_state_dict(state)
    return wide.to(torch.bfloat16).eval().requires_grad_(False)


@contextlib.contextmanager
def single_thread(enabled: bool = True) -> Iterator[None]:
    """Run the block with one torch intra-op thread, then restore the previous count.

    For the small batches of an environment reset (a few node sequences) extra threads only add
    synchronisation: one thread measured ~1.2 ms for a 264-step, 6-sequence pass on this
    project's 2-core machine, two threads 3.5 to 40 ms under contention.
    """
    if not enabled:
        yield
        return
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
