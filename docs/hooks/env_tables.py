"""MkDocs hook: writes ``reference/spaces.md`` from the code at every build.

The page is :func:`edgecloud_bench.env_tables.spaces_page`: the observation, action and ``info``
tables of the allocation envs, read from the envs themselves.
"""

from __future__ import annotations

from typing import Any

from mkdocs.structure.files import File, Files

from edgecloud_bench.env_tables import spaces_page

PAGE = "reference/spaces.md"


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, PAGE, content=spaces_page()))
    return files
