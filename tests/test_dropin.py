"""Drop-in imports: ``langgraph_fixed.<name>`` is ``langgraph.<name>``, fixed on import."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

MIRRORED = [
    "graph",
    "graph.message",
    "graph.state",
    "prebuilt",
    "prebuilt.tool_node",
    "types",
    "func",
    "constants",
    "errors",
    "pregel",
    "config",
    "channels",
    "managed",
    "checkpoint.memory",
    "checkpoint.base",
    "store.memory",
    "store.base",
]


def python(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter (no apply() anywhere) and parse its JSON."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("name", MIRRORED)
def test_mirrored_objects_are_the_very_same(name: str) -> None:
    upstream = importlib.import_module(f"langgraph.{name}")
    mirror = importlib.import_module(f"langgraph_fixed.{name}")
    public = [k for k in vars(upstream) if not k.startswith("_")]
    assert public, f"langgraph.{name} has no public names"
    for key in public:
        assert getattr(mirror, key) is getattr(upstream, key), key
    assert getattr(mirror, "__all__", None) == getattr(upstream, "__all__", None)


def test_the_named_objects_are_identical() -> None:
    import langgraph.checkpoint.memory
    import langgraph.graph
    import langgraph.prebuilt
    import langgraph.types

    from langgraph_fixed.checkpoint.memory import MemorySaver
    from langgraph_fixed.graph import END, START, StateGraph
    from langgraph_fixed.prebuilt import ToolNode, create_react_agent
    from langgraph_fixed.types import Command, Send, interrupt

    assert StateGraph is langgraph.graph.StateGraph
    assert (START, END) == (langgraph.graph.START, langgraph.graph.END)
    assert ToolNode is langgraph.prebuilt.ToolNode
    assert create_react_agent is langgraph.prebuilt.create_react_agent
    assert MemorySaver is langgraph.checkpoint.memory.MemorySaver
    assert (Command, Send, interrupt) == (
        langgraph.types.Command,
        langgraph.types.Send,
        langgraph.types.interrupt,
    )


def test_importing_a_mirror_applies_the_fix_without_apply() -> None:
    """A fresh process that only swaps its import: the leak is gone."""
    code = """
import json
from langgraph_fixed.graph import StateGraph
from langgraph_fixed.selfcheck import SCENARIOS, measure
import langgraph_fixed
scenario = next(s for s in SCENARIOS if s.name == "runnable_lambda_node")
state = langgraph_fixed.status().get("get_function_nonlocals").state.value
print(json.dumps({"state": state, "alive": measure(scenario, 300).alive}))
"""
    assert python(code) == {"state": "applied", "alive": 0}
    # the same process with the plain import leaks, which is what the swap fixes
    plain = code.replace("from langgraph_fixed.graph import", "from langgraph.graph import")
    assert python(plain) == {"state": "not applied", "alive": 256}


def test_importing_langgraph_fixed_alone_patches_nothing() -> None:
    code = """
import json, langgraph_fixed
from langchain_core.runnables import utils
print(json.dumps({"cached": hasattr(utils.get_function_nonlocals, "cache_info")
    and not type(utils.get_function_nonlocals).__name__.startswith("Fixed")}))
"""
    assert python(code) == {"cached": True}


def test_missing_modules_fail_naming_the_langgraph_module() -> None:
    with pytest.raises(ModuleNotFoundError) as exc:
        importlib.import_module("langgraph_fixed.no_such_module")
    assert exc.value.name == "langgraph.no_such_module"
    assert "langgraph.no_such_module" in str(exc.value)
    assert "langgraph_fixed.no_such_module" not in sys.modules


def test_own_modules_win_over_mirrors() -> None:
    from langgraph_fixed import cache

    assert hasattr(cache, "WeakKeyCache")
    pytest.importorskip("langgraph.cache.memory", reason="langgraph.cache is newer (0.4+)")
    import langgraph.cache.memory

    from langgraph_fixed.cache.memory import InMemoryCache

    assert InMemoryCache is langgraph.cache.memory.InMemoryCache


@pytest.mark.parametrize("example", ["example_fixed.py", "example_langgraph.py"])
def test_type_checkers_see_the_mirrors(example: str) -> None:
    mypy = shutil.which("mypy")
    if mypy is None:
        pytest.skip("mypy is not installed")
    result = subprocess.run(
        [mypy, "--strict", "--no-incremental", str(ROOT / "tests" / "typing" / example)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
