"""Installing langgraph-fixed beside a supported set moves none of its versions.

pip resolves this source tree against the environment the tests run in (a nox
version set, every companion pinned) without installing anything
(``--dry-run --report``): the only distribution it may install is
langgraph-fixed itself. A second resolve that asks for another langgraph shows
that the same reading does see a version move. Needs the package index, as the
sessions' own installs do.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def would_install(tmp_path: Path, *requirements: str) -> dict[str, str]:
    """name -> version of what ``pip install`` would install or replace here."""
    report = tmp_path / "report.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--disable-pip-version-check",
            "--report",
            str(report),
            *requirements,
        ],
        check=True,
        timeout=600,
    )
    return {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }


def test_installing_it_beside_the_set_moves_no_version(tmp_path: Path) -> None:
    installs = would_install(tmp_path, str(ROOT))
    assert "langgraph-fixed" in installs, installs  # the resolve did take this tree
    moved = {
        name: f"{importlib.metadata.version(name)} -> {version}"
        for name, version in installs.items()
        if name != "langgraph-fixed"
    }
    assert moved == {}, f"installing langgraph-fixed would move {moved}"

    # the same reading sees a move when one is asked for
    langgraph = importlib.metadata.version("langgraph")
    asked = would_install(tmp_path, str(ROOT), f"langgraph!={langgraph}")
    assert "langgraph" in asked and asked["langgraph"] != langgraph, asked
