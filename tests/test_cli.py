"""The ``edgecloud`` command's help and its guards against silent mistakes."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from edgecloud_bench import cli
from edgecloud_bench._help import DefaultsHelpFormatter


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
            if isinstance(default, (list, tuple)):
                default = ",".join(map(str, default))
            # written by the formatter, or in the help's own words; either way the value is there
            assert f"{action.help} (default: {default})" in text or (
                "default" in (action.help or "").lower() and str(default) in text
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
