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


def _headline(page: Path) -> list[dict[str, str]]:
    """Rows of the first table after '## Headline' (cells by header)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## Headline"))
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
