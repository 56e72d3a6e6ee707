"""The ``edgecloud`` command: help with defaults, guards against silent mistakes, honest progress."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgecloud_bench import cli
from edgecloud_bench._help import DefaultsHelpFormatter
from edgecloud_bench.suite import expected_cost, load_suite, run_suite, suite_costs


@pytest.fixture(autouse=True)
def _wide_help(monkeypatch: pytest.MonkeyPatch) -> None:
    """Help on one line per option, so that no value is wrapped at a hyphen."""
    monkeypatch.setenv("COLUMNS", "1000")


def _parsers(
    parser: argparse.ArgumentParser, name: str = "edgecloud"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_help_shows_every_default() -> None:
    checked = 0
    for name, parser in _parsers(cli.build_parser()):
        text = " ".join(parser.format_help().split())  # undo the line wrapping
        for action in parser._actions:
            default = action.default
            if not action.option_strings or default in (None, False, argparse.SUPPRESS):
                continue
            forms = [str(default)]
            if isinstance(default, (list, tuple)):  # as typed: words or comma-joined
                forms = [sep.join(map(str, default)) for sep in (" ", ",")]
            # written by the formatter, or in the help's own words; either way the value is there
            assert any(
                f"{action.help} (default: {form})" in text
                or ("default" in (action.help or "").lower() and form in text)
                for form in forms
            ), f"'{name} --help' does not show the default of {action.option_strings[0]}: {default}"
            checked += 1
    assert checked > 40  # every subcommand was reached


def test_train_help_shows_the_default_env(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "allocation env id (default: EdgeCloud-Medium-v0)" in text
    assert "training budget in env steps (default: 20000)" in text
    assert "(default: a tenth of --steps)" in text


def test_formatter_leaves_flags_and_worded_defaults_alone() -> None:
    parser = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--flag", action="store_true", help="a switch")
    parser.add_argument("--n", type=int, default=5, help="count (default 5)")
    parser.add_argument("--rate", default="50%", help="a share")
    text = " ".join(parser.format_help().split())
    assert "a switch (default" not in text
    assert "count (default 5) (default" not in text
    assert "a share (default: 50%)" in text


@pytest.mark.parametrize("agent", ["dqn", "dqn-forecast", "dynamic-allocator", "maml-dqn"])
def test_evaluate_refuses_a_learner_without_load(
    agent: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["evaluate", "--agent", agent, "--env", "EdgeCloud-Low-v0"]) == 2
    err = capsys.readouterr().err
    assert f"--agent {agent} learns" in err
    assert "--load" in err and "--untrained" in err and "edgecloud train" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--agent", "static", "--untrained"], "--untrained applies to learning agents only"),
        (["--agent", "dqn", "--untrained", "--load", "x.zip"], "exclude each other"),
    ],
)
def test_evaluate_untrained_flag_misuse(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["evaluate", *argv]) == 2
    assert message in capsys.readouterr().err


def test_evaluate_untrained_on_purpose(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["evaluate", "--agent", "dqn", "--env", "EdgeCloud-Low-v0", "--episodes", "1"]
    assert cli.main([*argv, "--untrained"]) == 0
    out = capsys.readouterr().out
    assert "dqn on EdgeCloud-Low-v0: 1 episodes" in out and "return" in out


# --------------------------------------------------------------------------- suite progress


def test_expected_cost_puts_the_demo_s_weight_on_its_learners() -> None:
    demo = load_suite("demo")
    costs = suite_costs(demo)
    learners = sum(costs[s.key] for s in demo.runs() if s.budget > 0)
    # a count of runs gives the 9 DQN runs 9/54 of the bar; they hold about 95 % of the demo's
    # CPU time (the cpu_seconds of its run files)
    assert 0.85 < learners / sum(costs.values()) < 0.99
    dqn = next(s for s in demo.runs() if s.agent == "dqn")
    longer = dataclasses.replace(dqn, budget=2 * dqn.budget)
    assert expected_cost(longer) > 1.9 * expected_cost(dqn)
    rule = next(s for s in demo.runs() if s.agent == "static")
    assert expected_cost(rule, bound_shared_by=6) < expected_cost(rule)


SUITE = """
name: weighted
version: 1
envs: [EdgeCloud-Low-v0]
seeds: [0]
evaluation: {episodes: 1}
agents:
  dqn: {budget: 20000}
  static: {}
  random: {}
"""


def test_progress_bar_advances_by_expected_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tqdm.auto

    from edgecloud_bench import suite as suite_mod

    seen: list[tuple[float, str]] = []

    class Recording(tqdm.auto.tqdm):
        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            seen.append((self.n / self.total, self.desc))
            return shown

    def fake(spec: dict, tb: str | None) -> dict:  # what a run returns, without running it
        from edgecloud_gym.model_version import MODEL_VERSION

        return {
            "format": suite_mod.RUN_FORMAT,
            "model_version": MODEL_VERSION,
            "spec": spec,
            "metrics": {},
            "episodes": [],
        }

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    monkeypatch.setattr(suite_mod, "_execute", fake)
    path = tmp_path / "weighted.yml"
    path.write_text(SUITE)
    run_suite(path, tmp_path / "out", workers=1)
    assert [desc for _, desc in seen] == [f"suite weighted ({i}/3 runs)" for i in (1, 2, 3)]
    assert seen[0][0] > 0.9  # the DQN run (first: longest budget) is nearly all of the work
    assert seen[-1][0] == pytest.approx(1.0)
