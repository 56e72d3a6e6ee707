"""``edgecloud bench headroom``: the strong baselines against static, paired."""

from __future__ import annotations

import json

from edgecloud_bench.cli import main
from edgecloud_bench.headroom import POLICIES


def test_headroom_table_pairs_every_policy_with_static(tmp_path, capsys):
    code = main(["bench", "headroom", "--out", str(tmp_path), "--seeds", "2",
                 "--env", "EdgeCloud-High-v0"])  # fmt: skip
    assert code == 0
    data = json.loads((tmp_path / "headroom.json").read_text())
    runs = data["runs"]["EdgeCloud-High-v0"]
    assert set(runs) == {*POLICIES, "bound"}
    assert all(len(r["returns"]) == 2 for r in runs.values())
    for label in POLICIES:  # no policy returns more than the episode's bound
        assert all(r <= b for r, b in zip(runs[label]["returns"], runs["bound"]["returns"],
                                          strict=True))  # fmt: skip
    text = (tmp_path / "headroom.md").read_text()
    assert text.count("| **") == 1  # one strongest causal policy, in bold
    assert "| static | " in text and "(+0.0 % [+0.0, +0.0])" in text
    assert "| mpc-clairvoyant`*` |" in text
    assert "| bound | " in text and "| bound gap | " in text
    # the realised arrivals plan at least as well as last-value forecasts, episode by episode
    clair, naive = runs["mpc-clairvoyant"]["returns"], runs["mpc-naive"]["returns"]
    assert all(c > n for c, n in zip(clair, naive, strict=True))


def test_headroom_refuses_too_few_seeds(tmp_path, capsys):
    assert main(["bench", "headroom", "--out", str(tmp_path), "--seeds", "1"]) == 2
    assert "--seeds must be at least 2" in capsys.readouterr().err
