"""Count what per-request graphs leave alive, on an install WITHOUT langgraph-fixed.

Run by ``nox -s patches`` in a virtualenv holding a patched (or, for contrast,
an unpatched) build of langchain-core, langgraph or langchain, and never
langgraph-fixed: the point is that the patched sources alone release
everything. The scenarios are langgraph-fixed's own (``langgraph_fixed/
selfcheck.py``, loaded by file path, which imports nothing from the package),
plus one request per other patched cache (``langgraph_fixed/cache_scenarios.py``,
shared with langgraph-fixed's own tests, loaded the same way). Each builds and runs its
request ``--requests`` times around a fresh payload, drops it, collects
garbage, and counts the payloads still alive::

    python patches/leak_check.py --json results.json
    python patches/leak_check.py --expect clean   # exit 1 if any payload survives
    python patches/leak_check.py --expect leak    # exit 1 unless the nonlocals scenarios leak

A scenario whose target is missing in the installed versions is reported as
skipped (e.g. tool JSON schemas before langchain-core 1.6.1).
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
#: The scenarios that reach ``get_function_nonlocals`` on every version: the
#: unpatched contrast must leak in these.
NONLOCALS_ALWAYS = ("runnable_lambda_node", "config_specs_bound_method", "get_graph_closure_lambda")


def _load(name: str) -> Any:
    """A module of langgraph-fixed, from its source file: the package is not installed."""
    path = ROOT / "langgraph_fixed" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"lgf_{name}_standalone", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


def load_selfcheck() -> Any:
    """langgraph-fixed's scenarios (``selfcheck.py``: it imports nothing from the package)."""
    return _load("selfcheck")


#: one request per other patched cache, the ones langgraph-fixed's own tests use
cache_scenarios = _load("cache_scenarios")


def _has(module: str, attribute: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), attribute)
    except ImportError:
        return False


#: name -> (description, request, whether the installed versions have the target)
EXTRA_SCENARIOS = {
    "tool_json_schema": (
        "StructuredTool with a per-request args schema, dumped to JSON",
        cache_scenarios.tool_dumped_to_json,
        lambda: _has("langchain_core.tools.structured", "_model_json_schema"),
    ),
    "pydantic_state_graph": (
        "graph compiled on a per-request pydantic state",
        cache_scenarios.pydantic_state_graph,
        lambda: _has("langgraph.graph.schema_utils", "SchemaCoercionMapper"),
    ),
    "pydantic_state_sequence": (
        "pydantic state made per request, fields typed Doc | None and Sequence[Hit]",
        cache_scenarios.state_with_request_field_types,
        lambda: _has("langgraph.graph.schema_utils", "_get_adapter"),
    ),
    "lambda_input_schema": (
        "RunnableLambda over a per-request TypedDict, get_input_schema()",
        cache_scenarios.lambda_input_schema,
        lambda: _has("langchain_core.utils.pydantic", "_create_root_model_cached"),
    ),
    "parallel_output_schema": (
        "RunnableParallel returning a per-request model, get_output_schema()",
        cache_scenarios.parallel_output_schema,
        lambda: _has("langchain_core.utils.pydantic", "_create_model_cached"),
    ),
    "graph_input_jsonschema": (
        "dataclass state with a per-request model field, get_input_jsonschema()",
        cache_scenarios.graph_input_jsonschema,
        lambda: (
            _has("langgraph._internal._pydantic", "_create_model_cached")
            or _has("langgraph.utils.pydantic", "_create_model_cached")
        ),
    ),
    "agent_state_schema": (
        "create_agent with a per-request state schema",
        cache_scenarios.agent_with_state_schema,
        lambda: _has("langchain.agents.factory", "_get_schema_type_hints"),
    ),
}


def versions() -> dict[str, str]:
    found = {}
    for dist in ("langchain-core", "langgraph", "langchain", "langgraph-prebuilt", "pydantic"):
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
    selfcheck = load_selfcheck()
    rows: list[dict[str, Any]] = []
    for scenario in selfcheck.SCENARIOS:
        retention = selfcheck.measure(scenario, args.requests)
        rows.append({"name": scenario.name, "alive": retention.alive})
    for name, (description, request, present) in EXTRA_SCENARIOS.items():
        if not present():
            rows.append({"name": name, "alive": None})
            continue
        scenario = selfcheck.Scenario(name, description, request)
        rows.append({"name": name, "alive": selfcheck.measure(scenario, args.requests).alive})

    found = versions()
    print(", ".join(f"{d} {v}" for d, v in found.items()))
    for row in rows:
        if row["alive"] is None:
            print(f"  {row['name']:28} skipped (no such cache in these versions)")
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
