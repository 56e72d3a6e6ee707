"""Play a joint-control id with a few policies and print what the capacity levers change.

Joint control (``EdgeCloud-Joint-*-v0``) lets an agent set, besides the routing shares, each
server's active cores (booting takes ``Capacity.boot_steps`` steps), its clock (DVFS) and, per
application class, a cloud bias and a shed fraction (``docs/environment.md``, section 6). This
script plays the same seeded episodes with

- ``static``: capacity-proportional shares, every core on at the nominal clock;
- ``autoscale``: static shares, cores switched by the built-in HPA-like rule (tuned target);
- ``local-first-autoscale``: local-first shares with the same capacity rule (tuned);
- ``mpc``: the receding-horizon planner on last-value forecasts (``--mpc`` to include it; it
  takes about 3 s per episode),

and prints each one's mean return, utilisation over active and over installed capacity, energy
per request and SLA violation rate::

    python examples/joint_control.py --env EdgeCloud-Joint-High-v0 --episodes 3 --mpc
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--env", default="EdgeCloud-Joint-High-v0", help="a joint-control id")
    parser.add_argument("--episodes", type=int, default=3, help="episodes (reset seeds 0..N-1)")
    parser.add_argument("--steps", type=int, default=None, help="episode length (default: id's)")
    parser.add_argument("--mpc", action="store_true", help="also play the MPC planner (slow)")
    args = parser.parse_args(argv)
    if args.episodes < 1 or (args.steps is not None and args.steps < 1):
        parser.error("--episodes and --steps must be at least 1.")
    if not args.env.startswith("EdgeCloud-Joint-"):
        parser.error(f"--env must be a joint-control id (EdgeCloud-Joint-*-v0), got {args.env!r}.")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from edgecloud_agents.registry import make_agent, make_env_for
    from edgecloud_bench.evaluation import evaluate

    policies = ["static", "autoscale", "local-first-autoscale"] + (["mpc"] if args.mpc else [])
    extra = {} if args.steps is None else {"episode_steps": args.steps}
    seeds = list(range(args.episodes))
    keys = ("return", "utilisation", "utilisation_installed", "energy_per_request_j",
            "sla_violation_rate")  # fmt: skip
    print(f"{args.env}, {args.episodes} episodes")
    print(f"{'policy':<24}" + "".join(f"{k:>24}" for k in keys))
    for name in policies:
        env = make_env_for(name, args.env, seed=0, **extra)
        kwargs = {"horizon": 8, "samples": 64, "iterations": 4} if name == "mpc" else {}
        episodes = evaluate(make_agent(name, env, **kwargs), env, None, seeds)
        means = [float(np.mean([e[k] for e in episodes])) for k in keys]
        print(f"{name:<24}" + "".join(f"{m:>24.4g}" for m in means), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
