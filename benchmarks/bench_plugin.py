"""What an installed langgraph-fixed adds to an unrelated pytest session.

The ``leakcheck`` plugin is registered through the ``pytest11`` entry point, so
every pytest run in an environment where langgraph-fixed is installed loads
it. This runs a small unrelated suite (no LangChain anywhere) in fresh
processes, with the plugin and with ``-p no:langgraph_fixed_leakcheck``,
interleaved, and reports both wall times; and, in-process, what importing the
plugin module costs and which modules it imports::

    python benchmarks/bench_plugin.py --runs 9
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = "\n".join(f"def test_{i}():\n    assert {i} + 1 == {i + 1}\n" for i in range(200))

IMPORT_CODE = """
import json, sys, time
import pytest
before = set(sys.modules)
t0 = time.perf_counter()
import langgraph_fixed.testing.leakcheck
t1 = time.perf_counter()
new = sorted(set(sys.modules) - before)
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "imported": new}))
"""


def run_suite(directory: Path, plugin: bool) -> float:
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(directory)]
    if not plugin:
        args[3:3] = ["-p", "no:langgraph_fixed_leakcheck"]
    start = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    wall = (time.perf_counter() - start) * 1e3
    if result.returncode != 0:
        raise RuntimeError(result.stdout + result.stderr)
    return wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    imports = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", IMPORT_CODE], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(args.runs)
    ]
    walls: dict[str, list[float]] = {"with the plugin": [], "without": []}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "test_unrelated.py").write_text(SUITE)
        run_suite(Path(tmp), True)  # untimed: files into the page cache
        for r in range(args.runs):
            order = [True, False] if r % 2 == 0 else [False, True]
            for plugin in order:
                walls["with the plugin" if plugin else "without"].append(
                    run_suite(Path(tmp), plugin)
                )
    figures = {
        "import_ms": {
            "min": min(i["import_ms"] for i in imports),
            "median": statistics.median(i["import_ms"] for i in imports),
        },
        "imported": imports[0]["imported"],
        "wall_ms": {
            name: {"min": min(v), "median": statistics.median(v)} for name, v in walls.items()
        },
    }
    with_, without = figures["wall_ms"]["with the plugin"], figures["wall_ms"]["without"]
    print(
        f"importing the plugin: min {figures['import_ms']['min']:.2f} ms, median "
        f"{figures['import_ms']['median']:.2f} ms; it imports: {', '.join(figures['imported'])}"
    )
    print(
        f"200 unrelated tests, {args.runs} runs each way: with the plugin min "
        f"{with_['min']:.0f} / median {with_['median']:.0f} ms, without min "
        f"{without['min']:.0f} / median {without['median']:.0f} ms "
        f"(difference of the minima {with_['min'] - without['min']:+.0f} ms)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
