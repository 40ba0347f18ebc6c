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
from langgraph_fixed.diagnostics.scenarios import SCENARIOS, measure
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


def test_a_typo_raises_naming_itself_and_applies_nothing() -> None:
    """``langgraph_fixed.leak`` and ``langgraph_fixed.graph.nope``: the usual error, no fix."""
    code = """
import json, sys
import langgraph_fixed
out = {}
for name in ("langgraph_fixed.leak", "langgraph_fixed.graph.nope"):
    try:
        __import__(name)
    except ModuleNotFoundError as exc:
        out[name] = [exc.name, name in str(exc), name in sys.modules]
    if name == "langgraph_fixed.leak":
        out["after the typo"] = sorted({s.state.value for s in langgraph_fixed.status()})
print(json.dumps(out))
"""
    assert python(code) == {
        "langgraph_fixed.leak": ["langgraph_fixed.leak", True, False],
        "after the typo": ["not applied"],
        "langgraph_fixed.graph.nope": ["langgraph_fixed.graph.nope", True, False],
    }


def test_a_mirror_of_a_module_this_langgraph_lacks_fails_before_applying() -> None:
    code = """
import json, sys, langgraph_fixed
sys.modules["langgraph.lgf_probe_missing"] = None  # a module langgraph has not got
try:
    import langgraph_fixed.lgf_probe_missing
except ModuleNotFoundError as exc:
    print(json.dumps({"name": exc.name}))
"""
    # no file exists for that name: the finder is not asked at the top level
    assert python(code) == {"name": "langgraph_fixed.lgf_probe_missing"}


def test_the_finder_answers_only_below_a_mirror() -> None:
    from langgraph_fixed._mirror import MirrorFinder

    finder = MirrorFinder()
    import langgraph_fixed.graph  # noqa: F401 - a mirror, and the finder's installer

    assert finder.find_spec("langgraph_fixed.graph.message", None) is not None
    assert finder.find_spec("langgraph_fixed.graph.nope", None) is None
    assert finder.find_spec("langgraph_fixed.fixes.nope", None) is None  # our own package
    assert finder.find_spec("langgraph_fixed.leak", None) is None  # the top level
    assert finder.find_spec("langgraph.graph", None) is None


def test_importing_langgraph_fixed_installs_no_finder() -> None:
    code = """
import json, sys
import langgraph_fixed
print(json.dumps({"finders": [type(f).__name__ for f in sys.meta_path
                               if type(f).__module__.startswith("langgraph_fixed")]}))
"""
    assert python(code) == {"finders": []}


def test_langgraph_fixed_cache_mirrors_langgraph_cache() -> None:
    import langgraph_fixed.weakcache

    assert hasattr(langgraph_fixed.weakcache, "WeakKeyCache")
    pytest.importorskip("langgraph.cache.memory", reason="langgraph.cache is newer (0.4+)")
    import langgraph.cache.memory

    from langgraph_fixed.cache.memory import InMemoryCache

    assert InMemoryCache is langgraph.cache.memory.InMemoryCache
    assert not hasattr(importlib.import_module("langgraph_fixed.cache"), "WeakKeyCache")


def test_every_top_level_langgraph_module_has_a_mirror() -> None:
    import pkgutil

    import langgraph

    mirrors = {m.name for m in pkgutil.iter_modules(langgraph_fixed_path())}
    public = {
        m.name for m in pkgutil.iter_modules(langgraph.__path__) if not m.name.startswith("_")
    }
    public |= {"checkpoint", "store", "cache"} & set(dir_names(langgraph.__path__))
    assert public <= mirrors, sorted(public - mirrors)


def langgraph_fixed_path() -> list[str]:
    import langgraph_fixed

    return list(langgraph_fixed.__path__)


def dir_names(paths: list[str]) -> list[str]:
    """Sub-directories of a namespace package's paths (namespace sub-packages included)."""
    return [p.name for path in paths for p in Path(path).iterdir() if p.is_dir()]


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
