"""Where the fix's cost in a build comes from: the fix against its baseline, piece by piece.

bench_compile measures whole builds. This script builds the ``--nodes`` graph
of one of its two cases in rounds, in rotating order, in the variants below,
and prints each one's per-build time as a ratio to the baseline (median over
rounds of the ratio within the round).

``--graphs shared`` (default): every build wraps the same module-level
functions, so upstream's lru cache hits on every node; the baseline is upstream.

upstream again
    upstream a second time: how far two identical variants drift apart (noise)
fix
    inside ``langgraph_fixed.patched()``: every fix this install needs
nonlocals fix only
    the ``get_function_nonlocals`` replacement, built and swapped in alone
every fix but nonlocals
    inside ``patched()``, with upstream's ``get_function_nonlocals`` swapped back
nonlocals fix called twice
    the replacement alone, called twice per call: what a second call costs
Python wrapper of upstream
    a Python function that returns upstream's (lru-cached) answer: the least
    any replacement written in Python costs
copy of upstream's answer
    the same wrapper returning a new list: a fresh list per call, as the fix

``--graphs per-request``: closures made afresh for every build, so upstream
analyses every node's source; the baseline is bench_compile's floor (the
analysis replaced by ``return []``), and the variants are the floor again, the
fix, the nonlocals fix only, every fix with the floor in place of the nonlocals
replacement, and:

floor returning the fix's answer
    a floor that returns, for every node, a new list of values of the types
    the fix returns for these nodes (an int and a bytearray): what
    ``RunnableLambda.deps`` costs the caller for a correct answer, which the
    empty floor skips

``--cachegrind BUILDS`` counts instead of timing: for each variant it runs the
build ``BUILDS`` times (and 0 times) under valgrind's cachegrind, in a fresh
interpreter with a fixed hash seed, and prints the difference to the baseline
per build and per node: instructions, and misses of the 32 KiB first-level
instruction and data caches. The counts are the same on every run; they show
what a call does in a build, where the timings show what it costs.

No timing is asserted anywhere: this script only measures. Run from the
repository root::

    python benchmarks/bench_attribution.py [--graphs shared] [--rounds 60] [--nodes 20] [--batch 22]
    python benchmarks/bench_attribution.py --cachegrind 300 [--graphs shared]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_compile as bc
from langchain_core.runnables import utils as lc_utils

import langgraph_fixed
from langgraph_fixed.diagnostics.scenarios import Payload
from langgraph_fixed.fixes import FIXES

NONLOCALS = next(fix for fix in FIXES if fix.name == "get_function_nonlocals")
Make = Callable[[Any], Callable[[Any], Any]]


@contextmanager
def _swapped_in(old: Any, new: Any) -> Iterator[None]:
    """``old`` replaced everywhere by ``new`` for the block, then put back."""
    bc._swap(old, new)
    try:
        yield
    finally:
        bc._swap(new, old)


@contextmanager
def swapped(make: Make) -> Iterator[None]:
    """``get_function_nonlocals`` replaced everywhere by ``make(upstream)`` for the block."""
    upstream = lc_utils.get_function_nonlocals
    with _swapped_in(upstream, make(upstream)):
        yield


@contextmanager
def patched_but(make: Make) -> Iterator[None]:
    """Inside ``patched()``, with ``make(upstream)`` in place of the nonlocals replacement."""
    # read before patched() rebinds it; a local, since the rebind pass replaces
    # module globals that hold it (bench_compile's note)
    upstream = lc_utils.get_function_nonlocals
    with langgraph_fixed.patched(), _swapped_in(bc._bound_for_deps(), make(upstream)):
        yield


def _nonlocals_fix(upstream: Any) -> Callable[[Any], Any]:
    return NONLOCALS.build(upstream, NONLOCALS.recognise(upstream))  # type: ignore[no-any-return]


def _twice(upstream: Any) -> Callable[[Any], Any]:
    fix = _nonlocals_fix(upstream)

    def get_function_nonlocals(func: Any) -> Any:
        fix(func)
        return fix(func)

    return get_function_nonlocals


def _python_wrapper(upstream: Any) -> Callable[[Any], Any]:
    def get_function_nonlocals(func: Any) -> Any:
        return upstream(func)

    return get_function_nonlocals


def _copy(upstream: Any) -> Callable[[Any], Any]:
    def get_function_nonlocals(func: Any) -> Any:
        return list(upstream(func))

    return get_function_nonlocals


def _itself(upstream: Any) -> Any:
    return upstream


def _floor(upstream: Any) -> Callable[[Any], Any]:
    return bc.make_floor()


def _floor_with_answer(upstream: Any) -> Callable[[Any], Any]:
    answer = [0, Payload().data]  # what the fix returns for make_node: i and payload.data

    def get_function_nonlocals(func: Any) -> list[Any]:
        return list(answer)

    return get_function_nonlocals


@contextmanager
def upstream_mode() -> Iterator[None]:
    with bc.mode("upstream", bc.ModeCheck()):
        yield


#: what each graph kind is made of, as the reports say
LABELS = {"shared": "shared functions", "per-request": "closures made per request"}

#: per graph kind: the builder and the variants, the baseline first
GRAPHS: dict[str, tuple[Callable[[int], Any], dict[str, Callable[[], Any]]]] = {
    "shared": (
        bc.build_shared,
        {
            "upstream": upstream_mode,
            "upstream again": upstream_mode,
            "fix": langgraph_fixed.patched,
            "nonlocals fix only": lambda: swapped(_nonlocals_fix),
            "every fix but nonlocals": lambda: patched_but(_itself),
            "nonlocals fix called twice": lambda: swapped(_twice),
            "Python wrapper of upstream": lambda: swapped(_python_wrapper),
            "copy of upstream's answer": lambda: swapped(_copy),
        },
    ),
    "per-request": (
        bc.build_per_request,
        {
            "floor": lambda: swapped(_floor),
            "floor again": lambda: swapped(_floor),
            "fix": langgraph_fixed.patched,
            "nonlocals fix only": lambda: swapped(_nonlocals_fix),
            "every fix, floor for nonlocals": lambda: patched_but(_floor),
            "floor returning the fix's answer": lambda: swapped(_floor_with_answer),
        },
    ),
}


def measure(graphs: str, rounds: int, nodes: int, batch: int) -> dict[str, list[float]]:
    build, variants = GRAPHS[graphs]
    bc.ensure_shared(nodes)
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            with variants[name]():
                samples[name].append(bc.time_batch(lambda: build(nodes), batch) * 1e3)
    return samples


def report(samples: dict[str, list[float]], graphs: str, nodes: int) -> str:
    base_name = next(iter(samples))
    base = samples[base_name]
    lines = [
        f"{nodes}-node graph of {LABELS[graphs]}, build + compile: per-build ms "
        f"(median over {len(base)} rounds) and the ratio to {base_name} (median of "
        "per-round ratios)",
        f"{'variant':34} {'ms':>8} {'/ ' + base_name:>11}",
    ]
    for name, values in samples.items():
        ratio = statistics.median(v / u for v, u in zip(values, base, strict=True))
        lines.append(f"{name:34} {statistics.median(values):8.3f} {ratio:11.3f}")
    return "\n".join(lines)


# --- counting with cachegrind -------------------------------------------------

#: what cachegrind's summary calls each count, and what this script calls it
COUNTS = {"I   refs": "instructions", "I1  misses": "I1 misses", "D1  misses": "D1 misses"}


def run_builds(graphs: str, variant: str, nodes: int, builds: int) -> None:
    """The child under cachegrind: warm up, then ``builds`` builds in ``variant``."""
    build, variants = GRAPHS[graphs]
    bc.ensure_shared(nodes)
    with variants[variant]():
        for _ in range(30):
            build(nodes)
        gc.collect()
        for _ in range(builds):
            build(nodes)


def _cachegrind(graphs: str, variant: str, nodes: int, builds: int) -> dict[str, int]:
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=yes",
        "--I1=32768,8,64",
        "--D1=32768,8,64",
        "--LL=2097152,16,64",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--child",
        variant,
        "--graphs",
        graphs,
        "--nodes",
        str(nodes),
        "--builds",
        str(builds),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"cachegrind failed for {variant!r}:\n{result.stderr[-2000:]}")
    counts = {}
    for label, name in COUNTS.items():
        found = re.search(rf"{re.escape(label)}:\s+([\d,]+)", result.stderr)
        if found is None:
            raise RuntimeError(f"no {label!r} in cachegrind's summary:\n{result.stderr[-2000:]}")
        counts[name] = int(found.group(1).replace(",", ""))
    return counts


def count(graphs: str, nodes: int, builds: int) -> str:
    """Counts per build of each variant, less the baseline's, per build and per node."""
    variants = list(GRAPHS[graphs][1])
    per_build: dict[str, dict[str, float]] = {}
    for variant in variants:
        idle = _cachegrind(graphs, variant, nodes, 0)
        busy = _cachegrind(graphs, variant, nodes, builds)
        per_build[variant] = {k: (busy[k] - idle[k]) / builds for k in COUNTS.values()}
    base_name = variants[0]
    base = per_build[base_name]
    header = " ".join(f"{name:>14}" for name in COUNTS.values())
    lines = [
        f"{nodes}-node graph of {LABELS[graphs]}, {builds} builds under cachegrind "
        f"(PYTHONHASHSEED=0): per build, and the difference to {base_name} per node",
        f"{'variant':34} {header}   {'difference per node':>30}",
    ]
    for variant, counts in per_build.items():
        own = " ".join(f"{counts[k]:14,.0f}" for k in COUNTS.values())
        diff = " ".join(f"{(counts[k] - base[k]) / nodes:+9,.0f}" for k in COUNTS.values())
        lines.append(f"{variant:34} {own}   {diff}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", choices=list(GRAPHS), default="shared")
    parser.add_argument("--rounds", type=int, default=60, help="rounds (default 60)")
    parser.add_argument("--nodes", type=int, default=20, help="graph size (default 20)")
    parser.add_argument("--batch", type=int, default=22, help="timed builds a batch (default 22)")
    parser.add_argument(
        "--cachegrind", type=int, metavar="BUILDS", help="count under valgrind instead of timing"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--builds", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if langgraph_fixed.status().get("get_function_nonlocals").active:
        print("langgraph_fixed is already applied in this process", file=sys.stderr)
        return 2
    if args.child is not None:
        run_builds(args.graphs, args.child, args.nodes, args.builds)
        return 0
    if args.cachegrind is not None:
        if shutil.which("valgrind") is None:
            print("--cachegrind needs valgrind on PATH", file=sys.stderr)
            return 2
        print(count(args.graphs, args.nodes, args.cachegrind))
        return 0
    samples = measure(args.graphs, args.rounds, args.nodes, args.batch)
    print(report(samples, args.graphs, args.nodes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
