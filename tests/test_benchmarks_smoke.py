"""The compile benchmark runs end to end in its tiny mode (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_compile.py"
MODES = ("upstream", "fix", "floor")


def test_bench_compile_tiny(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # A subprocess, so that the modes' patching never touches this test process.
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--rounds", "1", "--batch", "1", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    for word in ("upstream ms", "fix ms", "floor ms", "fix/floor", "fix/upstream"):
        assert word in result.stdout
    assert "A per-request closures" in result.stdout
    assert "B shared functions" in result.stdout

    figures = json.loads(out.read_text())
    assert set(figures["compile"]) == {"A per-request closures", "B shared functions"}
    for scenario in figures["compile"].values():
        assert set(scenario["median_ms"]) == set(MODES)
        for mode in MODES:
            assert scenario["median_ms"][mode] > 0
            assert len(scenario["per_round_ms"][mode]) == 1
    for case in ("fresh closure", "same object"):
        assert set(figures["get_function_nonlocals"][case]["median_us"]) == {"upstream", "fix"}
    assert set(figures["modes"]) == set(MODES)
    assert figures["environment"]["langgraph"]
    assert figures["environment"]["langchain-core"]
