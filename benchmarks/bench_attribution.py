"""Where the shared-graph gap comes from: the fix against upstream, piece by piece.

bench_compile's "B shared functions" graphs (every build wraps the same
module-level functions, so upstream's lru cache hits on every node) cost a few
percent more with the fix than upstream. This script builds the ``--nodes``
graph of that case in rounds, in rotating order, in these variants, and
prints each one's per-build time as a ratio to upstream's (median over rounds
of the ratio within the round):

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

No timing is asserted anywhere: this script only measures. Run from the
repository root::

    python benchmarks/bench_attribution.py [--rounds 60] [--nodes 20] [--batch 22]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_compile as bc
from langchain_core.runnables import utils as lc_utils

import langgraph_fixed
from langgraph_fixed.fixes import FIXES

NONLOCALS = next(fix for fix in FIXES if fix.name == "get_function_nonlocals")


@contextmanager
def swapped(make: Callable[[Any], Callable[[Any], Any]]) -> Iterator[None]:
    """``get_function_nonlocals`` replaced everywhere by ``make(upstream)`` for the block."""
    upstream = lc_utils.get_function_nonlocals
    replacement = make(upstream)
    bc._swap(upstream, replacement)
    try:
        yield
    finally:
        bc._swap(replacement, upstream)


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


@contextmanager
def every_fix_but_nonlocals() -> Iterator[None]:
    # read before patched() rebinds it; a local, since the rebind pass replaces
    # module globals that hold it (bench_compile's note)
    upstream = lc_utils.get_function_nonlocals
    with langgraph_fixed.patched():
        replacement = bc._bound_for_deps()
        bc._swap(replacement, upstream)
        try:
            yield
        finally:
            bc._swap(upstream, replacement)


@contextmanager
def upstream_mode() -> Iterator[None]:
    with bc.mode("upstream", bc.ModeCheck()):
        yield


VARIANTS: dict[str, Callable[[], Any]] = {
    "upstream": upstream_mode,
    "upstream again": upstream_mode,
    "fix": langgraph_fixed.patched,
    "nonlocals fix only": lambda: swapped(_nonlocals_fix),
    "every fix but nonlocals": every_fix_but_nonlocals,
    "nonlocals fix called twice": lambda: swapped(_twice),
    "Python wrapper of upstream": lambda: swapped(_python_wrapper),
    "copy of upstream's answer": lambda: swapped(_copy),
}


def measure(rounds: int, nodes: int, batch: int) -> dict[str, list[float]]:
    bc.ensure_shared(nodes)
    names = list(VARIANTS)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            with VARIANTS[name]():
                samples[name].append(bc.time_batch(lambda: bc.build_shared(nodes), batch) * 1e3)
    return samples


def report(samples: dict[str, list[float]], nodes: int) -> str:
    base = samples["upstream"]
    lines = [
        f"{nodes}-node graph of shared functions, build + compile: per-build ms "
        f"(median over {len(base)} rounds) and the ratio to upstream (median of per-round ratios)",
        f"{'variant':28} {'ms':>8} {'/ upstream':>11}",
    ]
    for name, values in samples.items():
        ratio = statistics.median(v / u for v, u in zip(values, base, strict=True))
        lines.append(f"{name:28} {statistics.median(values):8.3f} {ratio:11.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="rounds (default 60)")
    parser.add_argument("--nodes", type=int, default=20, help="graph size (default 20)")
    parser.add_argument("--batch", type=int, default=22, help="timed builds a batch (default 22)")
    args = parser.parse_args(argv)
    if langgraph_fixed.status().get("get_function_nonlocals").active:
        print("langgraph_fixed is already applied in this process", file=sys.stderr)
        return 2
    print(report(measure(args.rounds, args.nodes, args.batch), args.nodes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
