"""``langgraph-fixed`` command line: ``doctor`` shows the leak fixed on this install."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import langgraph_fixed
from langgraph_fixed.selfcheck import SCENARIOS, Retention, measure, upstream_cache_cleared


def _measure_all(requests: int, names: set[str] | None) -> dict[str, Retention | str]:
    results: dict[str, Retention | str] = {}
    for scenario in SCENARIOS:
        if names and scenario.name not in names:
            continue
        try:
            with upstream_cache_cleared():
                results[scenario.name] = measure(scenario, requests)
        except Exception as exc:  # an install without, say, langgraph-prebuilt
            results[scenario.name] = f"could not run: {exc!r}"
    return results


def _cell(result: Retention | str) -> str:
    return result if isinstance(result, str) else f"{result.alive} of {result.requests}"


def doctor(requests: int = 300, scenarios: Sequence[str] = ()) -> int:
    """Print versions, fix status and a live before/after leak check; 0 when all is well."""
    print(f"langgraph-fixed {langgraph_fixed.__version__}")
    print("\nInstalled versions")
    for name, version in langgraph_fixed.installed_versions().items():
        print(f"  {name:<22} {version or '-'}")

    names = set(scenarios) or None
    langgraph_fixed.revert()
    print(f"\nLive check: each scenario built and run {requests} times, then dropped")
    print("(payloads standing for connections or indexes, still alive after gc.collect())")
    before = _measure_all(requests, names)
    report = langgraph_fixed.apply()
    after = _measure_all(requests, names)

    print(f"\n  {'scenario':<28} {'without the fix':>18} {'with the fix':>16}")
    still_leaking = []
    for name, result in before.items():
        fixed = after[name]
        print(f"  {name:<28} {_cell(result):>18} {_cell(fixed):>16}")
        if isinstance(fixed, Retention) and fixed.alive:
            still_leaking.append(name)

    print("\nFixes (after apply())")
    for line in report.format().splitlines():
        print(f"  {line}")

    if not report.ok:
        print("\nA needed fix is not active: see the reasons above.")
        return 1
    if still_leaking:
        print(f"\nStill leaking with the fix: {', '.join(still_leaking)}")
        return 1
    print("\nOK: no payload survives with the fix on this install.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="langgraph-fixed",
        description="Fixes reference leaks in LangGraph and langchain-core caches.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {langgraph_fixed.__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    doc = sub.add_parser("doctor", help="versions, fix status and a live leak check")
    doc.add_argument(
        "--requests",
        type=int,
        default=300,
        help="builds per scenario (default 300: more than upstream's 256-entry cache)",
    )
    doc.add_argument(
        "--scenario",
        action="append",
        default=[],
        choices=[s.name for s in SCENARIOS],
        help="run only this scenario (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return doctor(args.requests, args.scenario)
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
