"""Workload forecasters: the interface, the baselines, the oracle and the paper's LSTM.

Registered names (``forecaster=`` of the environments): ``"none"``, ``"naive"``,
``"seasonal"``, ``"ewma"``, ``"oracle"``, ``"lstm"`` (the default of the registered ids;
pretrained weights ship with the package, torch is imported only when it is built) and
``"lstm-joint"`` (the same network trained on the joint presets' ramp and event).

- :mod:`~edgecloud_gym.forecasting.base`: the protocol, none / naive / oracle and the registry;
- :mod:`~edgecloud_gym.forecasting.baselines`: seasonal naive and EWMA;
- :mod:`~edgecloud_gym.forecasting.lstm`: the LSTM, its features and its weights files;
- :mod:`~edgecloud_gym.forecasting.training`: the training pipeline (``edgecloud forecast train``);
- :mod:`~edgecloud_gym.forecasting.scoring`: MAE / RMSE / MASE on held-out tasks;
- :mod:`~edgecloud_gym.forecasting.joint`: MAE on the joint presets, also at the ramp and event
  onsets.
"""

import sys
import types
import warnings

from edgecloud_gym.forecasting.base import (
    FORECASTERS,
    Forecaster,
    NaiveForecaster,
    NoForecaster,
    OracleForecaster,
    make_forecaster,
    register_forecaster,
)
from edgecloud_gym.forecasting.baselines import EWMAForecaster, SeasonalNaiveForecaster
from edgecloud_gym.forecasting.lstm import (
    JointLSTMForecaster,
    LSTMForecaster,
    WeightsMismatchError,
)

register_forecaster("seasonal", SeasonalNaiveForecaster)
register_forecaster("ewma", EWMAForecaster)
register_forecaster("lstm", LSTMForecaster)
register_forecaster("lstm-joint", JointLSTMForecaster)

__all__ = [
    "FORECASTERS",
    "EWMAForecaster",
    "Forecaster",
    "JointLSTMForecaster",
    "LSTMForecaster",
    "NaiveForecaster",
    "NoForecaster",
    "OracleForecaster",
    "SeasonalNaiveForecaster",
    "WeightsMismatchError",
    "make_forecaster",
    "register_forecaster",
]


class _FormerModule(types.ModuleType):
    """``edgecloud_gym.forecasting.evaluation``, the former name of :mod:`.scoring` (it collided
    with the harness's ``edgecloud_bench.evaluation``): every name still reads, with a warning."""

    def __getattr__(self, name: str) -> object:
        from edgecloud_gym.forecasting import scoring

        if name.startswith("__"):  # module metadata that tools look up (inspect, hypothesis)
            raise AttributeError(name)
        value = getattr(scoring, name)
        warnings.warn(
            "edgecloud_gym.forecasting.evaluation is deprecated; import "
            f"edgecloud_gym.forecasting.scoring.{name} instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return value


sys.modules[f"{__name__}.evaluation"] = _FormerModule(f"{__name__}.evaluation")
