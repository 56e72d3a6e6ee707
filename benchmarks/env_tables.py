"""The observation, action and ``info`` tables of an allocation env, written from the env itself.

The documentation site's page *Spaces and info* is this module's :func:`spaces_page` (a MkDocs
hook, ``docs/hooks/env_tables.py``, writes it at every build), so the tables cannot drift from the
code: index ranges and bounds come from the env's :class:`~edgecloud_gym.envs.allocation.ObservationLayout`
and its spaces, the meaning of each observation block from that class's docstrings, the action
names from the env, and the ``info`` keys, types and shapes from a real step. Only the meaning and
unit of each ``info`` key are written here (:data:`INFO_DOCS`); a test fails when the env's
``info`` and :data:`INFO_DOCS` disagree.

``python -m edgecloud_bench.env_tables [ENV_ID]`` prints the page.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from edgecloud_gym.envs.allocation import ObservationLayout

__all__ = [
    "INFO_DOCS",
    "action_table",
    "info_table",
    "main",
    "observation_blocks",
    "observation_table",
    "spaces_page",
]

#: Unit and meaning of every key of an allocation env's step ``info``.
INFO_DOCS: dict[str, tuple[str, str]] = {
    "arrived": ("requests", "arrivals at all edge nodes this step"),
    "processed": ("requests", "served by all servers"),
    "dropped": ("requests", "dropped at full server buffers or full link buffers"),
    "backlog": ("requests", "expected number waiting at the end of the step"),
    "latency_mean_ms": ("ms", "mean round-trip latency of this step's served requests"),
    "sla_violation_rate": ("fraction", "(late + dropped + abandoned) / arrived"),
    "drop_rate": ("fraction", "dropped / arrived"),
    "utilisation": ("fraction", "processed work / active capacity over all servers"),
    "utilisation_edge": ("fraction", "the same over the edge nodes"),
    "utilisation_cloud": ("fraction", "the same for the cloud"),
    "energy_j": ("J", "energy of the servers and the transfers"),
    "backhaul_requests": ("requests", "moved edge -> edge over the backhaul"),
    "wan_requests": ("requests", "moved edge -> cloud over the WAN"),
    "abandoned": ("requests", "left after waiting the client timeout"),
    "utilisation_installed": ("fraction", "processed work / capacity of all installed cores"),
    "rejected": ("requests", "refused by admission control (joint control)"),
    "reward_parts": ("", "the signed reward parts; they sum to the reward"),
    "latency_ms_by_server_class": ("ms", "mean round-trip latency per server and class"),
    "served_by_server_class": ("requests", "served per server and class: the weights of those"),
    "task": ("", "name of the episode's task"),
}

#: What each discrete action does, by its name's prefix (the model page has the formulas).
_ACTION_DOCS: dict[str, str] = {
    "hold": "keep the shares",
    "towards-": "shift one step of share towards {server}",
    "away-from-": "shift one step of share away from {server}, to the others by capacity",
    "reset-static": "reset the shares to capacity-proportional (the static baseline)",
    "cores-up-": "boot {server}'s next capacity level (serves after the boot delay)",
    "cores-down-": "switch {server} down one capacity level (at once)",
    "clock-up-": "raise {server}'s clock one DVFS level",
    "clock-down-": "lower {server}'s clock one DVFS level",
    "edge-first-": "lower class {server}'s cloud bias one step (keep it at the edge)",
    "cloud-first-": "raise class {server}'s cloud bias one step (send it to the cloud)",
    "shed-more-": "shed one step more of class {server}'s arrivals",
    "shed-less-": "shed one step less of class {server}'s arrivals",
}


def _make(env_id: str, **kwargs: Any) -> gym.Env:
    import edgecloud_gym

    gym.register_envs(edgecloud_gym)
    return gym.make(env_id, **kwargs)


def _rows(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _bound(values: np.ndarray) -> str:
    lo, hi = float(np.min(values)), float(np.max(values))
    text = [("∞" if v == np.inf else "−∞" if v == -np.inf else f"{v:g}") for v in (lo, hi)]
    return text[0] if lo == hi else f"{text[0]} .. {text[1]}"


def observation_blocks(layout: ObservationLayout) -> list[tuple[str, slice, str]]:
    """The layout's blocks in index order: (name, slice, meaning from the property's docstring).

    Empty blocks (the forecast without a forecaster) are left out.
    """
    blocks = []
    for name, attr in inspect.getmembers(type(layout), lambda a: isinstance(a, property)):
        value = getattr(layout, name)
        if isinstance(value, slice) and value.stop > value.start:
            doc = inspect.getdoc(attr) or ""
            blocks.append((name, value, " ".join(doc.split())))
    return sorted(blocks, key=lambda b: b[1].start)


def observation_table(env: gym.Env) -> str:
    """Markdown table of ``env``'s observation: one row per block of its layout."""
    layout: ObservationLayout = env.unwrapped.layout
    space = env.observation_space
    rows = []
    for name, block, meaning in observation_blocks(layout):
        index = (
            str(block.start) if block.stop - block.start == 1 else f"[{block.start}, {block.stop})"
        )
        rows.append(
            (index, f"`{name}`", meaning, _bound(space.low[block]), _bound(space.high[block]))
        )
    return _rows(("index", "block", "meaning", "min", "max"), rows)


def action_table(env: gym.Env) -> str:
    """Markdown table of ``env``'s actions: each discrete action, or each component of the Box.

    Raises:
        KeyError: A discrete action's name has no description here (add one).
    """
    space = env.action_space
    servers = [*(f"edge{i}" for i in range(env.unwrapped.layout.n_edge)), "cloud"]
    if isinstance(space, gym.spaces.Discrete):
        rows = []
        for index, name in enumerate(env.unwrapped.action_names):
            prefix = next((p for p in _ACTION_DOCS if name == p or name.startswith(p)), None)
            if prefix is None:
                raise KeyError(
                    f"action {name!r} has no description in "
                    "edgecloud_bench.env_tables._ACTION_DOCS; add one."
                )
            server = name[len(prefix) :] if prefix.endswith("-") else ""
            rows.append((index, f"`{name}`", _ACTION_DOCS[prefix].format(server=server)))
        return _rows(("index", "name", "effect"), rows)
    s = len(servers)
    apps = [a.name for a in env.unwrapped.config.apps]
    names = [(f"`{servers[i % s]}`", ("routing", "capacity level", "DVFS level")[i // s])
             for i in range(min(space.shape[0], 3 * s))]  # fmt: skip
    names += [(f"`{a}`", "cloud bias") for a in apps] + [(f"`{a}`", "shed") for a in apps]
    rows = [
        (i, *names[i], _bound(space.low[i]), _bound(space.high[i])) for i in range(space.shape[0])
    ]
    return _rows(("index", "server or class", "lever", "min", "max"), rows)


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "dict: " + ", ".join(f"`{k}`" for k in value)
    if isinstance(value, np.ndarray):
        return f"array {value.shape}"
    return type(value).__name__


def info_table(env: gym.Env, seed: int = 0) -> str:
    """Markdown table of the ``info`` of one step of ``env`` (keys, types and shapes as returned).

    Raises:
        KeyError: A key of the env's ``info`` has no entry in :data:`INFO_DOCS` (add one).
    """
    env.reset(seed=seed)
    env.action_space.seed(seed)
    info = env.step(env.action_space.sample())[4]
    missing = sorted(set(info) - set(INFO_DOCS))
    if missing:
        raise KeyError(
            f"info keys {missing} have no unit and meaning in "
            "edgecloud_bench.env_tables.INFO_DOCS; add them there."
        )
    rows = [(f"`{k}`", _kind(v), *INFO_DOCS[k]) for k, v in info.items()]
    return _rows(("key", "type", "unit", "meaning"), rows)


def spaces_page(env_id: str = "EdgeCloud-Medium-v0") -> str:
    """The documentation page: observation (with and without forecasts), actions, ``info``."""
    default = _make(env_id)
    plain = _make(env_id, forecaster="none")
    continuous = _make(env_id, action_mode="continuous")
    layout = default.unwrapped.layout
    try:
        parts = [
            "# Spaces and info of the allocation envs\n",
            "Written from the code at every build of this site (`edgecloud_bench.env_tables`): the "
            f"tables below are those of `{env_id}`, {layout.n_edge} edge nodes and a cloud "
            f"(S = {layout.n_servers} servers), W = {layout.window} steps of past arrivals, "
            f"K = {layout.n_apps} application classes. Every allocation id has the same layout "
            "for the default configuration. [The allocation model](../environment.md) explains "
            "each quantity.\n",
            f"## Observation: Box of shape {default.observation_space.shape}\n",
            f"With the default forecaster (H = {layout.horizon} forecast steps):\n",
            observation_table(default),
            f'\nWith `forecaster="none"` the forecast block is absent (shape '
            f"{plain.observation_space.shape}):\n",
            observation_table(plain),
            f'\n## Actions: {default.action_space} (default, `action_mode="discrete"`)\n',
            action_table(default),
            f'\n## Actions: {continuous.action_space} (`action_mode="continuous"`)\n',
            action_table(continuous),
            "\n## `info` of a step\n",
            info_table(default),
        ]
    finally:
        for env in (default, plain, continuous):
            env.close()
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m edgecloud_bench.env_tables [ENV_ID]``: print :func:`spaces_page`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1:
        print("usage: python -m edgecloud_bench.env_tables [ENV_ID]", file=sys.stderr)
        return 2
    print(spaces_page(*args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
