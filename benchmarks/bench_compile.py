"""What the ``get_function_nonlocals`` fix costs when a graph is built and compiled.

Two scenarios, each a ``StateGraph`` of N ``RunnableLambda`` nodes chained
``START -> n0 -> n1 -> ... -> END`` and compiled (compiling reads
``RunnableLambda.deps``, which calls ``get_function_nonlocals`` once per node):

A. per-request closures: every build makes fresh closures around a fresh
   payload, as a graph built per web request does; upstream's lru cache
   misses on every node and pins the last 256 closures.
B. shared functions: every build wraps the same module-level functions, so
   upstream's lru cache hits on every node.

Each scenario is measured in three modes:

upstream
    langchain-core's function as shipped (its lru cache emptied first);
fix
    inside ``langgraph_fixed.patched()``;
floor
    the analysis replaced by a function returning ``[]``: what compiling
    costs with no analysis at all.

The modes are interleaved in rounds, in rotating order, to cancel drift. In
each mode one untimed build warms the caches, then a batch of builds is timed;
the figure reported is the median over rounds of the per-build time. No
timing is asserted anywhere: this script only measures.

Run from the repository root::

    python benchmarks/bench_compile.py [--rounds N] [--nodes 20] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
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

from langgraph_fixed._core import _swap
from langgraph_fixed.fixes.nonlocals import FixedGetFunctionNonlocals
from langgraph_fixed.selfcheck import Payload

# No global of this module may hold any of the functions the modes swap in and
# out: apply() and _swap() replace them by identity in every loaded module,
# this one included. Upstream's is always read as ``lc_utils.get_function_nonlocals``
# and the floor is made afresh, as a local, each time its mode is entered.

MODES = ("upstream", "fix", "floor")
SCENARIO_A = "A per-request closures"
SCENARIO_B = "B shared functions"


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


# Made once at import and reused by every build, as module-level node functions are.
SHARED_FUNCTIONS = tuple(_shared(i) for i in range(20))


# --- building -----------------------------------------------------------------


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

    def note(self, mode: str, ok: bool, what: str) -> None:
        self.bound.setdefault(mode, what)
        problem = f"{mode}: {what}"
        if not ok and problem not in self.problems:
            self.problems.append(problem)


def _describe(obj: Any) -> str:
    if isinstance(obj, FixedGetFunctionNonlocals):
        return "langgraph_fixed FixedGetFunctionNonlocals"
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
        upstream = (
            bound is current
            and hasattr(bound, "cache_info")
            and not isinstance(bound, FixedGetFunctionNonlocals)
        )
        check.note(name, upstream, _describe(bound))
        yield
    elif name == "fix":
        with langgraph_fixed.patched():
            bound = _bound_for_deps()
            check.note(name, isinstance(bound, FixedGetFunctionNonlocals), _describe(bound))
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


def time_batch(build: Callable[[int], Any], nodes: int, batch: int) -> float:
    """Seconds per build over one batch (one untimed build first, gc on during)."""
    build(nodes)
    gc.collect()
    start = time.perf_counter()
    for _ in range(batch):
        build(nodes)
    return (time.perf_counter() - start) / batch


def measure_compile(
    rounds: int, batch: int, nodes: int, check: ModeCheck
) -> dict[str, dict[str, list[float]]]:
    """Per-build milliseconds, per scenario, per mode, one figure per round."""
    samples: dict[str, dict[str, list[float]]] = {s: {m: [] for m in MODES} for s in BUILDERS}
    for r in range(rounds):
        shift = r % len(MODES)
        order = MODES[shift:] + MODES[:shift]
        for scenario, build in BUILDERS.items():
            for name in order:
                with mode(name, check):
                    seconds = time_batch(build, nodes, batch)
                samples[scenario][name].append(seconds * 1e3)
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
    }


def summarise(
    compile_samples: dict[str, dict[str, list[float]]],
    micro_samples: dict[str, dict[str, list[float]]],
) -> dict[str, Any]:
    compile_figures: dict[str, Any] = {}
    for scenario, by_mode in compile_samples.items():
        medians = {m: _median(v) for m, v in by_mode.items()}
        compile_figures[scenario] = {
            "median_ms": medians,
            "quartiles_ms": {m: list(_quartiles(v)) for m, v in by_mode.items()},
            "per_round_ms": by_mode,
            "ratios": {
                "fix/floor": _ratio(medians["fix"], medians["floor"]),
                "upstream/floor": _ratio(medians["upstream"], medians["floor"]),
                "fix/upstream": _ratio(medians["fix"], medians["upstream"]),
            },
        }
    micro_figures: dict[str, Any] = {}
    for case, by_mode in micro_samples.items():
        medians = {m: _median(v) for m, v in by_mode.items()}
        micro_figures[case] = {
            "median_us": medians,
            "per_repeat_us": by_mode,
            "fix/upstream": _ratio(medians["fix"], medians["upstream"]),
        }
    return {"compile": compile_figures, "get_function_nonlocals": micro_figures}


def format_report(
    env: dict[str, Any], settings: dict[str, Any], figures: dict[str, Any], check: ModeCheck
) -> str:
    lines = [
        f"Python {env['python']} ({env['implementation']})  "
        f"langgraph {env['langgraph']}  langchain-core {env['langchain-core']}  "
        f"langgraph-fixed {env['langgraph-fixed']}",
        f"platform.processor() {env['processor']!r}  platform.machine() {env['machine']!r}  "
        f"system {env['system']}",
        f"{settings['nodes']} nodes per graph, {settings['rounds']} rounds x "
        f"{settings['batch']} builds per mode, median per-build time over rounds",
        "",
    ]
    header = (
        f"{'scenario':<24} {'upstream ms':>11} {'fix ms':>8} {'floor ms':>9} "
        f"{'fix/floor':>9} {'upstream/floor':>14} {'fix/upstream':>12}"
    )
    lines += [header, "-" * len(header)]
    for scenario, fig in figures["compile"].items():
        med, rat = fig["median_ms"], fig["ratios"]
        lines.append(
            f"{scenario:<24} {med['upstream']:>11.3f} {med['fix']:>8.3f} {med['floor']:>9.3f} "
            f"{rat['fix/floor']:>9.3f} {rat['upstream/floor']:>14.3f} {rat['fix/upstream']:>12.3f}"
        )
    lines += ["", "spread: interquartile range of the per-round figures, ms"]
    for scenario, fig in figures["compile"].items():
        cells = "  ".join(f"{m} {lo:.3f}-{hi:.3f}" for m, (lo, hi) in fig["quartiles_ms"].items())
        lines.append(f"  {scenario:<24} {cells}")
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
    lines += ["", "bound where RunnableLambda.deps reads it:"]
    lines += [f"  {m:<9} {what}" for m, what in check.bound.items()]
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


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build-and-compile cost of get_function_nonlocals: upstream, fix, floor."
    )
    parser.add_argument("--rounds", type=_positive, default=40, help="rounds (default 40)")
    parser.add_argument(
        "--batch", type=_positive, default=20, help="timed builds per mode per round (default 20)"
    )
    parser.add_argument("--nodes", type=_positive, default=20, help="nodes per graph (default 20)")
    parser.add_argument(
        "--micro-repeats",
        type=_positive,
        default=None,
        help="repeats of the single-call microbenchmark (default: rounds, at most 15)",
    )
    parser.add_argument(
        "--micro-calls",
        type=_positive,
        default=500,
        help="calls per microbenchmark repeat (default 500)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.micro_repeats is None:
        args.micro_repeats = min(args.rounds, 15)
    if langgraph_fixed.status().get("get_function_nonlocals").active:
        print(
            "langgraph_fixed is already applied in this process; the upstream mode "
            "needs upstream's function. Run without applying it.",
            file=sys.stderr,
        )
        return 2
    settings = {
        "rounds": args.rounds,
        "batch": args.batch,
        "nodes": args.nodes,
        "micro_repeats": args.micro_repeats,
        "micro_calls": args.micro_calls,
    }
    env = environment()
    check = ModeCheck()
    started = time.perf_counter()
    compile_samples = measure_compile(args.rounds, args.batch, args.nodes, check)
    micro_samples = measure_micro(args.micro_repeats, args.micro_calls, check)
    elapsed = time.perf_counter() - started
    figures = summarise(compile_samples, micro_samples)
    print(format_report(env, settings, figures, check))
    print(f"\n(measured in {elapsed:.1f} s)")
    if args.json is not None:
        document = {
            "environment": env,
            "settings": settings,
            "modes": {m: check.bound.get(m) for m in MODES},
            "mode_problems": check.problems,
            "elapsed_s": elapsed,
            **figures,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
