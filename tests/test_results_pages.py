"""The results pages quote their suite's committed summary.csv: every number of a page's
headline table is checked against the CSV it came from."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: page -> (summary.csv of its suite, env of the headline table)
PAGES = {"results/full-high.md": ("results/full-high/summary.csv", "EdgeCloud-High-v0")}


def _headline(page: Path, section: str = "## Headline") -> list[dict[str, str]]:
    """Rows of the first table after the heading ``section`` (cells by header)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(section))
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            table.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif table:
            break
    header, rows = table[0], table[2:]
    return [dict(zip(header, row, strict=True)) for row in rows]


def _number(cell: str) -> float | None:
    match = re.match(r"\*{0,2}([+-]?\d+(?:\.\d+)?)", cell.replace("−", "-"))
    return None if match is None else float(match.group(1))


def _interval(cell: str) -> tuple[float, float] | None:
    match = re.search(r"\[([+-]?\d+(?:\.\d+)?), ([+-]?\d+(?:\.\d+)?)\]", cell.replace("−", "-"))
    return None if match is None else (float(match.group(1)), float(match.group(2)))


@pytest.mark.parametrize("page", sorted(PAGES))
def test_headline_numbers_are_the_summary_files(page):
    summary, env = PAGES[page]
    with (DOCS / summary).open(encoding="utf-8") as f:
        rows = {
            r["agent"]: r for r in csv.DictReader(f) if r["env"] == env and r["metric"] == "return"
        }
    table = _headline(DOCS / page)
    assert table, f"{page} has no headline table"
    columns = {"return (IQM)": "iqm", "vs static %": "vs_static_pct",
               "vs strongest causal %": "vs_causal_pct", "gap closed %": "gap_closed"}  # fmt: skip
    for row in table:
        agent = row["agent"].strip("`*")
        assert agent in rows, f"{page}: {agent} is not in {summary}"
        for column, key in columns.items():
            shown, stored = _number(row[column]), rows[agent][key]
            if stored == "":
                assert shown is None, (page, agent, column)
                continue
            value = float(stored) * (100.0 if key == "gap_closed" else 1.0)
            assert shown == pytest.approx(value, abs=0.051), (page, agent, column, shown, value)


def test_readme_results_are_the_summary_file():
    """The README's results table: each agent's improvement over static, its interval and the
    gap it closes, as the committed summary.csv of the full-budget High slice has them."""
    summary = DOCS / "results/full-high/summary.csv"
    with summary.open(encoding="utf-8") as f:
        rows = {
            r["agent"]: r
            for r in csv.DictReader(f)
            if r["env"] == "EdgeCloud-High-v0" and r["metric"] == "return"
        }
    table = _headline(DOCS.parent / "README.md", "## Results")
    assert len(table) >= 4
    for row in table:
        agent = row["agent"].split("`")[1]
        stored = rows[agent]
        assert _number(row["vs static %"]) == pytest.approx(
            float(stored["vs_static_pct"]), abs=0.051
        ), agent
        low, high = _interval(row["vs static %"])
        assert low == pytest.approx(float(stored["vs_static_low"]), abs=0.051), agent
        assert high == pytest.approx(float(stored["vs_static_high"]), abs=0.051), agent
        assert _number(row["gap closed %"]) == pytest.approx(
            100.0 * float(stored["gap_closed"]), abs=0.051
        ), agent


def test_traces_page_is_its_summary_file():
    """docs/traces.md's agents table: each return and improvement over static, with its interval,
    as the traces suite's committed summary.csv has them."""
    with (DOCS / "results/traces/summary.csv").open(encoding="utf-8") as f:
        rows = {(r["env"], r["agent"]): r for r in csv.DictReader(f) if r["metric"] == "return"}
    envs = {"NASA-HTTP": "EdgeCloud-Trace-NASA-v0", "Alibaba GenAI": "EdgeCloud-Trace-Alibaba-v0"}
    table = _headline(DOCS / "traces.md", "## Agents on real workloads")
    assert len(table) == 12
    for row in table:
        stored = rows[(envs[row["trace (test period)"]], row["agent"])]
        assert _number(row["return"]) == pytest.approx(float(stored["iqm"]), abs=0.051)
        if row["agent"] == "static":
            continue
        assert _number(row["vs static %"]) == pytest.approx(
            float(stored["vs_static_pct"]), abs=0.051
        )
        low, high = _interval(row["vs static %"])
        assert (low, high) == pytest.approx(
            (float(stored["vs_static_low"]), float(stored["vs_static_high"])), abs=0.051
        )
