"""``edgecloud validate``: the model's parts against reference simulators.

- ``edgecloud validate network``: the link model against ns-3
  (:mod:`edgecloud_bench.validate_network`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgecloud_bench import validate_network

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    """Add the ``validate`` command group to the ``edgecloud`` commands."""
    validate = commands.add_parser(
        "validate", help="the model against reference simulators (ns-3 for the links)"
    )
    subcommands = validate.add_subparsers(
        dest="validate_command", metavar="VALIDATE", required=True
    )
    validate_network.add_parser(subcommands)
    for parser in subcommands.choices.values():
        parser.set_defaults(func=_needs_optional(parser.get_default("func")))


def _needs_optional(func: Any) -> Any:
    """Turn an ImportError of an optional dependency into a one-line message and status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args) or 0)
        except ImportError as exc:
            print(f"edgecloud: error: {exc}", file=sys.stderr)
            return 2

    return run
