"""The benchmarks run end to end in their tiny modes (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_compile.py"
SOAK = ROOT / "benchmarks" / "bench_soak.py"
MODES = ("upstream", "fix", "floor")
SOAK_NEEDS = ("uvicorn", "starlette", "httpx", "psutil", "matplotlib", "rich")


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LANGGRAPH_FIXED"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def test_bench_compile_tiny(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    command = [
        sys.executable,
        str(SCRIPT),
        "--rounds",
        "1",
        "--batch",
        "1",
        "--sizes",
        "5",
        "--startup-runs",
        "1",
        "--json",
        str(out),
    ]
    # A subprocess, so that the modes' patching never touches this test process.
    result = subprocess.run(
        command, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr

    for word in ("upstream ms", "fix ms", "floor ms", "fix/floor", "fix/upstream"):
        assert word in result.stdout
    assert "A per-request closures" in result.stdout
    assert "B shared functions" in result.stdout
    assert "get_graph()" in result.stdout
    assert "apply() at start-up" in result.stdout

    figures = json.loads(out.read_text())
    # The keys of earlier versions: the --nodes graph (20), scenarios A and B.
    assert set(figures["compile"]) == {"A per-request closures", "B shared functions"}
    for scenario in figures["compile"].values():
        assert set(scenario["median_ms"]) == set(MODES)
        for mode in MODES:
            assert scenario["median_ms"][mode] > 0
            assert len(scenario["per_round_ms"][mode]) == 1
    for case in ("fresh closure", "same object"):
        assert set(figures["get_function_nonlocals"][case]["median_us"]) == {"upstream", "fix"}
    # every other fix's hit, beside upstream's lru hit, an empty function and a forwarder
    assert figures["hits"] and "one hit of each other fix's cache" in result.stdout
    for case, hit in figures["hits"].items():
        assert set(hit["median_us"]) == {"upstream", "fix", "empty function", "forwarder"}, case
        assert all(value > 0 for value in hit["median_us"].values()), case
        assert case in result.stdout
    assert set(figures["modes"]) == set(MODES)
    assert figures["environment"]["langgraph"]
    assert figures["environment"]["langchain-core"]

    # Every case, every mode, with its ratios; --sizes 5 plus the --nodes size.
    assert figures["settings"]["sizes"] == [5, 20]
    cases = figures["cases"]
    scenarios = ("A per-request closures", "B shared functions")
    assert {f"{n} nodes, {s}" for n in (5, 20) for s in scenarios} <= set(cases)
    assert len([key for key in cases if key.startswith("get_graph()")]) == 2
    agents = [key for key in cases if key.startswith("create_react_agent")]
    skipped = figures["settings"]["skipped"]
    assert len(agents) == 2 or any("create_react_agent" in reason for reason in skipped)
    for key, case in cases.items():
        assert set(case["median_ms"]) == set(MODES), key
        assert all(case["median_ms"][mode] > 0 for mode in MODES), key
        for ratios in ("ratios", "paired_ratios"):
            assert set(case[ratios]) == {"fix/floor", "upstream/floor", "fix/upstream"}, key
        assert case["builds_per_batch"] >= 1, key
        assert key in result.stdout

    startup = figures["startup"]
    for variant in ("import langgraph", "+ import langgraph_fixed", "+ langgraph_fixed.apply()"):
        assert startup[variant]["median"]["wall_ms"] > 0
    assert startup["differences_ms"]["apply() (in process)"] > 0


def _attribution(*args: str) -> str:
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_attribution.py"), *args]
    result = subprocess.run(
        command, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _variants(out: str) -> set[str]:
    """The variant names of bench_attribution's table (after its two header lines)."""
    return {line.split("  ")[0] for line in out.splitlines()[2:]}


def test_bench_attribution_tiny() -> None:
    out = _attribution("--rounds", "1", "--batch", "1", "--nodes", "3")
    assert _variants(out) == {
        "upstream",
        "upstream again",
        "fix",
        "nonlocals fix only",
        "every fix but nonlocals",
        "nonlocals fix called twice",
        "Python wrapper of upstream",
        "copy of upstream's answer",
    }, out
    assert "3-node graph of shared functions" in out
    out = _attribution("--graphs", "per-request", "--rounds", "1", "--batch", "1", "--nodes", "3")
    assert _variants(out) == {
        "floor",
        "floor again",
        "fix",
        "nonlocals fix only",
        "every fix, floor for nonlocals",
        "floor returning the fix's answer",
    }, out
    assert "ratio to floor" in out


def test_bench_attribution_cachegrind_child() -> None:
    """What --cachegrind runs under valgrind (valgrind itself is too slow for the suite)."""
    for graphs in ("shared", "per-request"):
        out = _attribution("--child", "fix", "--graphs", graphs, "--nodes", "3", "--builds", "2")
        assert out == ""


def test_bench_soak_tiny(tmp_path: Path) -> None:
    missing = [name for name in SOAK_NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the soak benchmark needs {', '.join(missing)} (the bench extra)")
    out = tmp_path / "results"
    plot = tmp_path / "copy" / "soak.png"
    command = [
        sys.executable,
        str(SOAK),
        "--requests",
        "30",
        "--every",
        "10",
        "--payload-mb",
        "1",
        "--timeout",
        "240",
        "--quiet",
        "--out",
        str(out),
        "--plot",
        str(plot),
    ]
    result = subprocess.run(
        command, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr

    for path in (out / "soak.md", out / "soak.json", out / "soak.png", plot):
        assert path.is_file() and path.stat().st_size > 0, path
    assert (out / "soak.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    document = json.loads((out / "soak.json").read_text())
    assert document["completed"] is True
    servers = document["servers"]
    assert set(servers) == {"unpatched", "patched", "floor"}
    # Each server's own /report: the fix applied under `langgraph-fixed run` only;
    # the floor runs upstream's uncached function (no lru cache left to count).
    assert servers["unpatched"]["fix_state"] == "not applied"
    assert servers["patched"]["fix_state"] == "applied"
    assert servers["floor"]["fix_state"] == "not applied"
    assert servers["floor"]["report"]["bound_for_deps"].startswith("uncached function")
    rebound = servers["floor"]["report"]["rebound_to_uncached"]
    assert "langchain_core.runnables.base.get_function_nonlocals" in rebound
    assert servers["floor"]["samples"][-1]["cache_entries"] is None
    for name, server in servers.items():
        samples = server["samples"]
        assert [s["requests"] for s in samples] == [5, 10, 20, 30], name
        assert all(s["rss"] > 0 and s["created"] == s["requests"] for s in samples), name
        summary = server["summary"]
        for key in ("warmup_rss_mib", "final_rss_mib", "final_above_warmup_mib"):
            assert isinstance(summary[key], float), (name, key)
    # What survives is counted, not timed: 30 requests stay below upstream's 256 entries.
    assert servers["unpatched"]["samples"][-1]["alive"] == 30
    assert servers["patched"]["samples"][-1]["alive"] == 0
    assert servers["floor"]["samples"][-1]["alive"] == 0

    markdown = (out / "soak.md").read_text()
    assert "| unpatched | not applied |" in markdown
    assert "| patched | applied |" in markdown
    assert "| floor | not applied |" in markdown
    assert "Patched minus floor" in markdown
    assert markdown in result.stdout


def test_bench_soak_langgraph_dev_tiny(tmp_path: Path) -> None:
    """``--server langgraph-dev``: ``langgraph dev`` on tests/server/, three ways, a few runs."""
    pytest.importorskip("langgraph_api", reason="the server nox session installs langgraph-api")
    pytest.importorskip("langgraph_sdk")
    needs = ("httpx", "psutil", "matplotlib", "rich")
    missing = [name for name in needs if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the soak benchmark needs {', '.join(missing)} (the bench extra)")
    out = tmp_path / "results"
    plot = tmp_path / "copy" / "soak-langgraph-dev.png"
    runs = 12
    command = [
        sys.executable,
        str(SOAK),
        "--server",
        "langgraph-dev",
        "--runs",
        str(runs),
        "--every",
        "5",
        "--concurrency",
        "4",
        "--timeout",
        "280",
        "--quiet",
        "--out",
        str(out),
        "--plot",
        str(plot),
    ]
    result = subprocess.run(
        command, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr

    md, js, png = (out / f"soak-langgraph-dev.{ext}" for ext in ("md", "json", "png"))
    for path in (md, js, png, plot):
        assert path.is_file() and path.stat().st_size > 0, path
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "soak.json").exists()  # the uvicorn mode's files are left alone

    document = json.loads(js.read_text())
    assert document["completed"] is True
    assert document["settings"]["server"] == "langgraph-dev"
    assert document["settings"]["unit"] == "run"
    servers = document["servers"]
    assert set(servers) == {"unpatched", "patched", "floor"}
    # Each server's own /lgf/payloads: the fix applied under `langgraph-fixed run` only;
    # the floor started langgraph dev after rebinding upstream's caches to the uncached functions.
    assert servers["unpatched"]["fix_state"] == "not applied"
    assert servers["patched"]["fix_state"] == "applied"
    assert servers["floor"]["fix_state"] == "not applied"
    rebound = servers["floor"]["report"]["rebound_to_uncached"]
    assert "langchain_core.runnables.base.get_function_nonlocals" in rebound
    assert "langgraph" in servers["unpatched"]["command"][0]
    assert servers["patched"]["command"][1:5] == ["-m", "langgraph_fixed", "run", "--"]
    for name, server in servers.items():
        samples = server["samples"]
        assert [s["requests"] for s in samples] == [5, 10, 12], name
        # two 1 MiB payloads per run; RSS read in the server and from outside
        assert all(s["created"] == 2 * s["requests"] for s in samples), name
        assert all(s["rss"] > 0 and s["rss_outside"] > 0 for s in samples), name
        for key in ("warmup_rss_mib", "final_rss_mib", "final_above_warmup_mib"):
            assert isinstance(server["summary"][key], float), (name, key)
    # 12 runs stay below upstream's 256 entries: every payload pinned; none with the fix.
    assert servers["unpatched"]["samples"][-1]["alive"] == 2 * runs
    assert servers["patched"]["samples"][-1]["alive"] == 0
    assert servers["floor"]["samples"][-1]["alive"] == 0

    markdown = md.read_text()
    assert "`langgraph dev`" in markdown
    assert "| unpatched | not applied |" in markdown
    assert "| patched | applied |" in markdown
    assert "| floor | not applied |" in markdown
    assert "| runs |" in markdown
    assert "malloc_trim" not in markdown  # not measured in this mode: no column of dashes
    assert markdown in result.stdout
