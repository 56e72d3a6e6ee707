"""The version of the simulator's model, recorded in every file a run, a forecaster or an agent
writes.

Results, trained weights and meta-initialisations are only comparable when they were made on the
same model: the same dynamics, latency, reward and workload equations. Registered ids keep their
names across model versions (nothing of them has been released under a model version), so a file
says which model made it, and loaders refuse to mix versions (see :func:`check_model_version`).
``docs/environment.md`` describes each version.
"""

from __future__ import annotations

__all__ = ["MODEL_VERSION", "ModelVersionError", "check_model_version"]

#: The model these sources implement.
MODEL_VERSION: int = 2


class ModelVersionError(ValueError):
    """A file was made on another model version than the one installed."""


def check_model_version(found: object, what: str) -> None:
    """Raise :class:`ModelVersionError` unless ``found`` is this package's :data:`MODEL_VERSION`.

    Args:
        found: The version a file records (``None`` when it records none: a file from before
            versions were recorded, which is model version 0).
        what: The file or object, named in the message (e.g. ``"agent file runs/dqn.zip"``).
    """
    version = 0 if found is None else found
    if version != MODEL_VERSION:
        raise ModelVersionError(
            f"{what} was made on model version {version}, but this installation simulates model "
            f"version {MODEL_VERSION}; results, weights and agents of different models are not "
            "comparable. Retrain or regenerate it with this version (or install the package "
            f"version that matches model {version})."
        )
