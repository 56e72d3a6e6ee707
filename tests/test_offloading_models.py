"""The offloading cost models and oracles reproduce the published DDLO and DROO data."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from edgecloud_gym.offloading import (
    CloudParams,
    EdgeCloudTask,
    MUMTParams,
    MUMTTask,
    WPMECTask,
    all_decisions,
    default_weights,
    edgecloud_cost,
    edgecloud_optimum,
    load_mumt_data,
    load_wpmec_data,
    mumt_cost,
    mumt_optimum,
    offloading_test_tasks,
    offloading_train_tasks,
    wpmec_objective,
    wpmec_optimum,
    wpmec_rate,
)

DROO_SIZES = (5, 6, 7, 8, 9)


@pytest.fixture(scope="module")
def mumt_data():
    return load_mumt_data()


@pytest.fixture(scope="module", params=DROO_SIZES)
def droo(request):
    return load_wpmec_data(request.param)


# --- DDLO multi-user multi-task ------------------------------------------------------------------


def test_mumt_oracle_reproduces_gain_min_of_every_row(mumt_data):
    best = mumt_optimum(mumt_data.task_sizes_mb)
    np.testing.assert_allclose(best.cost, mumt_data.cost, rtol=1e-9, atol=0)
    assert mumt_data.n_frames == 20000


def test_published_gain_mode_attains_gain_min(mumt_data):
    cost = mumt_cost(mumt_data.task_sizes_mb, mumt_data.decision)
    np.testing.assert_allclose(cost, mumt_data.cost, rtol=1e-9, atol=0)


def test_brute_force_enumeration_of_all_2_pow_9_decisions_agrees(mumt_data):
    sizes = mumt_data.task_sizes_mb[:400]
    brute = mumt_optimum(sizes, brute_force=True)
    np.testing.assert_array_equal(brute.cost, mumt_optimum(sizes).cost)
    np.testing.assert_allclose(brute.cost, mumt_data.cost[:400], rtol=1e-9, atol=0)


def test_edgecloud_brute_force_over_3_pow_9_agrees_with_per_user_oracle(mumt_data):
    sizes = mumt_data.task_sizes_mb[:12]
    brute = edgecloud_optimum(sizes, brute_force=True)
    fast = edgecloud_optimum(sizes)
    np.testing.assert_allclose(brute.cost, fast.cost, rtol=1e-12)
    np.testing.assert_allclose(edgecloud_cost(sizes, brute.decision), brute.cost, rtol=1e-12)


def test_mumt_oracle_is_a_lower_bound_on_random_decisions():
    rng = np.random.default_rng(1)
    sizes = rng.uniform(1, 40, size=(50, 4, 2))
    best = mumt_optimum(sizes)
    for d in all_decisions(8).reshape(-1, 4, 2)[::7]:
        assert np.all(mumt_cost(sizes, np.broadcast_to(d, sizes.shape)) >= best.cost - 1e-9)


def test_edgecloud_without_cloud_is_exactly_mumt():
    rng = np.random.default_rng(2)
    sizes = rng.uniform(0, 30, size=(64, 3, 3))
    decision = rng.integers(0, 2, size=sizes.shape)
    np.testing.assert_array_equal(
        edgecloud_cost(sizes, decision, cloud=None), mumt_cost(sizes, decision)
    )
    a, b = edgecloud_optimum(sizes, cloud=None), mumt_optimum(sizes)
    np.testing.assert_array_equal(a.cost, b.cost)
    np.testing.assert_array_equal(a.decision, b.decision)


def test_cloud_can_only_lower_the_optimum_and_is_used(mumt_data):
    sizes = mumt_data.task_sizes_mb[:200]
    with_cloud = edgecloud_optimum(sizes)
    assert np.all(with_cloud.cost <= mumt_optimum(sizes).cost + 1e-9)
    assert set(np.unique(with_cloud.decision)) == {0, 1, 2}
    # A slow, distant cloud is never chosen.
    useless = CloudParams(cloud_cpu_hz=1e6, wan_latency_s=1e6)
    np.testing.assert_allclose(
        edgecloud_optimum(sizes, cloud=useless).cost, mumt_optimum(sizes).cost
    )


def test_mumt_single_frame_returns_a_scalar_and_params_change_cost():
    sizes = np.full((3, 3), 20.0)
    d = np.ones((3, 3), dtype=int)
    cost = mumt_cost(sizes, d)
    assert np.ndim(cost) == 0
    assert mumt_cost(sizes, d, MUMTParams(edge_cpu_hz=2e10)) < cost


@pytest.mark.parametrize(
    ("sizes", "decision", "match"),
    [
        (np.ones(3), np.ones(3), "shape"),
        (np.ones((3, 3)), np.ones((3, 2)), "shape"),
        (-np.ones((3, 3)), np.ones((3, 3)), ">= 0"),
        (np.full((3, 3), np.nan), np.ones((3, 3)), "finite"),
        (np.ones((3, 3)), np.full((3, 3), 2), "binary"),
        (np.ones((3, 3)), np.full((3, 3), 0.5), "binary"),
    ],
)
def test_mumt_cost_rejects_bad_input(sizes, decision, match):
    with pytest.raises(ValueError, match=match):
        mumt_cost(sizes, decision)


def test_edgecloud_cost_rejects_cloud_place_without_cloud():
    with pytest.raises(ValueError, match="cloud"):
        edgecloud_cost(np.ones((2, 2)), np.full((2, 2), 2), cloud=None)
    with pytest.raises(ValueError, match="0 local, 1 edge or 2 cloud"):
        edgecloud_cost(np.ones((2, 2)), np.full((2, 2), 3))


def test_params_are_validated():
    with pytest.raises(ValueError, match=r"MUMTParams\.bandwidth_mbps must be > 0"):
        MUMTParams(bandwidth_mbps=-1)
    with pytest.raises(ValueError, match=r"CloudParams\.wan_latency_s must be >= 0"):
        CloudParams(wan_latency_s=-0.1)


# --- DROO wireless-powered MEC -------------------------------------------------------------------


def test_wpmec_rate_reproduces_output_obj_on_a_sample(droo):
    rows = np.random.default_rng(droo.n_devices).choice(droo.n_frames, 300, replace=False)
    res = wpmec_rate(droo.h[rows], droo.mode[rows])
    np.testing.assert_allclose(res.rate, droo.rate[rows], rtol=1e-4)
    np.testing.assert_allclose(res.a, droo.a[rows], atol=1e-6)
    np.testing.assert_allclose(res.tau, droo.tau[rows], atol=1e-6)


@pytest.mark.slow
def test_wpmec_rate_reproduces_output_obj_on_every_row(droo):
    res = wpmec_rate(droo.h, droo.mode)
    np.testing.assert_allclose(res.rate, droo.rate, rtol=1e-4)


def test_wpmec_objective_of_published_allocation_is_output_obj(droo):
    value = wpmec_objective(droo.h[:500], droo.mode[:500], droo.a[:500], droo.tau[:500])
    np.testing.assert_allclose(value, droo.rate[:500], rtol=1e-6)


def test_enumeration_never_beats_output_obj_on_a_sample(droo):
    rows = np.random.default_rng(10 + droo.n_devices).choice(droo.n_frames, 8, replace=False)
    best = wpmec_optimum(droo.h[rows], method="enumerate")
    assert best.exact
    assert np.all(best.rate <= droo.rate[rows] * (1 + 1e-4))
    np.testing.assert_allclose(best.rate, droo.rate[rows], rtol=1e-4)


@pytest.mark.slow
def test_enumeration_never_beats_output_obj_on_every_row(droo):
    best = wpmec_optimum(droo.h, method="enumerate")
    assert np.all(best.rate <= droo.rate * (1 + 1e-4))


def test_allocation_is_feasible_and_beats_random_feasible_points():
    rng = np.random.default_rng(3)
    h = WPMECTask().mean_gains() * rng.exponential(size=(40, 10))
    mode = rng.integers(0, 2, size=h.shape)
    res = wpmec_rate(h, mode)
    np.testing.assert_allclose(res.a + res.tau.sum(-1), 1.0, atol=1e-12)
    assert np.all(res.tau[mode == 0] == 0)
    for _ in range(20):
        split = rng.dirichlet(np.ones(11), size=40)
        a, tau = split[:, 0], split[:, 1:] * mode
        assert np.all(wpmec_objective(h, mode, a, tau) <= res.rate * (1 + 1e-12))


def test_all_local_mode_charges_the_whole_frame():
    h = np.array([1e-6, 2e-6, 3e-6])
    res = wpmec_rate(h, np.zeros(3, dtype=int))
    assert res.a == 1.0
    p_eta1 = (0.7 * 3) ** (1 / 3) / 100
    expected = np.sum(default_weights(3) * p_eta1 * np.cbrt(h / 1e-26))
    assert res.rate == pytest.approx(expected, rel=1e-12)


def test_switched_off_device_contributes_nothing():
    h = np.array([2e-6, 0.0, 3e-6])
    on = wpmec_rate(h, np.array([1, 1, 0]))
    off = wpmec_rate(h, np.array([1, 0, 0]))
    assert on.rate == pytest.approx(off.rate, rel=1e-12)
    assert on.tau[1] == 0.0


def test_coordinate_descent_is_marked_not_exact_and_never_beats_enumeration(droo):
    h = droo.h[:30]
    cd = wpmec_optimum(h, method="coordinate_descent")
    enum = wpmec_optimum(h, method="enumerate")
    assert not cd.exact
    assert np.all(cd.rate <= enum.rate * (1 + 1e-12))
    assert np.mean(cd.rate >= enum.rate * (1 - 1e-9)) > 0.9


def test_auto_oracle_falls_back_to_coordinate_descent_for_large_n():
    h = WPMECTask(n_devices=14).sample_h(np.random.default_rng(0))
    assert not wpmec_optimum(h).exact
    assert wpmec_optimum(h[:6]).exact


@pytest.mark.parametrize(
    ("h", "mode", "match"),
    [
        (np.ones((2, 3)) * 1e-6, np.ones(3), "shape"),
        (np.array([1e-6, -1e-6]), np.ones(2), ">= 0"),
        (np.array([1e-6, np.inf]), np.ones(2), "finite"),
        (np.array([1e-6, 1e-6]), np.array([1, 2]), "binary"),
        (np.zeros(0), np.zeros(0), "N >= 1"),
    ],
)
def test_wpmec_rate_rejects_bad_input(h, mode, match):
    with pytest.raises(ValueError, match=match):
        wpmec_rate(h, mode)


def test_wpmec_weights_and_method_are_validated():
    with pytest.raises(ValueError, match="weights must have shape"):
        wpmec_rate(np.ones(3) * 1e-6, np.ones(3), weights=[1, 1])
    with pytest.raises(ValueError, match="method must be one of"):
        wpmec_optimum(np.ones(3) * 1e-6, method="greedy")


# --- data files ----------------------------------------------------------------------------------


def test_missing_data_file_names_the_file_and_suggests(tmp_path):
    with pytest.raises(FileNotFoundError, match="Did you mean 'droo_5'"):
        load_wpmec_data("droo5")
    with pytest.raises(FileNotFoundError, match=r"nope\.mat"):
        load_mumt_data(tmp_path / "nope.mat")


def test_malformed_data_files_raise_value_errors(tmp_path):
    text = tmp_path / "text.mat"
    text.write_text("not a mat file")
    with pytest.raises(ValueError, match="could not be read"):
        load_wpmec_data(text)
    missing = tmp_path / "missing.mat"
    scipy.io.savemat(missing, {"input_h": np.ones((4, 5))})
    with pytest.raises(ValueError, match="no variable 'output_mode'"):
        load_wpmec_data(missing)
    bad_mode = tmp_path / "bad_mode.mat"
    scipy.io.savemat(
        bad_mode,
        {
            "input_h": np.ones((4, 5)),
            "output_mode": np.full((4, 5), 3),
            "output_a": np.ones((4, 1)),
            "output_tau": np.ones((4, 5)),
            "output_obj": np.ones((4, 1)),
        },
    )
    with pytest.raises(ValueError, match="only 0 and 1"):
        load_wpmec_data(bad_mode)
    wrong_shape = tmp_path / "wrong_shape.mat"
    scipy.io.savemat(
        wrong_shape,
        {"task_size": np.ones((4, 8)), "gain_mode": np.ones((4, 9)), "gain_min": np.ones((1, 4))},
    )
    with pytest.raises(ValueError, match="'task_size' must have shape"):
        load_mumt_data(wrong_shape)


# --- tasks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["mumt", "edgecloud", "wpmec"])
def test_train_and_test_tasks_are_seeded_distinct_and_disjoint(family):
    train = offloading_train_tasks(family, 20, seed=3)
    test = offloading_test_tasks(family, 10, seed=3)
    assert train == offloading_train_tasks(family, 20, seed=3)
    assert train != offloading_train_tasks(family, 20, seed=4)
    assert len(set(train)) == 20 and len(set(test)) == 10
    assert not set(train) & set(test)
    assert not set(offloading_train_tasks(family, 50, seed=9)) & set(
        offloading_test_tasks(family, 50, seed=3)
    )


def test_tasks_are_frozen_and_validated():
    task = MUMTTask()
    with pytest.raises(AttributeError):
        task.n_users = 4  # type: ignore[misc]
    with pytest.raises(ValueError, match="size_low_mb"):
        MUMTTask(size_low_mb=40, size_high_mb=30)
    with pytest.raises(ValueError, match=r"EdgeCloudTask\.wan_bandwidth_mbps must be > 0"):
        EdgeCloudTask(wan_bandwidth_mbps=0)
    with pytest.raises(ValueError, match="one entry per device"):
        WPMECTask(n_devices=3, weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="family must be one of"):
        offloading_train_tasks("mumtt", 2)


def test_default_wpmec_task_matches_the_published_channel_scale():
    # DROO's data: per-device mean gains from 8.4e-6 (nearest) to 1.3e-6 (farthest).
    mean = WPMECTask(n_devices=9).mean_gains()
    assert 5e-6 < mean[0] < 2e-5 and 5e-7 < mean[-1] < 3e-6
    assert np.all(np.diff(mean) < 0)
