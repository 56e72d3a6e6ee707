"""Forecasters: shapes and units, causality, the LSTM's weights files, training, accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgecloud_gym.core.workload import EpisodeWorkload
from edgecloud_gym.forecasting import (
    FORECASTERS,
    LSTMForecaster,
    WeightsMismatchError,
    make_forecaster,
)
from edgecloud_gym.forecasting.baselines import EWMAForecaster, SeasonalNaiveForecaster, ewma
from edgecloud_gym.forecasting.lstm import (
    DEFAULT_CONTEXT,
    DEFAULT_WEIGHTS,
    FEATURE_LAYOUT,
    PAPER_ARCHITECTURE,
    build_network,
    load_weights,
    lstm_features,
    save_weights,
)
from edgecloud_gym.forecasting.scoring import (
    edge_service_rates,
    sample_episodes,
    score_forecast,
)
from edgecloud_gym.tasks import MEDIUM, test_tasks

torch = pytest.importorskip("torch")

H = 5
CAUSAL = [name for name in FORECASTERS if name not in ("oracle", "none")]


def _workload(tasks=(MEDIUM,), episodes: int = 2, seed: int = 0, steps: int = 60):
    mu = np.repeat(edge_service_rates(tasks), episodes, axis=0)
    wl = sample_episodes(
        list(tasks),
        mu,
        episodes_per_task=episodes,
        steps=steps,
        warmup=64,
        horizon=H,
        day_steps=200,
        rng=np.random.default_rng(seed),
    )
    return wl, mu


@pytest.fixture(scope="module")
def lstm() -> LSTMForecaster:
    return LSTMForecaster()


def _forecaster(name: str, lstm: LSTMForecaster):
    return lstm if name == "lstm" else make_forecaster(name)


# ---------------------------------------------------------------------------- shape and units


@pytest.mark.parametrize("name", sorted(FORECASTERS))
def test_forecast_shape_and_units(name, lstm):
    wl, mu = _workload()
    fc = _forecaster(name, lstm).forecast(wl, H, mu)
    b, _, n = wl.arrivals.shape
    assert fc.shape == (b, wl.steps + 1, n, 0 if name == "none" else H)
    assert np.all(np.isfinite(fc)) and np.all(fc >= 0)
    if name != "none":  # requests/step, not normalised: the mean matches the arrivals' mean
        mean_truth = wl.arrivals[:, wl.warmup :].mean()
        assert fc.mean() == pytest.approx(mean_truth, rel=0.25)


def test_baselines_on_known_series():
    steps, warmup, n = 10, 8, 2
    arrivals = np.arange(warmup + steps + H, dtype=float)[None, :, None] * np.ones((1, 1, n))
    wl = EpisodeWorkload(
        rates=arrivals, arrivals=arrivals, phase=np.zeros((1, arrivals.shape[1])), warmup=warmup,
        steps=steps,
    )  # fmt: skip
    scale = np.ones((1, n))
    # seasonal, period 3: step k + h is forecast by the last known step of the same season
    fc = SeasonalNaiveForecaster(period=3).forecast(wl, H, scale)
    k, h = 4, np.arange(H)
    target = warmup + k + h
    expected = target - 3 * np.ceil((h + 1) / 3)
    np.testing.assert_array_equal(fc[0, k, 0], expected)
    assert np.all(expected < warmup + k)
    # EWMA with alpha = 1 is the last value; the filter matches its recursion
    np.testing.assert_array_equal(
        EWMAForecaster(alpha=1.0).forecast(wl, H, scale), make_forecaster("naive").forecast(wl, H, scale)
    )  # fmt: skip
    x = np.array([[3.0, 1.0, 4.0, 1.0, 5.0]])
    y = [3.0]
    for v in x[0, 1:]:
        y.append(0.7 * y[-1] + 0.3 * v)
    np.testing.assert_allclose(ewma(x, 0.3)[0], y)


def test_baseline_arguments_are_validated():
    with pytest.raises(ValueError, match="alpha"):
        EWMAForecaster(alpha=1.5)
    with pytest.raises(ValueError, match="period"):
        SeasonalNaiveForecaster(period=0)
    wl, mu = _workload()
    with pytest.raises(ValueError, match="warmup"):
        SeasonalNaiveForecaster(period=100).forecast(wl, H, mu)


def test_lstm_refuses_a_longer_horizon(lstm):
    wl, mu = _workload()
    with pytest.raises(ValueError, match="horizon"):
        lstm.forecast(wl, PAPER_ARCHITECTURE["horizon"] + 1, mu)


# ---------------------------------------------------------------------------- causality


@pytest.mark.parametrize("name", CAUSAL)
def test_no_look_ahead(name, lstm):
    """Perturbing arrivals from episode step k0 on leaves every forecast made before k0 + 1
    unchanged (the forecast before step k uses indices < warmup + k), and does change later
    ones, so the check is not vacuous."""
    wl, mu = _workload(episodes=2, steps=100)  # long enough for the seasonal lag to reach k0
    forecaster = _forecaster(name, lstm)
    before = forecaster.forecast(wl, H, mu)
    k0 = 30
    arrivals = wl.arrivals.copy()
    rng = np.random.default_rng(1)
    arrivals[:, wl.warmup + k0 :] *= rng.uniform(0.3, 3.0, arrivals[:, wl.warmup + k0 :].shape)
    perturbed = EpisodeWorkload(wl.rates, arrivals, wl.phase, wl.warmup, wl.steps)
    after = forecaster.forecast(perturbed, H, mu)
    np.testing.assert_allclose(after[:, : k0 + 1], before[:, : k0 + 1], rtol=1e-6, atol=1e-6)
    assert not np.allclose(after[:, k0 + 1 :], before[:, k0 + 1 :])


def test_lstm_nodes_are_independent_but_for_the_system_feature(lstm):
    """One set of weights serves any number of nodes: the forecast of a 3-node system runs."""
    wl, mu = _workload()
    small = EpisodeWorkload(wl.rates[..., :3], wl.arrivals[..., :3], wl.phase, wl.warmup, wl.steps)
    assert lstm.forecast(small, H, mu[:, :3]).shape == (2, wl.steps + 1, 3, H)


def _reference_features(arrivals, phase, scale):
    """The LSTM's input columns written out with numpy, one array operation per formula of
    FEATURE_LAYOUT (what the compiled kernel must reproduce)."""
    lay = FEATURE_LAYOUT
    eps = lay["eps"]
    x = arrivals / scale[:, None, :]
    level = ewma(x, lay["ewma_alpha"], axis=1)
    own = np.log((x + eps) / (level + eps)).transpose(0, 2, 1)
    rate = (np.log1p(level * scale[:, None, :]) / lay["log_rate_divisor"]).transpose(0, 2, 1)
    system = np.log((x.mean(axis=2) + eps) / (level.mean(axis=2) + eps))
    b, n, length = own.shape
    angle = 2 * np.pi * phase
    cols = [own, rate] + [
        np.broadcast_to(c[:, None, :], (b, n, length))
        for c in (system, np.sin(angle), np.cos(angle))
    ]
    return np.stack(cols, axis=-1).reshape(b * n, length, -1), level


def test_lstm_features_match_the_layout_formulas():
    wl, mu = _workload(episodes=3)
    feats, level = lstm_features(wl.arrivals, wl.phase, mu)
    ref_feats, ref_level = _reference_features(wl.arrivals, wl.phase, mu)
    assert feats.dtype == np.float32 and feats.shape == ref_feats.shape
    np.testing.assert_array_equal(level, ref_level)  # the same recursion as ewma's lfilter
    np.testing.assert_allclose(feats, ref_feats, rtol=1e-6, atol=1e-6)


def test_lstm_features_reject_bad_shapes():
    wl, mu = _workload()
    with pytest.raises(ValueError, match="scale must have shape"):
        lstm_features(wl.arrivals, wl.phase, mu[:, :3])
    with pytest.raises(ValueError, match="phase must have shape"):
        lstm_features(wl.arrivals, wl.phase[:, :10], mu)
    with pytest.raises(ValueError, match="must be > 0"):
        lstm_features(wl.arrivals, wl.phase, np.zeros_like(mu))


def test_lstm_context_is_a_window_of_history(lstm):
    """A shorter window changes the forecasts only slightly (the hidden state forgets), and
    nonsense windows are refused."""
    wl, mu = _workload(episodes=2, steps=100)
    whole = LSTMForecaster(context=None).forecast(wl, H, mu)
    default = lstm.forecast(wl, H, mu)
    assert lstm.context == DEFAULT_CONTEXT
    assert not np.array_equal(whole, default)
    assert np.abs(default - whole).mean() < 0.01 * np.abs(whole).mean()
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="context"):
            LSTMForecaster(context=bad)


def test_lstm_precision_choices(lstm):
    """'auto' resolves to bfloat16 only where the CPU has AMX-BF16; both arithmetics give the
    same forecasts to well under a percent, and the same forecast whatever the batch."""
    assert lstm.precision in ("float32", "bfloat16")
    wl, mu = _workload(episodes=3, steps=100)
    exact = LSTMForecaster(precision="float32").forecast(wl, H, mu)
    fast = LSTMForecaster(precision="bfloat16")
    approx = fast.forecast(wl, H, mu)
    assert np.abs(approx - exact).mean() < 1e-3 * np.abs(exact).mean()
    one = EpisodeWorkload(wl.rates[1:2], wl.arrivals[1:2], wl.phase[1:2], wl.warmup, wl.steps)
    np.testing.assert_array_equal(fast.forecast(one, H, mu[1:2]), approx[1:2])
    with pytest.raises(ValueError, match="precision must be one of"):
        LSTMForecaster(precision="float16")


# ---------------------------------------------------------------------------- weights files


def _random_weights(tmp_path: Path, architecture=None) -> Path:
    arch = dict(PAPER_ARCHITECTURE if architecture is None else architecture)
    torch.manual_seed(0)
    net = build_network(None, arch)
    arrays = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    path = tmp_path / "w.npz"
    save_weights(path, arrays, {"architecture": arch, "metrics": {}})
    return path


def test_weights_round_trip(tmp_path):
    path = _random_weights(tmp_path)
    arrays, meta = load_weights(path)
    net = build_network(None, PAPER_ARCHITECTURE)
    torch.manual_seed(0)
    net = build_network(None, PAPER_ARCHITECTURE)  # same seed, same initial weights
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(arrays[k], v.numpy())
    assert meta["architecture"] == PAPER_ARCHITECTURE
    # the forecaster built from the file computes the same as the network it came from
    wl, mu = _workload()
    fc = LSTMForecaster(path, precision="float32")
    feats, _ = lstm_features(wl.arrivals, wl.phase, mu)
    with torch.inference_mode():
        expected = net(torch.from_numpy(feats)).numpy()
    np.testing.assert_allclose(fc.predict_log_ratios(feats), expected, rtol=1e-5, atol=1e-6)
    # bfloat16 arithmetic computes the same network, to bfloat16's ~3 significant digits
    fast = LSTMForecaster(path, precision="bfloat16").predict_log_ratios(feats)
    np.testing.assert_allclose(fast, expected, atol=0.05)
    assert np.abs(fast - expected).mean() < 0.005


def _edit_metadata(path: Path, **changes) -> None:
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta.update(changes)
    meta_path.write_text(json.dumps(meta))


def test_refuses_other_architecture(tmp_path):
    small = {**PAPER_ARCHITECTURE, "hidden_size": 16}
    path = _random_weights(tmp_path, small)
    with pytest.raises(WeightsMismatchError, match="architecture"):
        LSTMForecaster(path)
    assert LSTMForecaster(path, architecture=small).architecture == small


def test_refuses_other_feature_layout(tmp_path):
    path = _random_weights(tmp_path)
    meta = json.loads(path.with_suffix(".json").read_text())
    layout = {**meta["feature_layout"], "ewma_alpha": 0.5}
    _edit_metadata(path, feature_layout=layout)
    with pytest.raises(WeightsMismatchError, match="feature layout"):
        LSTMForecaster(path)


def test_refuses_changed_weights(tmp_path):
    path = _random_weights(tmp_path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["head.bias"] = arrays["head.bias"] + 1e-3
    np.savez(path, **arrays)
    with pytest.raises(WeightsMismatchError, match="checksum"):
        LSTMForecaster(path)


def test_refuses_missing_metadata(tmp_path):
    path = _random_weights(tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError, match="metadata"):
        load_weights(path)


# ---------------------------------------------------------------------------- shipped weights


def test_shipped_weights_are_small_and_documented():
    assert DEFAULT_WEIGHTS.stat().st_size < 1_000_000
    _, meta = load_weights(DEFAULT_WEIGHTS)
    assert meta["architecture"] == PAPER_ARCHITECTURE  # the paper's 2 x 64
    assert meta["training"]["task_source"].startswith("train_tasks(")
    for key in ("package_version", "sha256", "normalisation", "metrics"):
        assert key in meta


def test_shipped_weights_beat_naive_on_a_test_task(lstm):
    """A real accuracy check: held-out test tasks, MAE at least 10 % below naive's."""
    wl, mu = _workload(tasks=(MEDIUM, *test_tasks(2, seed=0)), episodes=2, seed=3, steps=200)
    naive = score_forecast(make_forecaster("naive").forecast(wl, H, mu), wl)
    ours = score_forecast(lstm.forecast(wl, H, mu), wl)
    assert ours.mae.mean() < 0.9 * naive.mae.mean()
    assert np.all(ours.mae < naive.mae)
    assert naive.mase[0] == pytest.approx(1.0)  # MASE's definition


# ---------------------------------------------------------------------------- training


def test_tiny_training_run_lowers_validation_loss(tmp_path):
    from edgecloud_gym.forecasting.training import TrainConfig, train_lstm

    cfg = TrainConfig(
        n_tasks=6,
        val_fraction=0.34,
        hidden_size=16,
        num_layers=1,
        episode_steps=40,
        warmup_steps=24,
        batch_episodes=4,
        batches_per_epoch=8,
        max_epochs=3,
        val_episodes=4,
        lr=1e-2,
    )
    out = tmp_path / "tiny.npz"
    result = train_lstm(cfg, out=out, log_dir=tmp_path / "tb", progress=False)
    history = result.history
    assert history[0]["epoch"] == 0 and history[0]["train_loss"] is None
    assert min(r["val_mae"] for r in history[1:]) < history[0]["val_mae"]
    _, meta = load_weights(out, cfg.architecture)
    assert meta["metrics"]["val_mae"] == pytest.approx(min(r["val_mae"] for r in history[1:]))
    assert meta["training"]["tasks_seed"] == 0
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb").iterdir())


def test_training_is_reproducible():
    from edgecloud_gym.forecasting.training import TrainConfig, train_lstm

    cfg = TrainConfig(
        n_tasks=4, val_fraction=0.25, hidden_size=8, num_layers=1, episode_steps=20,
        warmup_steps=16, batch_episodes=2, batches_per_epoch=2, max_epochs=1, val_episodes=2,
    )  # fmt: skip
    a = train_lstm(cfg, progress=False).arrays
    b = train_lstm(cfg, progress=False).arrays
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_train_config_is_validated():
    from edgecloud_gym.forecasting.training import TrainConfig

    with pytest.raises(ValueError, match="val_fraction"):
        TrainConfig(n_tasks=4, val_fraction=0.01)
    with pytest.raises(ValueError, match="scale_range"):
        TrainConfig(scale_range=(2000.0, 100.0))


def test_bfloat16_bits_round_as_torch_does():
    """The compiled float32 -> bfloat16 copy into the padded input rounds as torch's conversion:
    to nearest, ties to even, infinities kept, NaN a NaN."""
    torch = pytest.importorskip("torch")
    from edgecloud_gym.forecasting.lstm import _bfloat16_bits

    rng = np.random.default_rng(0)
    values = rng.standard_normal((3, 50, 5)).astype(np.float32) * 100
    ties = np.array([1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8), 2**-130], dtype=np.float32)
    values[0, :4, 0] = ties
    values[0, 4:8, 0] = [np.inf, -np.inf, np.nan, 0.0]
    out = np.zeros((3, 50, 8), dtype=np.uint16)
    _bfloat16_bits(values.view(np.uint32), out)
    expected = torch.from_numpy(values).to(torch.bfloat16).view(torch.int16).numpy()
    nan = np.isnan(values)  # a NaN stays a NaN (torch's bits for it vary with its code path)
    np.testing.assert_array_equal(out[..., :5][~nan], expected.view(np.uint16)[~nan])
    assert (out[..., :5][nan] & 0x7FFF > 0x7F80).all()
    assert not out[..., 5:].any()  # the padding columns are left as they were


def test_former_scoring_module_name_is_a_deprecated_alias():
    import importlib

    from edgecloud_gym.forecasting import scoring

    former = importlib.import_module("edgecloud_gym.forecasting.evaluation")
    with pytest.warns(DeprecationWarning, match="forecasting.scoring.score_forecast instead"):
        assert former.score_forecast is scoring.score_forecast
    with pytest.raises(AttributeError):
        former.no_such_name  # noqa: B018
