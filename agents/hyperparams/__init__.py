"""The zoo's hyperparameter files, in rl_zoo3's format, wherever the package is installed.

Each file maps env ids to the settings of one algorithm (``default`` serves ids without an entry
of their own). rl_zoo3 reads them from any directory in either of two ways::

    # by module: rl_zoo3 imports it and reads its ``hyperparams`` dict
    python -m rl_zoo3.train --algo ppo --env EdgeCloud-Low-v0 --gym-packages edgecloud_gym \\
        -conf edgecloud_agents.hyperparams.ppo

    # by file: this module prints the installed YAML file's path
    python -m rl_zoo3.train --algo ppo --env EdgeCloud-Low-v0 --gym-packages edgecloud_gym \\
        -conf "$(python -m edgecloud_agents.hyperparams ppo)"

Files (:data:`FILES`): ``dqn`` (reactive RL, no forecasts), ``dqn-forecast`` (the DQN with LSTM
forecasts) and ``ppo`` (the zoo's ``ppo`` and ``ppo-continuous`` agents, and rl_zoo3).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from edgecloud_gym._validation import did_you_mean

__all__ = ["FILES", "hyperparams_file", "main", "read_table"]

#: Name of each hyperparameter file (the ``-conf`` module of the same name, ``-`` as ``_``).
FILES: dict[str, str] = {"dqn": "dqn.yml", "dqn-forecast": "dqn-forecast.yml", "ppo": "ppo.yml"}


def hyperparams_file(name: str) -> Path:
    """Installed path of hyperparameter file ``name`` (a key of :data:`FILES`)."""
    if name not in FILES:
        raise ValueError(
            f"unknown hyperparameter file {name!r}.{did_you_mean(name, FILES)} "
            f"Valid: {', '.join(FILES)}."
        )
    return Path(str(resources.files(__name__) / FILES[name]))


def read_table(name: str) -> dict[str, Any]:
    """The whole file ``name`` as rl_zoo3 reads it: env id -> settings (``policy_kwargs`` and
    other strings as written)."""
    import yaml

    table = yaml.safe_load(hyperparams_file(name).read_text(encoding="utf-8"))
    if not isinstance(table, dict):
        raise ValueError(
            f"hyperparameter file {hyperparams_file(name)} must map env ids to settings."
        )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m edgecloud_agents.hyperparams [NAME]``: print the path of file NAME (or of all)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0] not in FILES):
        given = " ".join(args)
        hint = did_you_mean(args[0], FILES) if len(args) == 1 else ""
        print(
            f"usage: python -m edgecloud_agents.hyperparams [{'|'.join(FILES)}]: got {given!r}."
            f"{hint}",
            file=sys.stderr,
        )
        return 2
    for name in args or FILES:
        print(hyperparams_file(name) if args else f"{name}\t{hyperparams_file(name)}")
    return 0
