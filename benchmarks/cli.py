"""The ``edgecloud`` command.

Subcommands live next to the code they drive; each module offers ``add_parser(subparsers)``.
Errors in arguments or inputs print one line naming the problem and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from edgecloud_bench import (
    cost,
    evaluation,
    forecast,
    headroom,
    joint,
    lp_bound,
    meta_train,
    offloading_suite,
    paper,
    profiles,
    report,
    suite,
    sweep,
    throughput,
    train,
    tune,
    validate,
)
from edgecloud_bench._help import show_defaults

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser of ``edgecloud``."""
    parser = argparse.ArgumentParser(
        prog="edgecloud",
        description="edgecloud-gym: benchmarks, training and evaluation for edge-cloud "
        "resource allocation and task offloading.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    bench = commands.add_parser("bench", help="benchmarks: throughput and evaluation suites")
    bench_commands = bench.add_subparsers(dest="bench_command", metavar="BENCH", required=True)
    throughput.add_parser(bench_commands)
    profiles.add_parser(bench_commands)
    suite.add_parser(bench_commands)
    cost.add_parser(bench_commands)
    headroom.add_parser(bench_commands)
    joint.add_parser(bench_commands)
    paper.add_parser(bench_commands)
    offloading_suite.add_parser(bench_commands)
    lp_bound.add_parser(bench_commands)
    sweep.add_parser(bench_commands)
    train.add_parser(commands)
    evaluation.add_parser(commands)
    report.add_parser(commands)
    meta_train.add_parser(commands)
    validate.add_parser(commands)
    tune.add_parser(commands)

    fc = commands.add_parser("forecast", help="workload forecasters: train the LSTM, evaluate all")
    forecast.add_parser(
        fc.add_subparsers(dest="forecast_command", metavar="FORECAST", required=True)
    )
    return show_defaults(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``edgecloud`` with ``argv`` (default: the process arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
        print(f"edgecloud: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edgecloud: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
