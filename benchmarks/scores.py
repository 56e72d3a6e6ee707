"""One scores object for every experiment: run scores, their levels and paired improvements.

A *record* is what one run produced: ``{"spec": {"agent", "env", "seed", ...}, "metrics":
{name: value}, "learning_curve": [[step, return], ...]}`` (a suite's run file,
:mod:`edgecloud_bench.suite`, or a row of another experiment put in that shape). :class:`Scores`
indexes the records by agent, env (the stratum of the bootstrap: a profile, a held-out env or a
test task), metric and seed, and answers the two questions every report asks:

- :meth:`Scores.level`: the IQM over runs and its 95 % stratified bootstrap interval;
- :meth:`Scores.compare`: the improvement of one agent over another in percent of the
  baseline's IQM, positive = better in the metric's direction (:data:`HIGHER_IS_BETTER`), paired
  by seed (every agent's run with seed s met the same workloads).

Both follow one rule for a scope of several envs: every env of the scope must have a score (for a
comparison: a pair of scores with the same seed), otherwise the scope has no estimate, so a
number always stands for the whole scope it is labelled with.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgecloud_bench.stats import NAN_INTERVAL, Interval, improvement_ci, stratified_ci
from edgecloud_gym.metrics import EPISODE_METRICS
from edgecloud_gym.metrics import HIGHER_IS_BETTER as ALLOCATION_HIGHER_IS_BETTER

__all__ = ["HIGHER_IS_BETTER", "LOWER_IS_BETTER", "Scores", "higher_is_better"]

#: Metrics where larger is better, of every experiment: episodes (the environment's own table,
#: :data:`edgecloud_gym.metrics.HIGHER_IS_BETTER`), learning
#: curves (``initial_return``, ``curve_return``) and offloading frames (``ratio``: optimum over
#: cost; ``early_ratio_F``: mean ratio over the first F frames on a new task).
HIGHER_IS_BETTER: frozenset[str] = ALLOCATION_HIGHER_IS_BETTER | frozenset(
    {
        "initial_return",
        "curve_return",
        "ratio",
        "early_ratio_100",
        "early_ratio_300",
        "early_ratio_600",
    }
)

#: Metrics where smaller is better: the other episode metrics, and those of the other
#: experiments (``oracle_gap_pct``, ``convergence_steps``, ``late_gain_pct``: less left to gain
#: at the end of training, nearer a plateau; offloading ``cost``).
LOWER_IS_BETTER: frozenset[str] = (frozenset(EPISODE_METRICS) - ALLOCATION_HIGHER_IS_BETTER) | (
    frozenset({"oracle_gap_pct", "convergence_steps", "late_gain_pct", "cost"})
)


def higher_is_better(metric: str) -> bool:
    """Whether a larger ``metric`` is better; a metric of neither table raises."""
    if metric in HIGHER_IS_BETTER:
        return True
    if metric in LOWER_IS_BETTER:
        return False
    raise ValueError(
        f"metric {metric!r} has no direction; add it to HIGHER_IS_BETTER or LOWER_IS_BETTER in "
        "edgecloud_bench.scores."
    )


class Scores:
    """Run scores ``{agent: {env: {metric: {seed: value}}}}`` of a set of records.

    Args:
        records: Run records (see the module docstring). A record with a learning curve also
            scores ``initial_return`` (its first evaluation) and ``curve_return`` (the mean of
            its evaluations).

    Attributes:
        data: The scores; a missing value (None) is NaN.
        curves: ``{(agent, env): [curve, ...]}``, each an ``(evaluations, 2)`` array of
            (env steps, evaluation return), in record order.
        agents: Agents in order of first appearance.
        envs: Envs in order of first appearance.
        records: The records, as given.
    """

    def __init__(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.data: dict[str, dict[str, dict[str, dict[int, float]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(dict))
        )
        self.curves: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
        self.agents: list[str] = []
        self.envs: list[str] = []
        self.records = records
        for rec in records:
            spec = rec["spec"]
            agent, env, seed = spec["agent"], spec["env"], int(spec["seed"])
            if agent not in self.agents:
                self.agents.append(agent)
            if env not in self.envs:
                self.envs.append(env)
            cell = self.data[agent][env]
            for metric, value in rec["metrics"].items():
                cell[metric][seed] = math.nan if value is None else float(value)
            curve = rec.get("learning_curve") or []
            if curve:
                arr = np.asarray(curve, dtype=float)
                self.curves[(agent, env)].append(arr)
                cell["initial_return"][seed] = float(arr[0, 1])
                cell["curve_return"][seed] = float(arr[:, 1].mean())

    def strata(self, agent: str, envs: Sequence[str], metric: str) -> list[list[float]]:
        """The finite scores of ``agent`` per env of ``envs``; ``[]`` when an env has none."""
        out = []
        for env in envs:
            vals = [v for v in self.data[agent][env][metric].values() if math.isfinite(v)]
            if not vals:
                return []
            out.append(vals)
        return out

    def paired(
        self, agent: str, base: str, envs: Sequence[str], metric: str
    ) -> tuple[list[list[float]], list[list[float]]]:
        """Scores of ``agent`` and ``base`` per env, on the seeds where both are finite, in
        seed order; ``([], [])`` when an env has no such seed."""
        a_out, b_out = [], []
        for env in envs:
            a, b = self.data[agent][env][metric], self.data[base][env][metric]
            seeds = sorted(
                s for s in set(a) & set(b) if math.isfinite(a[s]) and math.isfinite(b[s])
            )
            if not seeds:
                return [], []
            a_out.append([a[s] for s in seeds])
            b_out.append([b[s] for s in seeds])
        return a_out, b_out

    def level(self, agent: str, envs: Sequence[str], metric: str) -> tuple[Interval, int]:
        """IQM of ``agent``'s runs over ``envs`` (strata) with its 95 % stratified bootstrap
        interval, and the number of runs; ``(NaN interval, 0)`` when an env has no score."""
        strata = self.strata(agent, envs, metric)
        if not strata:
            return NAN_INTERVAL, 0
        return stratified_ci(strata), sum(len(s) for s in strata)

    def compare(
        self, agent: str, base: str, envs: Sequence[str], metric: str
    ) -> tuple[Interval, int]:
        """Improvement of ``agent`` over ``base`` in percent of ``base``'s IQM (positive =
        better), 95 % paired stratified interval, and the number of pairs; ``(NaN interval, 0)``
        when an env of ``envs`` has no pair."""
        a, b = self.paired(agent, base, envs, metric)
        if not a:
            return NAN_INTERVAL, 0
        ci = improvement_ci(a, b, higher_is_better=higher_is_better(metric), paired=True)
        return ci, sum(len(x) for x in a)
