"""Count what per-request graphs leave alive, on an install WITHOUT langgraph-fixed.

Run by ``nox -s patches`` in a virtualenv holding a patched (or, for contrast,
an unpatched) build of langchain-core, langgraph or langchain, and never
langgraph-fixed: the point is that the patched sources alone release
everything. The scenarios are langgraph-fixed's own, one or more per patched
cache (``langgraph_fixed/diagnostics/scenarios.py``, loaded by file path,
which imports nothing from the package). Each builds and runs its request
``--requests`` times around a fresh payload, drops it, collects garbage, and
counts the payloads still alive::

    python patches/leak_check.py --json results.json
    python patches/leak_check.py --expect clean   # exit 1 if any payload survives
    python patches/leak_check.py --expect leak    # exit 1 unless the nonlocals scenarios leak

A scenario whose cache the installed versions do not have counts 0; one that
cannot run on them (``create_agent`` without the langchain package, a tool
dumped to JSON before langchain-core 1.6) is reported as such, as the doctor does.
"""

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

# patches/ holds folders named langchain/ and langgraph/ (the series): never
# let `import langchain` find them as namespace packages.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


ROOT = Path(__file__).resolve().parent.parent
SCENARIOS_FILE = ROOT / "langgraph_fixed" / "diagnostics" / "scenarios.py"
#: The scenarios that reach ``get_function_nonlocals`` on every version: the
#: unpatched contrast must leak in these.
NONLOCALS_ALWAYS = ("runnable_lambda_node", "config_specs_bound_method", "get_graph_closure_lambda")


def load_scenarios() -> Any:
    """langgraph-fixed's scenarios, from the source file: the package is not installed
    (the file imports nothing from it)."""
    spec = importlib.util.spec_from_file_location("lgf_scenarios_standalone", SCENARIOS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


def versions() -> dict[str, str]:
    found = {}
    for dist in (
        "langchain-core",
        "langgraph",
        "langchain",
        "langsmith",
        "langgraph-prebuilt",
        "pydantic",
    ):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[dist] = importlib.metadata.version(dist)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--expect", choices=["clean", "leak"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    if importlib.util.find_spec("langgraph_fixed") is not None:
        print("langgraph_fixed is importable: this check must run without it", file=sys.stderr)
        return 2
    scenarios = load_scenarios()
    rows: list[dict[str, Any]] = []
    for scenario in scenarios.SCENARIOS:
        try:
            alive, why = scenarios.measure(scenario, args.requests).alive, None
        except Exception as exc:  # create_agent without langchain; a tool dump before core 1.6
            alive, why = None, f"{type(exc).__name__}: {str(exc)[:100]}"
        rows.append({"name": scenario.name, "alive": alive, "could_not_run": why})

    found = versions()
    print(", ".join(f"{d} {v}" for d, v in found.items()))
    for row in rows:
        if row["alive"] is None:
            print(f"  {row['name']:28} could not run on these versions ({row['could_not_run']})")
        else:
            print(f"  {row['name']:28} {row['alive']} of {args.requests} payloads alive")
    if args.json:
        document = {"versions": found, "requests": args.requests, "scenarios": rows}
        args.json.write_text(json.dumps(document, indent=2) + "\n")

    counts = {row["name"]: row["alive"] for row in rows}
    if args.expect == "clean" and any(counts.values()):
        print("FAIL: payloads alive", file=sys.stderr)
        return 1
    if args.expect == "leak" and not all(counts[name] for name in NONLOCALS_ALWAYS):
        print("FAIL: the unpatched install was expected to leak", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
