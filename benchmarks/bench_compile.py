"""What the fixes cost when graphs, agents and chain drawings are built per request.

The cases, each built afresh at every "request":

graphs of N nodes (``--sizes``, default 5, 20 and 100)
    a ``StateGraph`` of N ``RunnableLambda`` nodes chained
    ``START -> n0 -> n1 -> ... -> END`` and compiled (compiling reads
    ``RunnableLambda.deps``, which calls ``get_function_nonlocals`` once per
    node), in two scenarios:

    A. per-request closures: every build makes fresh closures around a fresh
       payload, as a graph built per web request does; upstream's lru cache
       misses on every node and pins the last 256 closures.
    B. shared functions: every build wraps the same module-level functions, so
       upstream's lru cache hits on every node.
an agent
    ``langgraph.prebuilt.create_react_agent`` with 10 tools (``StructuredTool``
    over closures), tools made per request or shared (skipped where
    ``langgraph.prebuilt`` has no ``create_react_agent``);
a chain drawing
    ``chain.get_graph()`` on ``RunnableLambda(f0) | ... | RunnableLambda(f9)``,
    closures made per request or shared functions.

Each case is measured in three modes:

upstream
    the libraries as shipped (``get_function_nonlocals``'s lru cache emptied first);
fix
    inside ``langgraph_fixed.patched()``: every fix this install needs;
floor
    ``get_function_nonlocals`` replaced by a function returning ``[]``: what the
    case costs with no analysis at all (the other caches as shipped).

The modes are interleaved in rounds, in rotating order, to cancel drift. In
each mode one untimed build warms the caches, then a batch of builds is timed;
the figure reported is the median over rounds of the per-build time. A batch
is ``--batch`` builds of the ``--nodes`` graph (scenario A), and for every
other case as many builds as take about as long (at least one), so that each
case weighs the same in a round.

It also times one ``get_function_nonlocals`` call, one cache hit of each other
fix (model factories, tools' JSON schemas) against upstream's ``lru_cache`` hit
and an empty Python function called the same way, and the cost of ``apply()``
at start-up: a fresh interpreter that imports LangGraph, then
``langgraph_fixed``, then calls ``apply()``, against the same without
``apply()`` and without importing ``langgraph_fixed``.

No timing is asserted anywhere: this script only measures.

Run from the repository root::

    python benchmarks/bench_compile.py [--rounds 40] [--batch 20] [--sizes 5,20,100] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableLambda
from langchain_core.runnables import base as lc_base
from langchain_core.runnables import utils as lc_utils
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

try:
    import langgraph_fixed
except ImportError:  # run from a checkout without PYTHONPATH: use the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import langgraph_fixed

from langgraph_fixed._bindings import rebind
from langgraph_fixed.diagnostics.scenarios import Payload
from langgraph_fixed.fixes.nonlocals import is_replacement


def _swap(old: Any, new: Any) -> None:
    """Rebind every loaded module global that is ``old`` to ``new`` (the engine's pass)."""
    rebind({id(old): (old, new)})


# No global of this module may hold any of the functions the modes swap in and
# out: apply() and _swap() replace them by identity in every loaded module,
# this one included. Upstream's is always read as ``lc_utils.get_function_nonlocals``
# and the floor is made afresh, as a local, each time its mode is entered.

ROOT = Path(__file__).resolve().parent.parent
MODES = ("upstream", "fix", "floor")
SCENARIO_A = "A per-request closures"
SCENARIO_B = "B shared functions"
AGENT_TOOLS = 10
CHAIN_STEPS = 10
# What the graphs of each kind should show (printed beside the figures, never asserted).
TARGETS = {"per-request": ("fix/floor", 1.05), "shared": ("fix/upstream", 1.02)}
# How much slower than upstream's lru hit a hit of the other fixes should be, us.
HIT_TARGET_US = 0.2


class State(TypedDict):
    n: int


# --- scenario A: closures made afresh for every build -------------------------


def make_node(i: int, payload: Payload) -> Callable[[dict[str, Any]], dict[str, int]]:
    def node(state: dict[str, Any]) -> dict[str, int]:
        return {"n": state["n"] + i + len(payload.data)}

    return node


# --- scenario B: module-level functions defined once --------------------------

SHARED_PAYLOAD = Payload()


def _shared(i: int) -> Callable[[dict[str, Any]], dict[str, int]]:
    def shared(state: dict[str, Any]) -> dict[str, int]:
        return {"n": state["n"] + i + len(SHARED_PAYLOAD.data)}

    return shared


# Made once and reused by every build, as module-level node functions are
# (extended by ensure_shared() to the largest graph measured).
SHARED_FUNCTIONS: list[Callable[[dict[str, Any]], dict[str, int]]] = [_shared(i) for i in range(20)]


def ensure_shared(count: int) -> None:
    while len(SHARED_FUNCTIONS) < count:
        SHARED_FUNCTIONS.append(_shared(len(SHARED_FUNCTIONS)))


# --- building graphs ----------------------------------------------------------


def compile_chain(nodes: Sequence[Any]) -> Any:
    """``START -> n0 -> ... -> END``, compiled."""
    graph = StateGraph(State)
    previous = START
    for i, node in enumerate(nodes):
        name = f"n{i}"
        graph.add_node(name, node)
        graph.add_edge(previous, name)
        previous = name
    graph.add_edge(previous, END)
    return graph.compile()


def build_per_request(nodes: int) -> Any:
    payload = Payload()
    return compile_chain([RunnableLambda(make_node(i, payload)) for i in range(nodes)])


def build_shared(nodes: int) -> Any:
    count = len(SHARED_FUNCTIONS)
    return compile_chain([RunnableLambda(SHARED_FUNCTIONS[i % count]) for i in range(nodes)])


BUILDERS: dict[str, Callable[[int], Any]] = {
    SCENARIO_A: build_per_request,
    SCENARIO_B: build_shared,
}


# --- an agent -----------------------------------------------------------------


def _make_tool(i: int, payload: Payload) -> Any:
    from langchain_core.tools import StructuredTool

    def lookup(query: str, limit: int = 3) -> str:
        """Look something up in the index."""
        return f"{i}: {query} ({limit} of {len(payload.data)} bytes)"

    return StructuredTool.from_function(
        lookup, name=f"lookup_{i}", description=f"Look something up in index {i}."
    )


def _fake_model() -> Any:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    class FakeToolCallingModel(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

    return FakeToolCallingModel(messages=iter(()))


def _create_react_agent() -> Callable[..., Any] | None:
    try:
        from langgraph.prebuilt import create_react_agent
    except ImportError:
        return None
    return create_react_agent


_SHARED_TOOLS: list[Any] = []


def build_agent_per_request() -> Any:
    create_react_agent = _create_react_agent()
    assert create_react_agent is not None
    payload = Payload()
    tools = [_make_tool(i, payload) for i in range(AGENT_TOOLS)]
    return create_react_agent(_fake_model(), tools)


def build_agent_shared() -> Any:
    create_react_agent = _create_react_agent()
    assert create_react_agent is not None
    if not _SHARED_TOOLS:
        _SHARED_TOOLS.extend(_make_tool(i, SHARED_PAYLOAD) for i in range(AGENT_TOOLS))
    return create_react_agent(_fake_model(), list(_SHARED_TOOLS))


# --- drawing a chain ----------------------------------------------------------


def _draw(functions: Sequence[Callable[..., Any]]) -> Any:
    chain: Any = RunnableLambda(functions[0])
    for function in functions[1:]:
        chain = chain | RunnableLambda(function)
    return chain.get_graph()


def draw_per_request() -> Any:
    payload = Payload()
    return _draw([make_node(i, payload) for i in range(CHAIN_STEPS)])


def draw_shared() -> Any:
    return _draw(SHARED_FUNCTIONS[:CHAIN_STEPS])


# --- the cases ----------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    key: str
    kind: str  # "per-request" or "shared"
    build: Callable[[], Any]
    size: int | None = None
    scenario: str | None = None


def _graph_case(size: int, scenario: str) -> Case:
    builder = BUILDERS[scenario]
    kind = "per-request" if scenario == SCENARIO_A else "shared"
    return Case(f"{size} nodes, {scenario}", kind, lambda: builder(size), size, scenario)


def make_cases(sizes: Sequence[int]) -> tuple[list[Case], list[str]]:
    """Every case to measure, and the cases this install cannot run (with why)."""
    cases = [_graph_case(size, scenario) for size in sizes for scenario in BUILDERS]
    skipped = []
    if _create_react_agent() is not None:
        cases += [
            Case(
                f"create_react_agent, {AGENT_TOOLS} tools made per request",
                "per-request",
                build_agent_per_request,
            ),
            Case(f"create_react_agent, {AGENT_TOOLS} shared tools", "shared", build_agent_shared),
        ]
    else:
        skipped.append("create_react_agent: not in langgraph.prebuilt on this install")
    cases += [
        Case(
            f"get_graph(), chain of {CHAIN_STEPS} closures made per request",
            "per-request",
            draw_per_request,
        ),
        Case(f"get_graph(), chain of {CHAIN_STEPS} shared functions", "shared", draw_shared),
    ]
    return cases, skipped


# --- the modes ----------------------------------------------------------------


def make_floor() -> Callable[[Callable[..., Any]], list[Any]]:
    """A fresh stand-in for ``get_function_nonlocals`` that does no analysis at all.

    Fresh each time, and never stored in a module global: restoring with
    ``_swap(floor, upstream)`` rebinds every module global that *is* the
    floor, and a module-level floor would be replaced by upstream's function.
    """

    def get_function_nonlocals(func: Callable[..., Any]) -> list[Any]:
        return []

    get_function_nonlocals.__qualname__ = "floor"
    return get_function_nonlocals


@dataclass
class ModeCheck:
    """Whether each mode had the function we meant bound where ``deps`` reads it."""

    bound: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: every fix's state inside ``patched()`` (the fix mode), as "name: state"
    fixes: list[str] = field(default_factory=list)

    def note(self, mode: str, ok: bool, what: str) -> None:
        self.bound.setdefault(mode, what)
        problem = f"{mode}: {what}"
        if not ok and problem not in self.problems:
            self.problems.append(problem)


def _describe(obj: Any) -> str:
    if is_replacement(obj):
        return "langgraph_fixed get_function_nonlocals"
    if getattr(obj, "__qualname__", None) == "floor":
        return "floor (returns [])"
    if hasattr(obj, "cache_info"):
        return f"upstream lru_cache (maxsize {obj.cache_parameters().get('maxsize')})"
    return repr(obj)


def _bound_for_deps() -> Any:
    """The object ``RunnableLambda.deps`` calls: langchain-core's base module's name."""
    return vars(lc_base)["get_function_nonlocals"]


@contextmanager
def mode(name: str, check: ModeCheck) -> Iterator[None]:
    """Bind the ``get_function_nonlocals`` of mode ``name`` for the block."""
    if name == "upstream":
        current = lc_utils.get_function_nonlocals
        if hasattr(current, "cache_clear"):
            current.cache_clear()
        bound = _bound_for_deps()
        upstream = bound is current and hasattr(bound, "cache_info") and not is_replacement(bound)
        check.note(name, upstream, _describe(bound))
        yield
    elif name == "fix":
        with langgraph_fixed.patched() as report:
            if not check.fixes:
                check.fixes = [f"{s.fix}: {s.state.value}" for s in report]
            bound = _bound_for_deps()
            check.note(name, is_replacement(bound), _describe(bound))
            yield
    elif name == "floor":
        current = lc_utils.get_function_nonlocals
        floor = make_floor()
        _swap(current, floor)
        try:
            bound = _bound_for_deps()
            check.note(name, bound is floor and current is not floor, _describe(bound))
            yield
        finally:
            _swap(floor, current)
    else:
        raise ValueError(f"unknown mode {name!r}")


# --- measuring ----------------------------------------------------------------


def time_batch(build: Callable[[], Any], batch: int) -> float:
    """Seconds per build over one batch (one untimed build first, gc on during)."""
    build()
    gc.collect()
    start = time.perf_counter()
    for _ in range(batch):
        build()
    return (time.perf_counter() - start) / batch


def _one_build_s(build: Callable[[], Any]) -> float:
    build()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        build()
        times.append(time.perf_counter() - start)
    return min(times)


def batch_sizes(
    cases: Sequence[Case], reference: Case, batch: int, check: ModeCheck
) -> dict[str, int]:
    """Builds per timed batch: ``batch`` for ``reference``, the same time's worth for the others.

    Times one build of each case in the floor mode (best of three).
    """
    with mode("floor", check):
        seconds = {case.key: _one_build_s(case.build) for case in cases}
    gc.collect()
    budget = batch * seconds[reference.key]
    return {key: max(1, round(budget / t)) if t > 0 else batch for key, t in seconds.items()}


def measure_cases(
    rounds: int, cases: Sequence[Case], batches: dict[str, int], check: ModeCheck
) -> dict[str, dict[str, list[float]]]:
    """Per-build milliseconds, per case, per mode, one figure per round."""
    samples: dict[str, dict[str, list[float]]] = {c.key: {m: [] for m in MODES} for c in cases}
    for r in range(rounds):
        shift = r % len(MODES)
        order = MODES[shift:] + MODES[:shift]
        for case in cases:
            for name in order:
                with mode(name, check):
                    seconds = time_batch(case.build, batches[case.key])
                samples[case.key][name].append(seconds * 1e3)
    gc.collect()
    return samples


def _per_call_us(fn: Callable[[Any], Any], inputs: Sequence[Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    for item in inputs:
        fn(item)
    return (time.perf_counter() - start) / len(inputs) * 1e6


def measure_micro(repeats: int, calls: int, check: ModeCheck) -> dict[str, dict[str, list[float]]]:
    """One ``get_function_nonlocals`` call, in microseconds, upstream against the fix.

    ``fresh closure``: a closure of ``make_node`` never seen before (the ``def``
    itself already analysed): an lru miss upstream. ``same object``: the same
    closure again: an lru hit upstream.
    """
    payload = Payload()
    samples: dict[str, dict[str, list[float]]] = {
        "fresh closure": {"upstream": [], "fix": []},
        "same object": {"upstream": [], "fix": []},
    }
    for r in range(repeats):
        order = ("upstream", "fix") if r % 2 == 0 else ("fix", "upstream")
        for name in order:
            with mode(name, check):
                fn = lc_utils.get_function_nonlocals
                fn(make_node(-1, payload))  # the def analysed, its source in linecache
                fresh = [make_node(i, payload) for i in range(calls)]
                samples["fresh closure"][name].append(_per_call_us(fn, fresh))
                del fresh
                same = make_node(0, payload)
                fn(same)
                samples["same object"][name].append(_per_call_us(fn, [same] * calls))
                del same
    lc_utils.get_function_nonlocals.cache_clear()
    gc.collect()
    return samples


def hit_calls() -> dict[str, tuple[str, str, Callable[[Callable[..., Any]], Any]]]:
    """The other fixes' hot calls, made as their callers in the libraries make
    them: (module, attribute, caller), where the installed versions have them."""
    from pydantic import BaseModel

    class Args(BaseModel):
        x: int

    fields: dict[str, Any] = {"a": (int, None), "b": (str, "x")}
    root: dict[str, Any] = {"type_": int}
    core, lg = "langchain_core.utils.pydantic", "langgraph._internal._pydantic"
    calls: dict[str, tuple[str, str, Callable[[Callable[..., Any]], Any]]] = {
        # langchain-core's and langgraph's create_model
        "core _create_model_cached": (core, "_create_model_cached", lambda f: f("Hit", **fields)),
        "core _create_root_model_cached": (
            core,
            "_create_root_model_cached",
            lambda f: f("HitRoot", module_name=None, **root),
        ),
        "langgraph _create_model_cached": (
            lg,
            "_create_model_cached",
            lambda f: f("Hit", **fields),
        ),
        "langgraph _create_root_model_cached": (
            lg,
            "_create_root_model_cached",
            lambda f: f("HitRoot", **root),
        ),
        # langchain-core's _serialize_args_schema
        "core _model_json_schema": (
            "langchain_core.tools.structured",
            "_model_json_schema",
            lambda f: f(Args, getattr(Args, "__pydantic_validator__", None)),
        ),
    }
    found = {}
    for name, (module, attribute, caller) in calls.items():
        try:
            loaded = importlib.import_module(module)
        except ImportError:
            continue
        if hasattr(getattr(loaded, attribute, None), "cache_info"):
            found[name] = (module, attribute, caller)
    return found


def _empty(*args: Any, **kwargs: Any) -> None:
    """An empty Python function: the least a replacement written in Python costs."""


def _hit_us(
    caller: Callable[[Callable[..., Any]], Any], fn: Callable[..., Any], calls: int
) -> float:
    caller(fn)  # the entry made: every timed call is a hit
    gc.collect()
    start = time.perf_counter()
    for _ in range(calls):
        caller(fn)
    return (time.perf_counter() - start) / calls * 1e6


def _forwarder(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A Python function passing its call on to ``fn``: the least a replacement in
    front of a C ``lru_cache`` costs (made afresh, never a module global: the
    rebind pass of ``patched()`` would rebind a global holding upstream's)."""

    def forward(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return forward


def measure_hits(repeats: int, calls: int) -> dict[str, dict[str, list[float]]]:
    """One cache hit of each other fix, in microseconds: upstream's ``lru_cache``
    hit, the fix's hit, an empty Python function called the same way, and a
    Python function that passes the call on to upstream's (a hit too)."""
    targets = hit_calls()
    samples: dict[str, dict[str, list[float]]] = {
        name: {"upstream": [], "fix": [], "empty function": [], "forwarder": []} for name in targets
    }
    for r in range(repeats):
        order = ("upstream", "fix") if r % 2 == 0 else ("fix", "upstream")
        for name in order:
            with contextlib.ExitStack() as stack:
                if name == "fix":
                    stack.enter_context(langgraph_fixed.patched())
                for case, (module, attribute, caller) in targets.items():
                    fn = getattr(sys.modules[module], attribute)
                    samples[case][name].append(_hit_us(caller, fn, calls))
        for case, (module, attribute, caller) in targets.items():
            samples[case]["empty function"].append(_hit_us(caller, _empty, calls))
            upstream = getattr(sys.modules[module], attribute)
            samples[case]["forwarder"].append(_hit_us(caller, _forwarder(upstream), calls))
    return samples


# --- apply() at start-up -----------------------------------------------------

STARTUP_CODE = """
import json, sys, time
t0 = time.perf_counter()
import langgraph.graph
import langchain_core.runnables
try:
    import langgraph.prebuilt
except ImportError:
    pass
t1 = time.perf_counter()
before = set(sys.modules)
level = int(sys.argv[1])
if level >= 1:
    import langgraph_fixed
t2 = time.perf_counter()
if level >= 2:
    langgraph_fixed.apply()
t3 = time.perf_counter()
new = sorted(set(sys.modules) - before)
print(json.dumps({
    "import_langgraph_ms": (t1 - t0) * 1e3,
    "import_langgraph_fixed_ms": (t2 - t1) * 1e3,
    "apply_ms": (t3 - t2) * 1e3,
    "modules_loaded": len(sys.modules),
    "imported": [m for m in new if not m.startswith("langgraph_fixed")],
}))
"""

#: what each fresh interpreter does, by the level passed to STARTUP_CODE
STARTUP_VARIANTS = {
    "import langgraph": 0,
    "+ import langgraph_fixed": 1,
    "+ langgraph_fixed.apply()": 2,
}


def _startup_environment() -> dict[str, str]:
    # bytecode written, as an installed package has it (the untimed first run writes it)
    dropped = ("LANGGRAPH_FIXED", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _run_startup(level: int) -> tuple[float, dict[str, Any]]:
    command = [sys.executable, "-c", STARTUP_CODE, str(level)]
    start = time.perf_counter()
    result = subprocess.run(
        command, cwd=ROOT, env=_startup_environment(), capture_output=True, text=True, timeout=300
    )
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"start-up run failed:\n{result.stderr}")
    inside: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return wall * 1e3, inside


def measure_startup(runs: int) -> dict[str, dict[str, list[float]]]:
    """Fresh interpreters, ``runs`` of each variant, interleaved in rotating order."""
    samples: dict[str, dict[str, list[float]]] = {
        name: {
            "wall_ms": [],
            "import_langgraph_ms": [],
            "import_langgraph_fixed_ms": [],
            "apply_ms": [],
            "modules_loaded": [],
            "imported": [],
        }
        for name in STARTUP_VARIANTS
    }
    names = list(STARTUP_VARIANTS)
    if runs > 1:
        _run_startup(0)  # untimed: files into the page cache, .pyc written
    for r in range(runs):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            wall, inside = _run_startup(STARTUP_VARIANTS[name])
            samples[name]["wall_ms"].append(wall)
            for key in ("import_langgraph_ms", "import_langgraph_fixed_ms", "apply_ms"):
                samples[name][key].append(inside[key])
            samples[name]["modules_loaded"].append(inside["modules_loaded"])
            samples[name]["imported"].extend(inside["imported"])
    return samples


# --- reporting ----------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        value = values[0] if values else float("nan")
        return value, value
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def environment() -> dict[str, Any]:
    versions = langgraph_fixed.installed_versions()
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "langgraph": versions.get("langgraph"),
        "langchain-core": versions.get("langchain-core"),
        "langgraph-fixed": langgraph_fixed.__version__,
        "processor": platform.processor(),
        "machine": platform.machine(),
        "system": platform.system(),
        "cpus": os.cpu_count(),
        "load_average": _load_average(),
    }


def _load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages: how busy the machine was (other jobs included)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


RATIOS = (("fix", "floor"), ("upstream", "floor"), ("fix", "upstream"))


def _paired(a: Sequence[float], b: Sequence[float]) -> float:
    """Median over rounds of the ratio within each round (the modes ran back to back)."""
    return _median([_ratio(x, y) for x, y in zip(a, b, strict=True)])


def _figures(by_mode: dict[str, list[float]]) -> dict[str, Any]:
    medians = {m: _median(v) for m, v in by_mode.items()}
    return {
        "median_ms": medians,
        "quartiles_ms": {m: list(_quartiles(v)) for m, v in by_mode.items()},
        "per_round_ms": by_mode,
        # ratio of the medians (what earlier versions reported)
        "ratios": {f"{a}/{b}": _ratio(medians[a], medians[b]) for a, b in RATIOS},
        # median of the per-round ratios: steadier on a loaded machine; the table shows these
        "paired_ratios": {f"{a}/{b}": _paired(by_mode[a], by_mode[b]) for a, b in RATIOS},
    }


def summarise(
    cases: Sequence[Case],
    batches: dict[str, int],
    nodes: int,
    case_samples: dict[str, dict[str, list[float]]],
    micro_samples: dict[str, dict[str, list[float]]],
    startup_samples: dict[str, dict[str, list[float]]] | None,
    hit_samples: dict[str, dict[str, list[float]]] | None = None,
) -> dict[str, Any]:
    case_figures: dict[str, Any] = {}
    compile_figures: dict[str, Any] = {}
    for case in cases:
        figures = _figures(case_samples[case.key])
        if case.size == nodes and case.scenario is not None:
            compile_figures[case.scenario] = dict(figures)  # the figures of earlier versions
        figures.update(kind=case.kind, size=case.size, builds_per_batch=batches[case.key])
        if case.size is not None:  # the targets are set for the graphs of N nodes
            ratio_name, limit = TARGETS[case.kind]
            value = figures["paired_ratios"][ratio_name]
            figures["target"] = {"ratio": ratio_name, "at_most": limit, "met": value <= limit}
        case_figures[case.key] = figures
    micro_figures: dict[str, Any] = {}
    for name, by_mode in micro_samples.items():
        medians = {m: _median(v) for m, v in by_mode.items()}
        micro_figures[name] = {
            "median_us": medians,
            "per_repeat_us": by_mode,
            "fix/upstream": _ratio(medians["fix"], medians["upstream"]),
        }
    document: dict[str, Any] = {
        "compile": compile_figures,
        "cases": case_figures,
        "get_function_nonlocals": micro_figures,
        "hits": {},
    }
    for name, by_mode in (hit_samples or {}).items():
        medians = {m: _median(v) for m, v in by_mode.items()}
        extra = round(medians["fix"] - medians["upstream"], 3)
        document["hits"][name] = {
            "median_us": medians,
            "per_repeat_us": by_mode,
            "fix-upstream_us": extra,
            "target": {"at_most_us": HIT_TARGET_US, "met": extra <= HIT_TARGET_US},
        }
    if startup_samples is not None:
        startup: dict[str, Any] = {
            name: {
                "median": {k: _median(v) for k, v in by_key.items() if k != "imported"},
                "runs": by_key,
            }
            for name, by_key in startup_samples.items()
        }
        walls = {name: fig["median"]["wall_ms"] for name, fig in startup.items()}
        names = list(STARTUP_VARIANTS)
        startup["differences_ms"] = {
            "import langgraph_fixed (wall)": walls[names[1]] - walls[names[0]],
            "apply() (wall)": walls[names[2]] - walls[names[1]],
            "import langgraph_fixed (in process)": startup[names[1]]["median"][
                "import_langgraph_fixed_ms"
            ],
            "apply() (in process)": startup[names[2]]["median"]["apply_ms"],
        }
        startup["wall_quartiles_ms"] = {
            name: list(_quartiles(startup_samples[name]["wall_ms"])) for name in names
        }
        # the criterion: import langgraph_fixed + apply(), langgraph already imported
        applied = startup_samples[names[2]]
        startup["import_and_apply_ms"] = {
            "min": min(
                a + b
                for a, b in zip(
                    applied["import_langgraph_fixed_ms"], applied["apply_ms"], strict=True
                )
            ),
            "median": _median(
                [
                    a + b
                    for a, b in zip(
                        applied["import_langgraph_fixed_ms"], applied["apply_ms"], strict=True
                    )
                ]
            ),
        }
        startup["imported_by_import_and_apply"] = sorted(set(applied["imported"]))
        document["startup"] = startup
    return document


def _target_cell(figures: dict[str, Any]) -> str:
    target = figures.get("target")
    if target is None:
        return "-"
    verdict = "met" if target["met"] else "MISSED"
    return f"{target['ratio']} <= {target['at_most']:.2f} {verdict}"


def format_report(
    env: dict[str, Any], settings: dict[str, Any], figures: dict[str, Any], check: ModeCheck
) -> str:
    lines = [
        f"Python {env['python']} ({env['implementation']})  "
        f"langgraph {env['langgraph']}  langchain-core {env['langchain-core']}  "
        f"langgraph-fixed {env['langgraph-fixed']}",
        f"platform.processor() {env['processor']!r}  platform.machine() {env['machine']!r}  "
        f"system {env['system']}  cpus {env['cpus']}  load average {env['load_average']} "
        f"at start, {env.get('load_average_end')} at end",
        f"{settings['rounds']} rounds; a batch is {settings['batch']} builds of the "
        f"{settings['nodes']}-node graph (A) or the same time's worth of any other case; "
        "ms: median per-build time over rounds; ratios: median over rounds of the ratio "
        "within the round",
        "",
    ]
    width = max([24, *(len(key) for key in figures["cases"])])
    header = (
        f"{'case':<{width}} {'builds':>6} {'upstream ms':>11} {'fix ms':>8} {'floor ms':>9} "
        f"{'fix/floor':>9} {'upstream/floor':>14} {'fix/upstream':>12}  target"
    )
    lines += [header, "-" * len(header)]
    for key, fig in figures["cases"].items():
        med, rat = fig["median_ms"], fig["paired_ratios"]
        lines.append(
            f"{key:<{width}} {fig['builds_per_batch']:>6} {med['upstream']:>11.3f} "
            f"{med['fix']:>8.3f} {med['floor']:>9.3f} {rat['fix/floor']:>9.3f} "
            f"{rat['upstream/floor']:>14.3f} {rat['fix/upstream']:>12.3f}  {_target_cell(fig)}"
        )
    for reason in settings.get("skipped", []):
        lines.append(f"skipped: {reason}")
    lines += ["", "spread: interquartile range of the per-round figures, ms"]
    for key, fig in figures["cases"].items():
        cells = "  ".join(f"{m} {lo:.3f}-{hi:.3f}" for m, (lo, hi) in fig["quartiles_ms"].items())
        lines.append(f"  {key:<{width}} {cells}")
    lines += [
        "",
        f"one get_function_nonlocals call, us (median of {settings['micro_repeats']} x "
        f"{settings['micro_calls']} calls)",
    ]
    header = f"{'input':<48} {'upstream us':>11} {'fix us':>8} {'fix/upstream':>12}"
    lines += [header, "-" * len(header)]
    labels = {
        "fresh closure": "fresh closure of an analysed def (upstream miss)",
        "same object": "same function object again (upstream hit)",
    }
    for case, fig in figures["get_function_nonlocals"].items():
        med = fig["median_us"]
        lines.append(
            f"{labels.get(case, case):<48} {med['upstream']:>11.2f} {med['fix']:>8.2f} "
            f"{fig['fix/upstream']:>12.2f}"
        )
    if figures["hits"]:
        lines += [
            "",
            f"one hit of each other fix's cache, us (median of {settings['micro_repeats']} x "
            f"{settings['micro_calls']} calls); empty function: an empty Python function "
            "called the same way, the least a replacement in Python costs; forwarder: a "
            "Python function passing the call on to upstream's, the least a replacement "
            "in front of a C lru_cache costs",
        ]
        header = (
            f"{'call':<32} {'upstream us':>11} {'fix us':>8} {'empty function us':>17} "
            f"{'forwarder us':>12} {'fix-upstream':>12}  target"
        )
        lines += [header, "-" * len(header)]
        for case, fig in figures["hits"].items():
            med, target = fig["median_us"], fig["target"]
            verdict = "met" if target["met"] else "MISSED"
            lines.append(
                f"{case:<32} {med['upstream']:>11.3f} {med['fix']:>8.3f} "
                f"{med['empty function']:>17.3f} {med['forwarder']:>12.3f} "
                f"{fig['fix-upstream_us']:>12.3f}  "
                f"<= {target['at_most_us']} {verdict}"
            )
    startup = figures.get("startup")
    if startup is not None:
        lines += [
            "",
            "start-up: fresh interpreters importing langgraph.graph and langgraph.prebuilt, "
            f"then ... (median of {settings['startup_runs']} runs each; in-process times "
            "by perf_counter inside the child)",
        ]
        header = (
            f"{'variant':<26} {'process wall ms':>15} {'wall IQR':>15} {'import langgraph':>16} "
            f"{'import langgraph_fixed':>22} {'apply()':>8} {'modules':>7}"
        )
        lines += [header, "-" * len(header)]
        for name, level in STARTUP_VARIANTS.items():
            med = startup[name]["median"]
            lo, hi = startup["wall_quartiles_ms"][name]
            fixed_cell = f"{med['import_langgraph_fixed_ms']:.1f}" if level >= 1 else "-"
            apply_cell = f"{med['apply_ms']:.1f}" if level >= 2 else "-"
            lines.append(
                f"{name:<26} {med['wall_ms']:>15.0f} {f'{lo:.0f}-{hi:.0f}':>15} "
                f"{med['import_langgraph_ms']:>16.1f} {fixed_cell:>22} {apply_cell:>8} "
                f"{med['modules_loaded']:>7.0f}"
            )
        diff = startup["differences_ms"]
        lines.append(
            f"apply() at start-up: {diff['apply() (in process)']:.1f} ms in process "
            f"(import langgraph_fixed: {diff['import langgraph_fixed (in process)']:.1f} ms); "
            "the process wall times vary by more than that from run to run"
        )
        both = startup["import_and_apply_ms"]
        imported = startup["imported_by_import_and_apply"]
        lines.append(
            f"import langgraph_fixed + apply(), langgraph and langchain-core imported: "
            f"min {both['min']:.1f} ms, median {both['median']:.1f} ms; modules it imported "
            f"besides its own: {', '.join(imported) or 'none'}"
        )
    lines += ["", "bound where RunnableLambda.deps reads it:"]
    lines += [f"  {m:<9} {what}" for m, what in check.bound.items()]
    if check.fixes:
        lines += ["fixes in the fix mode: " + ", ".join(check.fixes)]
    if check.problems:
        lines += ["", "WARNING: a mode did not bind what it should; its figures are not that mode:"]
        lines += [f"  {p}" for p in check.problems]
    return "\n".join(lines)


# --- command line -------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {value}")
    return value


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of sizes: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be at least 1: {text!r}")
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build-and-compile cost of the fixes: upstream, fix, floor."
    )
    parser.add_argument("--rounds", type=_positive, default=40, help="rounds (default 40)")
    parser.add_argument(
        "--batch",
        type=_positive,
        default=20,
        help="timed builds of the --nodes graph per mode per round; other cases get the "
        "same time's worth (default 20)",
    )
    parser.add_argument(
        "--nodes",
        type=_positive,
        default=20,
        help="the reference graph size, the one the JSON's 'compile' key holds; measured "
        "even if not in --sizes (default 20)",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=[5, 20, 100],
        help="graph sizes, comma-separated (default 5,20,100)",
    )
    parser.add_argument(
        "--micro-repeats",
        type=_positive,
        default=None,
        help="repeats of the single-call microbenchmark (default: rounds, at most 15)",
    )
    parser.add_argument(
        "--micro-calls",
        type=_positive,
        default=2000,
        help="calls per microbenchmark repeat (default 2000)",
    )
    parser.add_argument(
        "--startup-runs",
        type=_not_negative,
        default=None,
        help="fresh interpreters per start-up variant; 0 skips it (default: rounds, at most 7)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.micro_repeats is None:
        args.micro_repeats = min(args.rounds, 15)
    if args.startup_runs is None:
        args.startup_runs = min(args.rounds, 7)
    if langgraph_fixed.status().get("get_function_nonlocals").active:
        print(
            "langgraph_fixed is already applied in this process; the upstream mode "
            "needs upstream's function. Run without applying it.",
            file=sys.stderr,
        )
        return 2
    # create_react_agent is deprecated in langgraph 1.x; the warning says nothing here.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    sizes = sorted({*args.sizes, args.nodes})
    ensure_shared(max([*sizes, CHAIN_STEPS]))
    cases, skipped = make_cases(sizes)
    reference = next(c for c in cases if c.size == args.nodes and c.scenario == SCENARIO_A)
    settings: dict[str, Any] = {
        "rounds": args.rounds,
        "batch": args.batch,
        "nodes": args.nodes,
        "sizes": sizes,
        "micro_repeats": args.micro_repeats,
        "micro_calls": args.micro_calls,
        "startup_runs": args.startup_runs,
        "skipped": skipped,
    }
    env = environment()
    check = ModeCheck()
    started = time.perf_counter()
    batches = batch_sizes(cases, reference, args.batch, check)
    batches[reference.key] = args.batch
    case_samples = measure_cases(args.rounds, cases, batches, check)
    micro_samples = measure_micro(args.micro_repeats, args.micro_calls, check)
    hit_samples = measure_hits(args.micro_repeats, args.micro_calls)
    startup_samples = measure_startup(args.startup_runs) if args.startup_runs else None
    elapsed = time.perf_counter() - started
    env["load_average_end"] = _load_average()
    figures = summarise(
        cases, batches, args.nodes, case_samples, micro_samples, startup_samples, hit_samples
    )
    print(format_report(env, settings, figures, check))
    print(f"\n(measured in {elapsed:.1f} s)")
    if args.json is not None:
        document = {
            "environment": env,
            "settings": settings,
            "modes": {m: check.bound.get(m) for m in MODES},
            "mode_problems": check.problems,
            "fixes_in_fix_mode": check.fixes,
            "elapsed_s": elapsed,
            **figures,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
