"""``langgraph-fixed`` command line.

``doctor`` shows the leak fixed on this install and every known cache's live
size; ``scan`` lists every cache in the installed sources; ``run`` starts a
command with the fixes applied.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import langgraph_fixed

if TYPE_CHECKING:
    from langgraph_fixed.diagnostics.scenarios import Scenario
    from langgraph_fixed.fixes._base import CacheSize


def _scenarios() -> tuple[Scenario, ...]:
    from langgraph_fixed.diagnostics.scenarios import SCENARIOS

    return SCENARIOS


def _cell(result: int | str | None, requests: int) -> str:
    return f"{result} of {requests}" if isinstance(result, int) else "could not run"


class _Progress:
    """One line, rewritten in place, on a terminal; nothing when piped."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def show(self, text: str) -> None:
        if self.enabled:
            sys.stdout.write("\r\033[K" + text)
            sys.stdout.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()
            self.shown = False


def doctor(
    requests: int | None = None,
    scenarios: Sequence[str] = (),
    json_path: str | None = None,
    *,
    live: bool = True,
    apply: bool = True,
    caches: bool = False,
) -> int:
    """Print the versions, the fixes and a live before/after leak check; a verdict last.

    Returns 0 when all is well. The live check runs every scenario the
    installed versions can run, without the fixes and with them, in two worker
    processes side by side (``diagnostics.live``), as many times as it takes to
    go past the bound of the cache it shows (``requests`` for all, if given);
    each row is printed as soon as it is known, with a progress line on a
    terminal. With ``json_path`` the findings are also written there as JSON
    (``-``: only JSON, on standard output). Without ``live`` the leak check is
    skipped; without ``apply`` the fixed side keeps what the environment gives
    a new process (the start-up hook under ``langgraph-fixed run``), and the
    fixes are reported as they stand in this process. ``caches`` adds the live
    size of every known cache in this process.
    """
    import time

    from langgraph_fixed.diagnostics import live as live_check
    from langgraph_fixed.diagnostics.caches import import_targets, live_cache_sizes

    started = time.monotonic()
    quiet = json_path == "-"

    def say(*args: object) -> None:
        if not quiet:
            print(*args, flush=True)  # each line as soon as it is known, piped too

    versions = langgraph_fixed.installed_versions()
    shown = [f"{name} {version}" for name, version in versions.items() if version]
    say(f"langgraph-fixed {langgraph_fixed.__version__}: " + ", ".join(shown))

    # every fix's module first: apply() leaves a fix waiting for its module's import,
    # and a start-up hook (`langgraph-fixed run`) applies fixes on these imports
    import_targets()
    report = langgraph_fixed.apply() if apply else langgraph_fixed.status()
    say("\nFixes (after apply())" if apply else "\nFixes (as they stand in this process)")
    for line in report.format().splitlines():
        say(f"  {line}")

    outcomes: list[live_check.Outcome] = []
    fixes_of = {s.name: s for s in _scenarios()}
    if live:
        names = [s.name for s in _scenarios() if not scenarios or s.name in scenarios]
        planned = live_check.plan(names, requests)
        say(
            "\nLive check: each scenario built and run per request, then dropped; "
            "payloads\n(standing for connections, indexes) still alive after gc.collect()"
        )
        say(f"  {'scenario':<28} {'without the fix':>18} {'with the fix':>16}  proves")
        progress = _Progress(not quiet and sys.stdout.isatty())
        progress.show(f"  starting the two sides of {len(planned)} scenarios...")
        runs = dict(planned)
        done = 0
        # an explicit --requests is run in full; otherwise a scenario whose plain side
        # keeps nothing of its first runs stops there (live_check.PROBE)
        for _kind, value in live_check.run(planned, apply=apply, probe=requests is None):
            if isinstance(value, live_check.Outcome):
                progress.clear()
                outcomes.append(value)
                done += 1
                shown_leak = isinstance(value.without_fix, int) and value.without_fix > 0
                proves = (
                    ", ".join(_active_fixes(fixes_of[value.name], report)) if shown_leak else ""
                )
                proves = proves or "-"
                reasons = [r for r in (value.without_fix, value.with_fix) if isinstance(r, str)]
                if reasons:  # the reason where the fixes would be named
                    proves = reasons[0].removeprefix("could not run: ")[:72]
                say(
                    f"  {value.name:<28} {_cell(value.without_fix, value.without_runs):>18} "
                    f"{_cell(value.with_fix, value.with_runs):>16}  {proves}"
                )
            else:
                name, fixed, count = value
                side = "with the fix" if fixed else "without"
                progress.show(
                    f"  [{done}/{len(planned)}] {name}: {side}, {count} of {runs[name]} runs"
                )
        progress.clear()

    sizes = live_cache_sizes(import_modules=True) if caches or json_path is not None else ()
    if caches:
        say("\nCaches: live sizes in this process")
        say("(in a running service: langgraph_fixed.diagnostics.caches.live_cache_sizes())")
        for line in _cache_table(sizes):
            say(f"  {line}")

    seconds = time.monotonic() - started
    ran = [o for o in outcomes if isinstance(o.with_fix, int)]
    still_leaking = [o.name for o in ran if o.with_fix]
    code = 0
    if live and not ran:
        say("\nNo scenario could run on this install: the live check showed nothing.")
        code = 1
    elif not report.ok:
        say("\nA needed fix is not active: see the reasons above.")
        code = 1
    elif still_leaking:
        say(f"\nStill leaking with the fix: {', '.join(still_leaking)}")
        code = 1
    elif live:
        say(
            f"\nOK: no payload survives with the fix on this install "
            f"({len(ran)} scenario{'s' if len(ran) != 1 else ''}, {seconds:.1f} s)."
        )
    else:
        say("\nOK: no needed fix is left inactive (live check skipped).")
    if json_path is not None:
        document = {
            "langgraph_fixed": langgraph_fixed.__version__,
            "versions": versions,
            "requests": requests,
            "live": live,
            "scenarios": [
                {
                    "name": o.name,
                    "description": fixes_of[o.name].description,
                    "fixes": list(fixes_of[o.name].fixes),
                    "requests": o.without_runs,
                    "requests_with_fix": o.with_runs,
                    "without_fix": o.without_fix,
                    "with_fix": o.with_fix,
                }
                for o in outcomes
            ],
            "fixes": [
                {"fix": s.fix, "state": s.state.value, "reason": s.reason, "target": s.target}
                for s in report
            ],
            "caches": [size._asdict() for size in sizes],
            "ok": code == 0,
        }
        text = json.dumps(document, indent=2)
        if quiet:
            print(text)
        else:
            Path(json_path).parent.mkdir(parents=True, exist_ok=True)
            Path(json_path).write_text(text + "\n")
    return code


def _active_fixes(scenario: Scenario, report: langgraph_fixed.StatusReport) -> list[str]:
    """The scenario's fixes that are applied on this install (what it proves, when the
    side without them kept something)."""
    states = {s.fix: s.state for s in report}
    return [f for f in scenario.fixes if states.get(f) is langgraph_fixed.FixState.APPLIED]


def _cache_table(caches: Sequence[CacheSize]) -> list[str]:
    rows = [("cache", "kind", "entries", "maxsize", "fix")]
    for c in caches:
        maxsize = "-" if c.maxsize is None else str(c.maxsize)
        rows.append((c.name, c.kind, str(c.currentsize), maxsize, c.fix or "(safe)"))
    if len(rows) == 1:
        return ["(none of the known caches is loaded)"]
    width = max(len(row[0]) for row in rows)
    return [f"{a:<{width}}  {b:<8}  {c:>7}  {d:>7}  {e}" for a, b, c, d, e in rows]


def scan_command(
    distributions: Sequence[str] = (),
    paths: Sequence[str] = (),
    json_path: str | None = None,
    fail_on_new: bool = False,
) -> int:
    """List every cache in the installed sources (or ``paths``) with its verdict.

    Returns 1 with ``fail_on_new`` when a cache that may receive user objects is
    neither fixed nor known safe, else 0.
    """
    from langgraph_fixed.diagnostics.scan import format_table, scan

    result = scan(list(distributions) or None, paths)
    document = {"langgraph_fixed": langgraph_fixed.__version__, **result.as_json()}
    if json_path == "-":
        print(json.dumps(document, indent=2))
    else:
        print(format_table(result))
        if json_path is not None:
            Path(json_path).parent.mkdir(parents=True, exist_ok=True)
            Path(json_path).write_text(json.dumps(document, indent=2) + "\n")
    return 1 if fail_on_new and result.new else 0


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
    try:
        if os.name == "posix":
            os.execvpe(args[0], args, env)  # the command takes this process's place
        return subprocess.call(args, env=env)
    except FileNotFoundError:
        print(f"langgraph-fixed run: command not found: {args[0]}", file=sys.stderr)
        return 127
    except OSError as exc:  # not executable, not a program: what a shell says, and 126
        reason = exc.strerror or str(exc)
        print(f"langgraph-fixed run: {args[0]}: {reason}", file=sys.stderr)
        return 126


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="langgraph-fixed",
        description="Fixes reference leaks in LangGraph and langchain-core caches.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {langgraph_fixed.__version__}"
    )
    sub = parser.add_subparsers(dest="command")
    doc = sub.add_parser("doctor", help="versions, fix status and a live leak check")
    doc.add_argument(
        "--requests",
        type=_positive,
        default=None,
        help="runs per scenario (default: one more than the bound of the cache it shows)",
    )
    doc.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this scenario (repeatable)",
    )
    doc.add_argument(
        "--json",
        metavar="PATH",
        help="also write the findings as JSON to PATH ('-': only JSON, on standard output)",
    )
    doc.add_argument(
        "--no-live",
        dest="live",
        action="store_false",
        help="skip the live leak check: versions, fix status and cache sizes only (fast)",
    )
    doc.add_argument(
        "--caches",
        action="store_true",
        help="also list the live size of every known cache in this process",
    )
    doc.add_argument(
        "--no-apply",
        dest="apply",
        action="store_false",
        help="report the fixes as they stand in this process instead of applying them first",
    )
    scanner = sub.add_parser(
        "scan",
        help="list every cache in the installed LangGraph/LangChain sources, with a verdict",
        description="Reads the sources with ast (imports nothing) and lists every "
        "functools cache and module-level dict cache, whether it may receive user "
        "objects, and whether a fix covers it or it is known safe.",
    )
    scanner.add_argument(
        "--dist",
        action="append",
        default=[],
        metavar="NAME",
        help="scan this installed distribution (repeatable; default: langgraph, "
        "langgraph-prebuilt, langgraph-checkpoint, langchain-core, langchain, langsmith)",
    )
    scanner.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="DIR",
        help="also scan the sources under DIR (a package, or a sys.path entry; repeatable)",
    )
    scanner.add_argument(
        "--json",
        metavar="PATH",
        help="also write the findings as JSON to PATH ('-': only JSON, on standard output)",
    )
    scanner.add_argument(
        "--fail-on-new",
        action="store_true",
        help="exit 1 if a cache that may receive user objects is neither fixed nor known safe",
    )
    runner = sub.add_parser(
        "run",
        help="run a command with the fixes applied in it and in its Python child processes",
        description="Example: langgraph-fixed run -- uvicorn app:app --workers 4",
    )
    runner.add_argument("argv", nargs=argparse.REMAINDER, help="the command and its arguments")
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.error("a command is needed: doctor, scan or run")
    if args.command == "run":
        return run(args.argv)
    if args.command == "doctor":
        known = [s.name for s in _scenarios()]
        unknown = [name for name in args.scenario if name not in known]
        if unknown:
            parser.error(
                f"argument --scenario: invalid choice: {unknown[0]!r} (choose from {known})"
            )
        return doctor(
            args.requests,
            args.scenario,
            args.json,
            live=args.live,
            apply=args.apply,
            caches=args.caches,
        )
    if args.command == "scan":
        from langgraph_fixed.diagnostics.scan import distribution_sources

        missing = [name for name in args.dist if distribution_sources(name)[0] is None]
        if missing:
            parser.error(f"argument --dist: not installed: {', '.join(missing)}")
        absent = [path for path in args.path if not Path(path).exists()]
        if absent:
            parser.error(f"argument --path: no such file or directory: {', '.join(absent)}")
        return scan_command(args.dist, args.path, args.json, args.fail_on_new)
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
