"""The tracker benchmark runs end to end in its tiny mode (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_track.py"
KINDS = (
    "RunnableLambda",
    "StructuredTool",
    "BaseRetriever subclass",
    "minimal Runnable",
    "graph per request",
)
MODES = ("outside", "track()", "track(context)")


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LANGGRAPH_FIXED"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def test_bench_track_tiny(tmp_path: Path) -> None:
    out = tmp_path / "track.json"
    command = [sys.executable, str(SCRIPT), "--n", "3", "--rounds", "1", "--json", str(out)]
    # A subprocess: the benchmark wraps __init__ of LangChain's classes while it runs.
    result = subprocess.run(
        command, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr

    assert "| kind | outside us each | track() us |" in result.stdout
    for kind in KINDS:
        assert f"| {kind} |" in result.stdout
    assert "Entering + leaving `track()`" in result.stdout

    figures = json.loads(out.read_text())
    assert figures["settings"] == {"n": 3, "rounds": 1, "modes": list(MODES)}
    assert set(figures["creation"]) == set(KINDS)
    for kind, row in figures["creation"].items():
        assert set(row["median_us"]) == set(MODES), kind
        assert all(row["median_us"][mode] > 0 for mode in MODES), kind
        for key in ("ratio", "paired_ratio", "overhead_ns"):
            assert set(row[key]) == set(MODES[1:]), (kind, key)
        assert all(len(row["per_round_us"][mode]) == 1 for mode in MODES), kind
        assert row["per_batch"] >= 1, kind
    assert figures["block"]["enter_exit_ms"] > 0
    assert figures["block"]["alive_ms"] > 0
    assert figures["environment"]["langchain-core"]
    assert figures["markdown"] in result.stdout
