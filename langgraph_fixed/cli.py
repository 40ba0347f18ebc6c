"""``langgraph-fixed`` command line: ``doctor`` shows the leak fixed on this install."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

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


def doctor(requests: int = 300, scenarios: Sequence[str] = (), json_path: str | None = None) -> int:
    """Print versions, fix status and a live before/after leak check; 0 when all is well.

    With ``json_path`` the same findings are also written there as JSON
    (``-`` for standard output, in which case nothing else is printed).
    """
    quiet = json_path == "-"
    say = (lambda *args: None) if quiet else print
    versions = langgraph_fixed.installed_versions()
    say(f"langgraph-fixed {langgraph_fixed.__version__}")
    say("\nInstalled versions")
    for name, version in versions.items():
        say(f"  {name:<22} {version or '-'}")

    names = set(scenarios) or None
    langgraph_fixed.revert()
    say(f"\nLive check: each scenario built and run {requests} times, then dropped")
    say("(payloads standing for connections or indexes, still alive after gc.collect())")
    before = _measure_all(requests, names)
    report = langgraph_fixed.apply()
    after = _measure_all(requests, names)

    say(f"\n  {'scenario':<28} {'without the fix':>18} {'with the fix':>16}")
    still_leaking = []
    for name, result in before.items():
        fixed = after[name]
        say(f"  {name:<28} {_cell(result):>18} {_cell(fixed):>16}")
        if isinstance(fixed, Retention) and fixed.alive:
            still_leaking.append(name)

    say("\nFixes (after apply())")
    for line in report.format().splitlines():
        say(f"  {line}")

    code = 0
    if not report.ok:
        say("\nA needed fix is not active: see the reasons above.")
        code = 1
    elif still_leaking:
        say(f"\nStill leaking with the fix: {', '.join(still_leaking)}")
        code = 1
    else:
        say("\nOK: no payload survives with the fix on this install.")
    if json_path is not None:
        document = {
            "langgraph_fixed": langgraph_fixed.__version__,
            "versions": versions,
            "requests": requests,
            "scenarios": [
                {
                    "name": s.name,
                    "description": s.description,
                    "without_fix": _alive_or_error(before[s.name]),
                    "with_fix": _alive_or_error(after[s.name]),
                }
                for s in SCENARIOS
                if s.name in before
            ],
            "fixes": [
                {"fix": s.fix, "state": s.state.value, "reason": s.reason, "target": s.target}
                for s in report
            ],
            "ok": code == 0,
        }
        text = json.dumps(document, indent=2)
        if quiet:
            print(text)
        else:
            Path(json_path).parent.mkdir(parents=True, exist_ok=True)
            Path(json_path).write_text(text + "\n")
    return code


def _alive_or_error(result: Retention | str) -> int | str:
    return result if isinstance(result, str) else result.alive


def run(command: Sequence[str]) -> int:
    """Run ``command`` with the fixes applied in it and in every Python process it starts."""
    from langgraph_fixed import _bootstrap
    from langgraph_fixed._startup import ENV_VAR

    args = list(command)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("langgraph-fixed run: no command given", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env[ENV_VAR] = "1"
    # The wheel's .pth applies the fixes at start-up; a checkout on PYTHONPATH
    # has no .pth, so a sitecustomize on PYTHONPATH does the same there.
    bootstrap = os.path.dirname(os.path.abspath(_bootstrap.__file__ or ""))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [bootstrap, env.get("PYTHONPATH")]))
    if os.name == "posix":
        try:
            os.execvpe(args[0], args, env)  # the command takes this process's place
        except FileNotFoundError:
            print(f"langgraph-fixed run: command not found: {args[0]}", file=sys.stderr)
            return 127
    return subprocess.call(args, env=env)


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
    doc.add_argument(
        "--json",
        metavar="PATH",
        help="also write the findings as JSON to PATH ('-': only JSON, on standard output)",
    )
    runner = sub.add_parser(
        "run",
        help="run a command with the fixes applied in it and in its Python child processes",
        description="Example: langgraph-fixed run -- uvicorn app:app --workers 4",
    )
    runner.add_argument("argv", nargs=argparse.REMAINDER, help="the command and its arguments")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.argv)
    if args.command == "doctor":
        return doctor(args.requests, args.scenario, args.json)
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
