"""The references of a suite's report: static, the strongest causal baseline and clairvoyant MPC.

Every agent of a suite has a role (:func:`agent_role`):

- ``causal``: a non-learned policy that sees no future arrivals: the rules ``static``,
  ``reactive``, ``least-loaded``, ``local-first``, ``best-constant``, and ``mpc`` with a causal
  forecaster (``naive``, ``seasonal``, ``ewma``, ``lstm``);
- ``learned``: the learners (the DQN variants, ``dynamic-allocator``, ``maml-dqn``, ``ppo``);
- ``clairvoyant``: MPC on the realised arrivals (``mpc-clairvoyant``, or ``mpc`` with
  ``forecaster: clairvoyant``), the primal reference on the env's own model;
- ``other``: the rest (``random``; ``oracle``, the LP plan, a relaxation of model v0 that is no
  bound on model v1; ``mpc`` on the true rates).

Per env, :func:`env_references` picks the *strongest causal baseline* (the causal agent with the
best IQM return) and gives every agent its improvement in return over ``static`` and over that
baseline (percent of the baseline's IQM, paired by seed, 95 % stratified bootstrap interval,
:meth:`edgecloud_bench.scores.Scores.compare`) and the fraction of the static-to-clairvoyant
gap it closes, ``(R_agent - R_static) / (R_clairvoyant - R_static)`` on IQM returns (0: no
better than static; 1: as good as clairvoyant MPC; undefined when clairvoyant MPC is not above
static).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgecloud_bench.render import md_table
from edgecloud_bench.scores import Scores
from edgecloud_bench.stats import Interval

__all__ = [
    "CAUSAL_RULES",
    "AgentReference",
    "EnvReference",
    "agent_role",
    "env_references",
    "reference_markdown",
    "reference_summary",
]

#: The non-learned agents that never see the future (``mpc`` is causal with a causal forecaster).
CAUSAL_RULES: tuple[str, ...] = (
    "static",
    "reactive",
    "least-loaded",
    "local-first",
    "best-constant",
    "autoscale",
    "local-first-autoscale",
)
#: The learners besides the ``dqn*`` names.
_LEARNED: tuple[str, ...] = ("dynamic-allocator", "maml-dqn", "ppo", "ppo-continuous")
#: Forecast sources of ``mpc`` that read the future.
_FUTURE_FORECASTS: tuple[str, ...] = ("oracle", "clairvoyant")
#: The default forecaster of ``mpc`` (edgecloud_agents.mpc.MPCAgent).
_MPC_DEFAULT_FORECAST = "naive"


def agent_role(agent: str, kwargs: Mapping[str, Any] | None = None) -> str:
    """``"causal"``, ``"learned"``, ``"clairvoyant"`` or ``"other"`` (see the module docstring)
    for suite agent ``agent`` built with ``kwargs``."""
    kwargs = kwargs or {}
    if agent == "mpc-clairvoyant":
        return "clairvoyant"
    if agent == "mpc":
        forecast = kwargs.get("forecaster", _MPC_DEFAULT_FORECAST)
        if forecast == "clairvoyant":
            return "clairvoyant"
        return "other" if forecast in _FUTURE_FORECASTS else "causal"
    if agent.startswith("dqn") or agent in _LEARNED:
        return "learned"
    if agent in CAUSAL_RULES:
        return "causal"
    return "other"


@dataclass(frozen=True)
class AgentReference:
    """One agent's standing in one env (return metric)."""

    agent: str
    role: str
    iqm: float
    vs_static: Interval | None
    vs_causal: Interval | None
    gap_closed: float


@dataclass(frozen=True)
class EnvReference:
    """The references of one env and every agent's standing against them."""

    env: str
    causal: str | None
    clairvoyant: str | None
    rows: list[AgentReference] = field(default_factory=list)

    def row(self, agent: str) -> AgentReference | None:
        """The row of ``agent`` (None if it has no return in this env)."""
        return next((r for r in self.rows if r.agent == agent), None)


def _roles(records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each suite agent's role, from its zoo name (a label's ``zoo_agent``) and kwargs."""
    return {
        r["spec"]["agent"]: agent_role(
            r["spec"].get("zoo_agent") or r["spec"]["agent"], r["spec"].get("kwargs") or {}
        )
        for r in records
    }


def _compare(scores: Scores, agent: str, base: str | None, env: str) -> Interval | None:
    if base is None or agent == base:
        return None
    ci, n = scores.compare(agent, base, [env], "return")
    return ci if n else None


def env_references(
    records: Sequence[Mapping[str, Any]],
    agents: Sequence[str] | None = None,
    envs: Sequence[str] | None = None,
    scores: Scores | None = None,
) -> list[EnvReference]:
    """The references of every env of ``records`` (run records of a suite), agents in the order
    of ``agents`` (default: first appearance)."""
    scores = scores or Scores(records)
    agents = list(agents or scores.agents)
    envs = list(envs or scores.envs)
    roles = _roles(records)
    out = []
    for env in envs:
        level = {}
        for agent in agents:
            ci, n = scores.level(agent, [env], "return")
            if n and math.isfinite(ci.estimate):
                level[agent] = ci.estimate
        causal = [a for a in level if roles.get(a) == "causal"]
        best = max(causal, key=lambda a: level[a]) if causal else None
        clair = next((a for a in level if roles.get(a) == "clairvoyant"), None)
        static = level.get("static")
        span = level[clair] - static if clair is not None and static is not None else math.nan
        rows = []
        for agent, value in level.items():
            gap = (value - static) / span if span > 0 else math.nan
            rows.append(
                AgentReference(
                    agent=agent,
                    role=roles.get(agent, "other"),
                    iqm=value,
                    vs_static=_compare(
                        scores, agent, "static" if static is not None else None, env
                    ),
                    vs_causal=_compare(scores, agent, best, env),
                    gap_closed=gap,
                )
            )
        out.append(EnvReference(env=env, causal=best, clairvoyant=clair, rows=rows))
    return out


def _pct(ci: Interval | None) -> str:
    if ci is None or not math.isfinite(ci.estimate):
        return "–"
    if not math.isfinite(ci.low):
        return f"{ci.estimate:.1f}"
    return f"{ci.estimate:.1f} [{ci.low:.1f}, {ci.high:.1f}]"


_ROLE = {
    "causal": "causal",
    "learned": "learned",
    "clairvoyant": "clairvoyant",
    "other": "–",
}


def reference_markdown(refs: Sequence[EnvReference]) -> list[str]:
    """The report's section on the references (Markdown lines)."""
    md = [
        "## Against the strongest causal baseline and clairvoyant MPC",
        "",
        "Return per env. The *strongest causal baseline* is the non-learned agent that sees no "
        "future arrivals (static, reactive, least-loaded, local-first, best-constant, mpc on a "
        "causal forecaster; not random, the LP plan or clairvoyant MPC) with the best IQM return "
        "in the env. Improvements: % of the baseline's IQM return, positive = better, paired by "
        "seed, 95 % interval. *Gap closed*: (R − R_static) / (R_clairvoyant − R_static) on IQM "
        "returns, where clairvoyant is MPC on the realised arrivals (0 = static, 1 = clairvoyant "
        "MPC; it sees the future, so it is a reference, not a bound).",
        "",
    ]
    for ref in refs:
        causal = f"`{ref.causal}`" if ref.causal else "none (no causal agent in this env)"
        clair = f"`{ref.clairvoyant}`" if ref.clairvoyant else "none in this suite"
        md += [f"**{ref.env}**: strongest causal baseline {causal}; clairvoyant {clair}.", ""]
        header = [
            "agent",
            "role",
            "IQM return",
            "vs static %",
            f"vs {ref.causal or 'strongest causal'} %",
            "gap closed",
        ]
        body = [
            [
                r.agent,
                "LP plan (model v0 relaxation)" if r.agent == "oracle" else _ROLE[r.role],
                f"{r.iqm:.1f}",
                _pct(r.vs_static),
                _pct(r.vs_causal),
                f"{r.gap_closed:.2f}" if math.isfinite(r.gap_closed) else "–",
            ]
            for r in ref.rows
        ]
        md += [md_table(header, body), ""]
    return md


def reference_summary(refs: Sequence[EnvReference]) -> str:
    """One line per env naming its strongest causal baseline and the clairvoyant reference, with
    their IQM returns (printed under the results table)."""
    lines = []
    for ref in refs:
        parts = []
        for label, agent in (
            ("strongest causal baseline", ref.causal),
            ("clairvoyant MPC", ref.clairvoyant),
        ):
            row = ref.row(agent) if agent else None
            parts.append(f"{label} {agent} ({row.iqm:.1f})" if row else f"{label}: none")
        lines.append(f"{ref.env}: " + "; ".join(parts))
    return "\n".join(lines)
