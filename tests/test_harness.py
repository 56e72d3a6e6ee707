"""The evaluation harness: metrics, interval code, suites (resume), TensorBoard tags, CLI errors."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from scipy import stats as scipy_stats

import edgecloud_gym  # noqa: F401  (registers the ids)
from edgecloud_agents.heuristics import LeastLoaded, Static
from edgecloud_bench import cli
from edgecloud_bench.evaluation import (
    EPISODE_METRICS,
    EpisodeAccumulator,
    evaluate,
    weighted_percentile,
)
from edgecloud_bench.stats import convergence_step, improvement_ci, iqm, stratified_ci
from edgecloud_bench.suite import RUN_FORMAT, load_suite, read_run, run_suite

ENV_KW = {"forecaster": "naive"}


def _mean(a: np.ndarray) -> np.ndarray:
    return a.mean(axis=-1)


# --------------------------------------------------------------------------- percentiles, stats


def test_weighted_percentile_matches_inverted_cdf_of_repeated_values() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=40)
    weights = rng.integers(0, 6, size=40)
    repeated = np.repeat(values, weights)
    for q in (0, 5, 25, 50, 95, 99, 100):
        expected = np.percentile(repeated, q, method="inverted_cdf")
        assert weighted_percentile(values, weights, q) == pytest.approx(expected)


def test_weighted_percentile_edge_cases() -> None:
    assert weighted_percentile([3.0, 1.0, 2.0, 4.0], [1, 1, 1, 1], 50) == 2.0
    assert weighted_percentile([1.0, 100.0], [99, 1], 99) == 1.0
    assert weighted_percentile([1.0, 100.0], [98, 2], 99) == 100.0
    assert math.isnan(weighted_percentile([1.0, 2.0], [0, 0], 50))
    with pytest.raises(ValueError, match="weights"):
        weighted_percentile([1.0], [-1.0], 50)


def test_iqm_known_values() -> None:
    assert iqm(np.arange(1, 9)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert iqm([1.0, 2.0, 3.0, 100.0]) == pytest.approx(2.5)  # the outlier is trimmed
    assert iqm([1.0, 2.0, 3.0]) == pytest.approx(2.0)


def test_bootstrap_interval_of_two_points_is_exact() -> None:
    # resampled means of {0, 1} are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4
    ci = stratified_ci([[0.0, 1.0]], _mean, n_resamples=4000)
    assert ci.as_tuple() == (0.5, 0.0, 1.0)


def test_stratified_bootstrap_never_mixes_strata() -> None:
    # every replicate keeps three runs of each env: the pooled mean is always exactly 5
    ci = stratified_ci([[0.0, 0.0, 0.0], [10.0, 10.0, 10.0]], _mean)
    assert ci.as_tuple() == (5.0, 5.0, 5.0)
    # a single stratum holding the same runs varies
    pooled = stratified_ci([[0.0, 0.0, 0.0, 10.0, 10.0, 10.0]], _mean)
    assert pooled.low < 4.0 and pooled.high > 6.0


def test_bootstrap_interval_matches_scipy_and_theory_on_one_stratum() -> None:
    x = np.random.default_rng(1).normal(loc=3.0, size=50)
    ci = stratified_ci([x], _mean, n_resamples=20000, rng=2)
    ref = scipy_stats.bootstrap(
        (x,), np.mean, method="percentile", n_resamples=20000, random_state=3
    ).confidence_interval
    se = x.std(ddof=0) / np.sqrt(x.size)  # the bootstrap standard error of a mean
    assert ci.low == pytest.approx(ref.low, abs=0.1 * se)
    assert ci.high == pytest.approx(ref.high, abs=0.1 * se)
    assert ci.high - ci.low == pytest.approx(2 * 1.96 * se, rel=0.06)


def test_improvement_direction_and_pairing() -> None:
    agent, base = [[1.0, 1.0, 1.0]], [[2.0, 2.0, 2.0]]
    assert improvement_ci(agent, base, higher_is_better=False).as_tuple() == (50.0, 50.0, 50.0)
    assert improvement_ci(agent, base, higher_is_better=True).estimate == -50.0
    # paired runs that differ by a constant 10 %: pairing removes the between-seed noise
    seeds = np.array([[10.0, 20.0, 30.0, 40.0, 50.0]])
    paired = improvement_ci(seeds * 0.9, seeds, higher_is_better=False, paired=True)
    unpaired = improvement_ci(seeds * 0.9, seeds, higher_is_better=False, paired=False)
    assert paired.low > 9.0 and paired.high < 11.0
    assert unpaired.high - unpaired.low > 10 * (paired.high - paired.low)
    with pytest.raises(ValueError, match="paired"):
        improvement_ci([[1.0, 2.0]], [[1.0]], higher_is_better=True, paired=True)


def test_late_gain_known_curves() -> None:
    """The last fifth of the evaluations against the fifth before, in percent of the earlier."""
    from edgecloud_bench.stats import late_gain

    flat = [-200.0] * 10
    assert late_gain(flat) == 0.0
    rising = [-300.0] * 6 + [-250.0, -250.0] + [-200.0, -200.0]
    assert late_gain(rising) == pytest.approx(20.0)  # -250 -> -200
    assert late_gain([-300.0, -200.0, -100.0, -100.0, -100.0, -100.0, -100.0, -100.0]) == 0.0
    assert math.isnan(late_gain([1.0, 2.0, 3.0]))  # too few evaluations


def test_convergence_step_known_curves() -> None:
    steps = [0, 1000, 2000, 3000, 4000, 5000]
    # reaches the plateau (-100) at 3000 and stays within 5 %
    assert convergence_step(steps, [-300, -200, -150, -102, -99, -100]) == 3000.0
    # dips out of the band at 4000 after touching it at 2000: converged only from 5000 on
    long = [1000 * i for i in range(10)]
    dip = [-300, -200, -100, -101, -130, -100, -100, -99, -101, -100]
    assert convergence_step(long, dip) == 5000.0
    # still moving at the end
    assert math.isnan(convergence_step(steps, [-300, -250, -200, -150, -100, -50]))
    # flat from the start
    assert convergence_step(steps, [-100] * 6) == 0.0


# --------------------------------------------------------------------------- evaluate


def test_evaluate_metrics_are_sane_and_match_a_manual_rollout() -> None:
    env = gym.make("EdgeCloud-High-v0", **ENV_KW)
    agent = Static(env)
    rows = evaluate(agent, env, 2, 7)
    assert [r["seed"] for r in rows] == [7, 8]
    for r in rows:
        assert set(EPISODE_METRICS) <= set(r)
        assert r["steps"] == 200
        assert 0 < r["latency_mean_ms"] <= r["latency_p95_ms"] <= r["latency_p99_ms"]
        for key in ("sla_violation_rate", "drop_rate", "utilisation", "utilisation_edge"):
            assert 0.0 <= r[key] <= 1.0, key
        assert r["energy_per_request_j"] > 0
        assert r["processed"] <= r["arrived"]
    # the same seed, replayed by hand, gives the same return and mean latency
    obs, _ = env.reset(seed=7)
    total, lat, served, done = 0.0, 0.0, 0.0, False
    while not done:
        obs, reward, term, trunc, info = env.step(agent.predict(obs))
        total += reward
        lat += float((info["latency_ms_by_server_class"] * info["served_by_server_class"]).sum())
        served += float(info["served_by_server_class"].sum())
        done = term or trunc
    assert rows[0]["return"] == pytest.approx(total)
    assert rows[0]["latency_mean_ms"] == pytest.approx(lat / served)
    # paired evaluation: a better policy on the same seeds has a higher return here
    assert evaluate(LeastLoaded(env), env, 2, 7)[0]["return"] != rows[0]["return"]


def test_evaluate_rejects_bad_arguments() -> None:
    env = gym.make("EdgeCloud-Low-v0", **ENV_KW)
    with pytest.raises(ValueError, match="Did you mean 'EdgeCloud-Low-v0'"):
        evaluate(Static(env), "EdgeCloud-Lwo-v0", 1, 0)
    with pytest.raises(ValueError, match="episodes"):
        evaluate(Static(env), env, 0, 0)
    with pytest.raises(TypeError, match="predict"):
        evaluate(object(), env, 1, 0)
    with pytest.raises(ValueError, match="no steps"):
        EpisodeAccumulator().result()


# --------------------------------------------------------------------------- suites and resume

TINY_SUITE = """
name: tiny
version: 1
envs: [EdgeCloud-Low-v0]
seeds: [0, 1, 2]
evaluation: {episodes: 1}
agents:
  static: {}
  least-loaded: {}
"""


def _tiny(tmp_path: Path, text: str = TINY_SUITE) -> Path:
    path = tmp_path / "tiny.yml"
    path.write_text(text)
    return path


def test_suite_resumes_after_a_killed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgecloud_bench import suite as suite_mod

    out = tmp_path / "out"
    real = suite_mod._execute
    calls = {"n": 0}

    def dies_on_the_third(spec: dict, tb: str | None) -> dict:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the suite is killed while this run is in flight
        return real(spec, tb)

    monkeypatch.setattr(suite_mod, "_execute", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        run_suite(_tiny(tmp_path), out, workers=1, progress=False)
    finished = sorted(p.name for p in (out / "runs").glob("*.json"))
    assert len(finished) == 2
    before = {n: (out / "runs" / n).read_bytes() for n in finished}
    # a kill in the middle of an atomic write leaves a temporary file behind
    (out / "runs" / ".static__EdgeCloud-Low-v0__2.json.x1y2").write_text('{"format": ')

    monkeypatch.setattr(suite_mod, "_execute", real)
    records = run_suite(_tiny(tmp_path), out, workers=1, progress=False)
    names = sorted(p.name for p in (out / "runs").iterdir())
    assert len(records) == 6 and len(names) == 6  # no leftover temp file
    for name, data in before.items():  # finished runs were kept, not redone
        assert (out / "runs" / name).read_bytes() == data
    for rec in records:
        assert rec["format"] == RUN_FORMAT
        assert rec["spec"]["suite"] == "tiny"
        assert rec["metrics"]["latency_mean_ms"] > 0
    # paired evaluation seeds: both agents' runs with seed 1 saw the same workloads
    by = {(r["spec"]["agent"], r["spec"]["seed"]): r for r in records}
    assert by[("static", 1)]["metrics"]["arrived"] == by[("least-loaded", 1)]["metrics"]["arrived"]
    assert by[("static", 1)]["metrics"]["arrived"] != by[("static", 2)]["metrics"]["arrived"]


def test_suite_refuses_run_files_of_other_settings(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_suite(_tiny(tmp_path), out, workers=1, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        run_suite(_tiny(tmp_path, TINY_SUITE.replace("version: 1", "version: 2")), out, workers=1)


def test_suite_reuses_the_same_runs_of_another_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgecloud_bench import suite as suite_mod

    first = tmp_path / "first"
    run_suite(_tiny(tmp_path), first, workers=1, progress=False)
    # another suite: a new name, one more seed, and least-loaded with other settings
    other = TINY_SUITE.replace("name: tiny", "name: wider").replace("[0, 1, 2]", "[0, 1, 2, 3]")
    other = other.replace("least-loaded: {}", "least-loaded: {eval_episodes: 3}")
    ran: list[str] = []
    real = suite_mod._execute

    def counting(spec: dict, tb: str | None) -> dict:
        ran.append(f"{spec['agent']}/{spec['seed']}")
        return real(spec, tb)

    monkeypatch.setattr(suite_mod, "_execute", counting)
    path = tmp_path / "wider.yml"
    path.write_text(other)
    records = run_suite(path, tmp_path / "second", workers=1, progress=False, reuse=[first])
    # static's seeds 0-2 are the same runs; its seed 3 and every least-loaded run are not
    assert sorted(ran) == [
        "least-loaded/0",
        "least-loaded/1",
        "least-loaded/2",
        "least-loaded/3",
        "static/3",
    ]
    by = {(r["spec"]["agent"], r["spec"]["seed"]): r for r in records}
    copied = by[("static", 1)]
    assert copied["spec"]["suite"] == "wider" and copied["reused_from"]["suite"] == "tiny"
    original = json.loads((first / "runs" / "static__EdgeCloud-Low-v0__1.json").read_text())
    assert copied["episodes"] == original["episodes"]
    assert "reused_from" not in by[("static", 3)]
    with pytest.raises(ValueError, match="no runs/ folder"):
        run_suite(path, tmp_path / "third", workers=1, reuse=[tmp_path / "nowhere"])
    # what `bench cost --out --reuse` projects: the runs neither finished nor reusable
    from edgecloud_bench.suite import load_suite, runs_left

    wider = load_suite(path)
    assert {s.key for s in runs_left(wider, tmp_path / "fourth", [first])} == {
        "static__EdgeCloud-Low-v0__3",
        *(f"least-loaded__EdgeCloud-Low-v0__{seed}" for seed in range(4)),
    }
    assert runs_left(wider, tmp_path / "second") == []


def test_report_writes_summary_with_intervals_and_improvements(tmp_path: Path) -> None:
    from edgecloud_bench.report import SUMMARY_COLUMNS, write_report

    out = tmp_path / "out"
    records = run_suite(_tiny(tmp_path), out, workers=1, progress=False)
    table = write_report(out, records)
    assert "least-loaded" in table and "EdgeCloud-Low-v0" in table
    lines = (out / "summary.csv").read_text().splitlines()
    assert tuple(lines[0].split(",")) == SUMMARY_COLUMNS
    rows = [dict(zip(SUMMARY_COLUMNS, line.split(","), strict=True)) for line in lines[1:]]
    lat = next(r for r in rows if r["agent"] == "least-loaded" and r["metric"] == "latency_mean_ms")
    assert float(lat["ci_low"]) <= float(lat["iqm"]) <= float(lat["ci_high"])
    assert (
        float(lat["vs_static_low"]) <= float(lat["vs_static_pct"]) <= float(lat["vs_static_high"])
    )
    assert float(lat["vs_static_pct"]) > 0  # least-loaded beats static on latency under low load
    report = (out / "report.md").read_text()
    assert "## Improvement over static allocation" in report
    assert (out / "bars_latency_mean_ms.png").read_bytes()[:4] == b"\x89PNG"


def test_shipped_suites_are_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()  # an output folder named like a suite doesn't hide it
    for name in ("demo", "quick"):
        suite = load_suite(name)
        assert {"static", "dqn", "oracle", "mpc-clairvoyant"} <= set(suite.agents)
        assert len(suite.seeds) >= 3
    quick = load_suite("quick")
    assert len(quick.seeds) >= 5
    assert {"EdgeCloud-Low-v0", "EdgeCloud-Medium-v0", "EdgeCloud-High-v0"} <= set(quick.envs)
    assert set(quick.agents) == {
        "static",
        "reactive",
        "least-loaded",
        "random",
        "oracle",
        "mpc-clairvoyant",
        "dqn",
        "dqn-forecast",
    }


def test_every_shipped_suite_loads_and_the_full_budget_ones_share_their_runs() -> None:
    from edgecloud_bench.suite import _same_run

    folder = Path(__file__).resolve().parents[1] / "benchmarks" / "suites"
    suites = {path.stem: load_suite(path) for path in sorted(folder.glob("*.yml"))}
    assert {"full-high", "paper-full", "quick-full", "joint-full"} <= set(suites)

    def runs(name: str) -> dict:
        return {spec.key: spec.to_dict() for spec in suites[name].runs()}

    full_high, paper_full, quick_full = runs("full-high"), runs("paper-full"), runs("quick-full")
    # --reuse copies exactly the runs that are the same run: every paper-full run on High that
    # full-high has, and every quick-full run that either of them has
    high = [k for k in paper_full if "High" in k]
    assert high and all(_same_run(paper_full[k], full_high[k]) for k in high)
    shared = [k for k in quick_full if k in paper_full]
    assert len(shared) >= 100
    assert all(_same_run(quick_full[k], paper_full[k]) for k in shared)
    for name in ("full-high", "paper-full", "quick-full", "joint-full"):
        learners = [a for a in suites[name].agents.values() if a.budget > 0]
        assert learners and all(a.budget == 100_000 for a in learners), name
        assert len(suites[name].seeds) == 10, name


# --------------------------------------------------------------------------- TensorBoard


def test_tensorboard_event_files_hold_the_documented_tags(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from stable_baselines3 import DQN
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from edgecloud_bench.callbacks import run_name, training_callbacks

    torch.set_num_threads(1)
    env = gym.make("EdgeCloud-Low-v0", forecaster="none")
    eval_env = gym.make("EdgeCloud-Low-v0", forecaster="none")
    model = DQN(
        "MlpPolicy", env, learning_starts=100, seed=0, tensorboard_log=str(tmp_path), verbose=0
    )
    callbacks, evaluation = training_callbacks(
        eval_env, eval_freq=400, eval_episodes=1, hparams={"agent": "dqn", "seed": 0}
    )
    name = run_name("EdgeCloud-Low-v0", "dqn", 0, when=1700000000)
    assert name == "EdgeCloud-Low-v0__dqn__0__1700000000"
    model.learn(1000, callback=callbacks, tb_log_name=name)
    assert [s for s, _ in evaluation.curve] == [0, 400, 800, 1000]

    (logdir,) = tmp_path.iterdir()
    assert logdir.name.startswith(name)
    events = EventAccumulator(str(logdir))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {
        "env/latency_mean_ms",
        "env/latency_p95_ms",
        "env/sla_violation_rate",
        "env/utilisation",
        "env/energy_per_request_j",
        "eval/return",
        "eval/latency_p99_ms",
        "eval/drop_rate",
        "train/loss",
        "rollout/exploration_rate",
        "time/fps",
        "time/steps_per_second",
    }
    assert expected <= scalars, expected - scalars
    assert len(events.Scalars("eval/return")) == 4
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert {"agent", "seed", "algorithm", "learning_rate", "exploration_fraction"} <= set(hparams)


# --------------------------------------------------------------------------- command line


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def _files(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--agent", "statc", "--env", "EdgeCloud-Low-v0"], "Did you mean 'static'"),
        (["train", "--agent", "static", "--env", "EdgeCloud-Hihg-v0"], "Did you mean"),
        (["train", "--agent", "static", "--steps", "-5"], "--steps must be >= 0"),
        (["evaluate", "--agent", "statik"], "unknown agent 'statik'"),
        (["evaluate", "--agent", "static", "--episodes", "0"], "--episodes must be >= 1"),
        (["bench", "run", "--suite", "quik", "--out", "X"], "Did you mean 'quick'"),
        (["report", "X"], "does not exist"),
    ],
)
def test_cli_bad_arguments_fail_cleanly(
    argv: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _run_cli(argv, capsys)
    assert code == 2
    assert err.startswith("edgecloud: error:") and message in err
    assert err.count("\n") == 1
    assert _files(tmp_path) == set()  # nothing written


def test_cli_bad_suite_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    bad = {
        "negative.yml": TINY_SUITE.replace("least-loaded: {}", "least-loaded: {budget: -10}"),
        "agent.yml": TINY_SUITE.replace("least-loaded", "least-lodaed"),
        "key.yml": TINY_SUITE.replace("seeds:", "sedes:"),
        "env.yml": TINY_SUITE.replace("EdgeCloud-Low-v0", "EdgeCloud-Lo-v0"),
    }
    messages = {
        "negative.yml": "budget must be >= 0",
        "agent.yml": "Did you mean 'least-loaded'",
        "key.yml": "Did you mean 'seeds'",
        "env.yml": "Did you mean 'EdgeCloud-Low-v0'",
    }
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        code, err = _run_cli(
            ["bench", "run", "--suite", str(tmp_path / name), "--out", str(out)], capsys
        )
        assert code == 2 and messages[name] in err, err
    assert not out.exists()


def test_cli_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    suite = _tiny(tmp_path)
    code, err = _run_cli(
        ["bench", "run", "--suite", str(suite), "--out", str(blocker / "out")], capsys
    )
    assert code == 2 and "cannot create output folder" in err
    assert _files(tmp_path) == {blocker, suite}


def test_cli_corrupt_run_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    suite = _tiny(tmp_path)
    run = ["bench", "run", "--suite", str(suite), "--out", str(out), "--workers", "1"]
    assert cli.main([*run, "--no-progress"]) == 0
    capsys.readouterr()
    victim = out / "runs" / "static__EdgeCloud-Low-v0__1.json"
    victim.write_text(victim.read_text()[:100])  # truncated by hand
    for argv in (["report", str(out)], ["bench", "run", "--suite", str(suite), "--out", str(out)]):
        code, err = _run_cli(argv, capsys)
        assert code == 2 and str(victim) in err and "delete it" in err
    with pytest.raises(ValueError, match="not a run file"):
        victim.write_text(json.dumps({"hello": 1}))
        read_run(victim)


def test_cli_evaluate_prints_metrics_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval.json"
    argv = ["evaluate", "--agent", "least-loaded", "--env", "EdgeCloud-Low-v0", "--episodes", "2"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "latency_p95_ms" in printed
    assert len(json.loads(out.read_text())["episodes"]) == 2


# --------------------------------------------------------------------------- Ray


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="Ray is an optional extra: pip install 'edgecloud-gym[ray]' to test --executor ray",
)
def test_ray_executor_matches_local(tmp_path: Path) -> None:
    local = run_suite(_tiny(tmp_path), tmp_path / "local", workers=1, progress=False)
    remote = run_suite(_tiny(tmp_path), tmp_path / "ray", executor="ray", workers=2, progress=False)
    key = lambda r: (r["spec"]["agent"], r["spec"]["seed"])  # noqa: E731
    for a, b in zip(sorted(local, key=key), sorted(remote, key=key), strict=True):
        assert a["metrics"] == b["metrics"]


def test_cli_train_saves_an_agent_that_evaluate_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "train"
    argv = ["train", "--agent", "reactive", "--env", "EdgeCloud-Low-v0", "--steps", "0"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    assert run.name.startswith("EdgeCloud-Low-v0__reactive__0__")
    record = json.loads((run / "run.json").read_text())
    saved = Path(record["saved"])
    assert saved.parent == run and saved.exists()
    capsys.readouterr()
    ev = ["evaluate", "--agent", "reactive", "--env", "EdgeCloud-Low-v0", "--load", str(saved)]
    assert (
        cli.main([*ev, "--episodes", "5", "--seed", "100000"]) == 0
    )  # train.py's final evaluation
    printed = capsys.readouterr().out
    assert f"{record['metrics']['return']:12.4f}".strip() in printed


def test_suite_trains_learners_with_curves_and_tensorboard(tmp_path: Path) -> None:
    text = TINY_SUITE.replace("seeds: [0, 1, 2]", "seeds: [0]").replace(
        "least-loaded: {}",
        "dqn: {budget: 600, eval_freq: 300, eval_episodes: 1, kwargs: {learning_starts: 100}}",
    )
    out = tmp_path / "out"
    records = run_suite(_tiny(tmp_path, text), out, workers=1, progress=False)
    dqn = next(r for r in records if r["spec"]["agent"] == "dqn")
    assert [s for s, _ in dqn["learning_curve"]] == [0, 300, 600]
    assert "convergence_steps" in dqn["metrics"] and "late_gain_pct" in dqn["metrics"]
    from edgecloud_bench.report import write_report

    write_report(out)
    assert "Late-training gain" in (out / "report.md").read_text()
    (logdir,) = (out / "tb").iterdir()
    assert logdir.name.startswith("EdgeCloud-Low-v0__dqn__0__")
    assert dqn["run_name"] == logdir.name.rsplit("_", 1)[0]
    with pytest.raises(ValueError, match="does not learn"):
        load_suite(_tiny(tmp_path, TINY_SUITE.replace("static: {}", "static: {budget: 10}")))


def test_a_label_runs_a_zoo_agent_with_other_settings(tmp_path: Path) -> None:
    """An ablation: ``dqn-eps0.2`` is the zoo's dqn with a low initial exploration; its runs
    carry the label and the zoo name, build the dqn with those settings, and count as a
    learner (never as the strongest causal baseline)."""
    from edgecloud_bench.references import env_references

    text = TINY_SUITE.replace("seeds: [0, 1, 2]", "seeds: [0, 1]").replace(
        "least-loaded: {}",
        "dqn-eps0.2: {agent: dqn, budget: 300, eval_freq: 300, eval_episodes: 1, "
        "kwargs: {learning_starts: 50, exploration_initial_eps: 0.2}}",
    )
    records = run_suite(_tiny(tmp_path, text), tmp_path / "out", workers=1, progress=False)
    label = [r for r in records if r["spec"]["agent"] == "dqn-eps0.2"]
    assert len(label) == 2 and all(r["spec"]["zoo_agent"] == "dqn" for r in label)
    assert all("zoo_agent" not in r["spec"] for r in records if r["spec"]["agent"] == "static")
    assert (tmp_path / "out" / "runs" / "dqn-eps0.2__EdgeCloud-Low-v0__0.json").exists()
    (ref,) = env_references(records)
    assert ref.row("dqn-eps0.2").role == "learned" and ref.causal == "static"
    with pytest.raises(ValueError, match="needs 'agent: <zoo name>'"):
        load_suite(_tiny(tmp_path, TINY_SUITE.replace("static: {}", "static-2: {}")))
    with pytest.raises(ValueError, match="a label is letters"):
        load_suite(_tiny(tmp_path, TINY_SUITE.replace("static: {}", "'a__b': {agent: static}")))


def test_oracle_bound_is_shared_across_agents_and_never_beaten() -> None:
    from edgecloud_agents.registry import make_agent, make_env_for
    from edgecloud_bench import evaluation

    bounds = set()
    for name in ("static", "least-loaded", "oracle"):
        env = make_env_for(name, "EdgeCloud-Medium-v0", seed=0)
        (row,) = evaluate(make_agent(name, env), env, None, [123], oracle_bound=True)
        assert row["return"] <= row["oracle_bound"] + 1e-6 * abs(row["oracle_bound"])
        assert row["oracle_gap_pct"] >= -1e-4
        bounds.add(row["oracle_bound"])
    assert len(bounds) == 1  # same arrivals whatever the agent's forecaster or action mode
    assert any(v == bounds.pop() for v in evaluation._BOUNDS.values())


def test_a_failed_run_does_not_stop_the_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgecloud_bench import suite as suite_mod

    real = suite_mod._execute

    def fails_once(spec: dict, tb: str | None) -> dict:
        if spec["agent"] == "static" and spec["seed"] == 1:
            raise RuntimeError("solver exploded")
        return real(spec, tb)

    monkeypatch.setattr(suite_mod, "_execute", fails_once)
    with pytest.raises(ValueError, match=r"1 of 6 runs failed \(first: static__EdgeCloud-Low"):
        run_suite(_tiny(tmp_path), tmp_path / "out", workers=1, progress=False)
    assert len(list((tmp_path / "out" / "runs").glob("*.json"))) == 5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["forecast", "eval", "--context", "0"], "expected a positive number of steps or 'all'"),
        (["forecast", "eval", "--context", "some"], "expected a positive number of steps or 'all'"),
        (["forecast", "eval", "--precision", "half"], "invalid choice: 'half'"),
    ],
)
def test_cli_forecast_eval_rejects_bad_lstm_options(
    argv: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--out-dir", "out"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert _files(tmp_path) == set()


def test_lp_bound_command_prints_bound_agent_and_baseline(capsys):
    from edgecloud_bench.cli import main

    assert main(["bench", "lp-bound", "--envs", "EdgeCloud-Low-v0", "--seeds", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    row = dict(zip(header, [c.strip() for c in lines[2].strip("|").split("|")], strict=True))
    assert row["env"] == "EdgeCloud-Low-v0" and row["seed"] == "3"
    bound, oracle, static = (float(row[k]) for k in ("bound", "oracle", "static"))
    assert all(np.isfinite([bound, oracle, static]))  # model v0's LP: not a bound since v1
    assert float(row["oracle_gap_pct"]) == pytest.approx(
        100 * (bound - oracle) / abs(bound), abs=0.01
    )
