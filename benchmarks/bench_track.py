"""What ``langgraph_fixed.diagnostics.leaks.track()`` costs the code running inside it.

Each kind of object is created ``--n`` times per batch in three modes,
measured side by side in one run:

outside
    no ``track()`` block open (the classes as shipped);
track()
    inside ``track()`` with the default types (tools, retrievers, compiled
    graphs, runnables): every ``__init__`` of those hierarchies is wrapped;
track(context)
    the same with ``scope="context"`` (one context-variable read more).

The kinds:

RunnableLambda
    ``RunnableLambda(func)``, a plain (non-pydantic) runnable;
StructuredTool
    ``StructuredTool(name=..., func=..., args_schema=...)``, a pydantic tool;
BaseRetriever subclass
    a pydantic retriever holding an index;
minimal Runnable
    a ``Runnable`` subclass whose ``__init__`` does nothing: the tracker's
    absolute cost per object, with nothing to hide it;
graph per request
    a request as users write it: a retriever, a ``RunnableLambda`` node over
    a closure, a ``StateGraph`` built, compiled and invoked (the figure is per
    request, about 20 tracked objects each).

The modes are interleaved in rounds, in rotating order, and the figure is the
median over rounds of the per-object time; ratios are against ``outside`` in
the same run. Entering and leaving a ``track()`` block (wrapping and restoring
every ``__init__``) and ``Tracker.alive()`` (a full ``gc.collect()``) are
timed too. Nothing is asserted.

Run from the repository root::

    python benchmarks/bench_track.py [--n 2000] [--rounds 15] [--json PATH]
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
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.tools import StructuredTool
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel
from typing_extensions import TypedDict

try:
    import langgraph_fixed
except ImportError:  # run from a checkout without PYTHONPATH: use the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import langgraph_fixed

from langgraph_fixed.diagnostics.leaks import track

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "track.json"
MODES = ("outside", "track()", "track(context)")


class LookupArgs(BaseModel):
    query: str


def lookup(query: str) -> str:
    return query


def step(x: int) -> int:
    return x + 1


class IndexRetriever(BaseRetriever):
    index: Any = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return []


class MinimalRunnable(Runnable[int, int]):
    def __init__(self) -> None:
        pass

    def invoke(self, input: int, config: RunnableConfig | None = None, **kwargs: Any) -> int:
        return input


INDEX = bytearray(16)


class State(TypedDict):
    query: str
    docs: list[Document]


def graph_per_request() -> Any:
    retriever = IndexRetriever(index=INDEX)

    def search(state: State) -> dict[str, Any]:
        return {"docs": retriever.invoke(state["query"])}

    graph = StateGraph(State)
    graph.add_node("search", RunnableLambda(search))
    graph.add_edge(START, "search")
    graph.add_edge("search", END)
    return graph.compile().invoke({"query": "q"})


KINDS: dict[str, Callable[[], Any]] = {
    "RunnableLambda": lambda: RunnableLambda(step),
    "StructuredTool": lambda: StructuredTool(
        name="lookup", description="Look it up.", func=lookup, args_schema=LookupArgs
    ),
    "BaseRetriever subclass": lambda: IndexRetriever(index=INDEX),
    "minimal Runnable": MinimalRunnable,
    "graph per request": graph_per_request,
}
#: kinds that are slow enough to need fewer creations per batch
BATCH_DIVISOR = {"graph per request": 20}


def block(mode: str) -> AbstractContextManager[Any]:
    if mode == "outside":
        return nullcontext()
    if mode == "track()":
        return track()
    return track(scope="context")


def time_batch(make: Callable[[], Any], n: int, mode: str) -> float:
    """Seconds per object for ``n`` creations in ``mode`` (the block's entry not timed)."""
    made: list[Any] = []
    with block(mode):
        start = time.perf_counter()
        for _ in range(n):
            made.append(make())
        elapsed = time.perf_counter() - start
    made.clear()
    return elapsed / n


def rotations(rounds: int) -> Iterator[tuple[str, ...]]:
    for r in range(rounds):
        k = r % len(MODES)
        yield MODES[k:] + MODES[:k]


def measure_creation(n: int, rounds: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for kind, make in KINDS.items():
        count = max(1, n // BATCH_DIVISOR.get(kind, 1))
        for mode in MODES:  # warm-up: imports, pydantic schemas, caches
            time_batch(make, max(1, count // 10), mode)
        per_round: dict[str, list[float]] = {mode: [] for mode in MODES}
        for order in rotations(rounds):
            gc.collect()
            for mode in order:
                per_round[mode].append(time_batch(make, count, mode))
        median_us = {mode: statistics.median(per_round[mode]) * 1e6 for mode in MODES}
        paired = {
            mode: statistics.median(
                inside / outside
                for inside, outside in zip(per_round[mode], per_round["outside"], strict=True)
            )
            for mode in MODES[1:]
        }
        results[kind] = {
            "per_batch": count,
            "median_us": median_us,
            "ratio": {mode: median_us[mode] / median_us["outside"] for mode in MODES[1:]},
            "paired_ratio": paired,
            "overhead_ns": {
                mode: (median_us[mode] - median_us["outside"]) * 1e3 for mode in MODES[1:]
            },
            "per_round_us": {mode: [t * 1e6 for t in per_round[mode]] for mode in MODES},
        }
    return results


def measure_block(rounds: int) -> dict[str, float]:
    """Entering and leaving ``track()``, and ``alive()``, in milliseconds (medians)."""
    enter_exit: list[float] = []
    alive: list[float] = []
    for _ in range(max(3, rounds)):
        start = time.perf_counter()
        with track() as tracker:
            pass
        enter_exit.append(time.perf_counter() - start)
        start = time.perf_counter()
        tracker.alive()
        alive.append(time.perf_counter() - start)
    return {
        "enter_exit_ms": statistics.median(enter_exit) * 1e3,
        "alive_ms": statistics.median(alive) * 1e3,
        "heap_objects": len(gc.get_objects()),
    }


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform()}
    env.update(langgraph_fixed.installed_versions())
    return env


def markdown(figures: dict[str, Any]) -> str:
    settings = figures["settings"]
    lines = [
        f"Tracker overhead per object created ({settings['n']} per batch, "
        f"{settings['n'] // BATCH_DIVISOR['graph per request'] or 1} requests for the graph; "
        f"median of {settings['rounds']} rounds; ratios against `outside`, same run)",
        "",
        "| kind | outside us each | track() us | track(context) us | track()/outside "
        "| track(context)/outside | track() overhead ns |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, row in figures["creation"].items():
        us = row["median_us"]
        lines.append(
            f"| {kind} | {us['outside']:.2f} | {us['track()']:.2f} | {us['track(context)']:.2f} "
            f"| {row['paired_ratio']['track()']:.3f} | {row['paired_ratio']['track(context)']:.3f} "
            f"| {row['overhead_ns']['track()']:.0f} |"
        )
    blk = figures["block"]
    lines += [
        "",
        f"Entering + leaving `track()` (default types): {blk['enter_exit_ms']:.3f} ms; "
        f"`Tracker.alive()` (a full collection, {blk['heap_objects']:,} objects on the heap): "
        f"{blk['alive_ms']:.1f} ms.",
    ]
    return "\n".join(lines)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=_positive, default=2000, help="objects per batch (2000)")
    parser.add_argument("--rounds", type=_positive, default=15, help="rounds (default 15)")
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        metavar="PATH",
        help=f"where to write the figures (default {DEFAULT_JSON.relative_to(ROOT)})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    figures = {
        "settings": {"n": args.n, "rounds": args.rounds, "modes": list(MODES)},
        "environment": environment(),
        "creation": measure_creation(args.n, args.rounds),
        "block": measure_block(args.rounds),
    }
    table = markdown(figures)
    figures["markdown"] = table
    print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
