"""Compiled draws equal numpy's draw for draw: PCG64 states, bounded integers, Poisson."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgecloud_gym.core import _poisson, _rng, workload
from edgecloud_gym.core._jit import HAVE_NUMBA, jit
from edgecloud_gym.tasks import HIGH, SCENARIOS, train_tasks

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="the compiled draws need numba")

MU = np.array([240.0, 240.0, 480.0, 120.0, 360.0, 240.0])
KW = {"steps": 120, "warmup": 32, "horizon": 5, "day_steps": 97}


@jit
def _draws(src, j, highs, out):  # pragma: no cover - compiled
    for i in range(highs.shape[0]):
        out[i] = _rng.uniform(src, j) if highs[i] == 0 else _rng.bounded(src, j, highs[i])


def _numpy_draws(rng: np.random.Generator, highs: np.ndarray) -> np.ndarray:
    return np.array([rng.random() if h == 0 else rng.integers(h) for h in highs], dtype=float)


HIGHS = np.random.default_rng(5).choice(
    [0, 0, 0, 1, 2, 7, 40, 97, 1000, 2**31 + 5, 2**32 - 1, 2**32], size=3000
)


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_state_array_draws_what_the_generator_draws(seed):
    """Uniforms and integers (every 32-bit range, with PCG64's spare-half buffer) interleaved,
    from two rows of one state array; written back, the generators continue as numpy's."""
    mine = [np.random.default_rng(seed), np.random.default_rng(seed + 1)]
    ref = [np.random.default_rng(seed), np.random.default_rng(seed + 1)]
    mine[1].integers(7)  # leaves a spare half in the buffer
    ref[1].integers(7)
    states = _rng.read_states(mine)
    for j in (1, 0):
        out = np.empty(len(HIGHS))
        _draws(states, j, HIGHS, out)
        np.testing.assert_array_equal(out, _numpy_draws(ref[j], HIGHS))
    _rng.write_states(mine, states)
    for a, b in zip(mine, ref, strict=True):
        assert a.bit_generator.state == b.bit_generator.state
        assert a.integers(1000) == b.integers(1000) and a.random() == b.random()


def test_generator_source_draws_what_the_generator_draws():
    rng, ref = np.random.default_rng(3), np.random.default_rng(3)
    out = np.empty(len(HIGHS))
    _draws(rng, 0, HIGHS, out)
    np.testing.assert_array_equal(out, _numpy_draws(ref, HIGHS))


def test_poisson_draws_what_numpy_draws():
    """Both samplers (below and above 10), zero, the switch point and huge rates."""
    lams = np.concatenate(
        [np.linspace(0, 30, 601), np.geomspace(1e-6, 1e9, 600), [0.0, 10.0, np.nextafter(10, 0)]]
    )
    _assert_draws_as_numpy(np.tile(lams, 20), seeds=range(3))


def _assert_draws_as_numpy(lams: np.ndarray, seeds: range) -> None:
    """``poisson_into`` gives numpy's draws and leaves the generator in numpy's state."""
    for seed in seeds:
        rng, ref = np.random.default_rng(seed), np.random.default_rng(seed)
        out = np.empty_like(lams)
        _poisson.poisson_into(rng, lams, out)
        np.testing.assert_array_equal(out, ref.poisson(lams))
        assert rng.bit_generator.state == ref.bit_generator.state


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf, 1e19])
def test_poisson_refuses_bad_rates(bad):
    out = np.empty(3)
    with pytest.raises(ValueError, match="Poisson rates must be finite"):
        _poisson.poisson_into(np.random.default_rng(0), np.array([1.0, bad, 2.0]), out)


def test_every_source_gives_the_same_episodes(monkeypatch):
    """The batched state-array path, one Generator at a time, and threads splitting the rows
    all draw the same episodes and leave the generators in the same states."""
    tasks = [HIGH, *SCENARIOS.values(), *train_tasks(5, seed=2)] * 2
    mu = MU * np.linspace(0.5, 2.0, len(tasks))[:, None]

    def run(batched: bool, split: bool) -> tuple[workload.EpisodeWorkload, list]:
        monkeypatch.setattr(workload, "is_pcg64", lambda rngs: batched)
        rngs = [np.random.default_rng(40 + j) for j in range(len(tasks))]

        def halves(draw, n):
            draw(0, n // 3)
            draw(n // 3, n)

        wl = workload.sample_workloads(
            tasks, mu, rngs=rngs, map_rows=halves if split else None, **KW
        )
        return wl, [r.bit_generator.state for r in rngs]

    ref, ref_states = run(True, False)
    for batched, split in [(False, False), (True, True), (False, True)]:
        wl, states = run(batched, split)
        for field in ("rates", "arrivals", "phase"):
            np.testing.assert_array_equal(getattr(wl, field), getattr(ref, field))
        assert states == ref_states


def test_shared_and_other_generators():
    """Systems sharing one generator draw in order, as one after the other alone; another bit
    generator (MT19937) draws what it draws alone."""
    for make in (np.random.default_rng, lambda s: np.random.Generator(np.random.MT19937(s))):
        shared = make(9)
        batch = workload.sample_workloads([HIGH, HIGH], np.stack([MU, MU]), rngs=[shared] * 2, **KW)
        alone = make(9)
        for j in range(2):
            one = workload.sample_workload(HIGH, MU, rng=alone, **KW)
            np.testing.assert_array_equal(batch.arrivals[j], one.arrivals[0])


def test_log_factorial_table_is_the_series():
    """Every entry of the sampler's log(k!) table is what the compiled series gives for k + 1,
    bit for bit, and log(k!) to rounding."""
    table = _poisson.LOG_FACTORIAL
    series = np.array([_poisson._log_gamma(k + 1.0, _poisson.STIRLING) for k in range(table.size)])
    np.testing.assert_array_equal(table, series)
    np.testing.assert_allclose(
        table[[0, 1, 5, 100, 5000]], [math.lgamma(k + 1) for k in (0, 1, 5, 100, 5000)], rtol=1e-14
    )


def test_poisson_acceptance_tests_near_the_margin_match_numpy():
    """Rates of a few hundred to tens of thousands (above the table, whose series then runs in
    the sampler): many acceptance tests, each decided as numpy decides it."""
    _assert_draws_as_numpy(np.tile(np.geomspace(10.0, 5e4, 997), 40), seeds=range(2))


@pytest.mark.parametrize("margin", [0.0, np.inf])
def test_both_forms_of_the_acceptance_test_decide_alike(monkeypatch, margin):
    """The sampler's plain-Python form with the margin at 0 (the one-logarithm form decides
    every test) and at infinity (numpy's three-logarithm form decides every test) draws what
    numpy draws."""
    monkeypatch.setattr(_poisson, "_MARGIN", margin)
    kernel = _poisson.poisson_kernel.py_func
    lams = np.geomspace(10.0, 2e4, 400)
    rng, ref = np.random.default_rng(7), np.random.default_rng(7)
    out = np.empty_like(lams)
    assert kernel(rng, 0, lams, out, _poisson.STIRLING, _poisson.LOG_FACTORIAL) == -1
    np.testing.assert_array_equal(out, ref.poisson(lams))
    assert rng.bit_generator.state == ref.bit_generator.state
