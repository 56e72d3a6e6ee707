"""Workload forecasters: the interface, simple baselines and the oracle."""

from edgecloud_gym.forecasting.base import (
    FORECASTERS,
    Forecaster,
    NaiveForecaster,
    NoForecaster,
    OracleForecaster,
    make_forecaster,
    register_forecaster,
)

__all__ = [
    "FORECASTERS",
    "Forecaster",
    "NaiveForecaster",
    "NoForecaster",
    "OracleForecaster",
    "make_forecaster",
    "register_forecaster",
]
