"""Soak test: real uvicorn servers building a graph per request: upstream, fixed, floor.

Starts three server processes on loopback, all serving ``benchmarks/soak_app.py``
(a Starlette app whose ``/work`` endpoint builds, compiles and runs a LangGraph
graph around a fresh 1 MiB payload per request, then drops it):

unpatched
    ``python -m uvicorn --app-dir benchmarks soak_app:app ...``
patched
    ``python -m langgraph_fixed run -- python -m uvicorn --app-dir benchmarks soak_app:app ...``:
    the same app, not a line changed; the fix is applied at interpreter start-up.
floor
    the unpatched command with ``SOAK_NO_CACHE=1``: the app rebinds each
    lru-cached function langgraph-fixed replaces (``get_function_nonlocals``,
    the tool JSON-schema cache, the model factories) to the uncached function
    it wraps. Upstream without those caches: what no leak looks like.

All get ``PYTHONPATH`` pointing at this checkout. This script is the client,
in its own process: it sends the requests to the servers in turn (one to each,
the order reversed at every other request), and asks each server for
its resident set size (``/rss``: the server runs ``gc.collect()`` first, then
reads its own RSS with psutil) after a 5-request warm-up and then every
``--every`` requests.

Upstream's cache is bounded (256 entries), so the unpatched server's RSS climbs
until the cache is full and then stays high: the figure that matters is how far
RSS sits above its level after the warm-up, not its slope at the end. The app
also reports how many payloads are still alive and how many entries upstream's
cache holds, so the RSS can be checked against ``payloads alive x payload size``.

Writes ``soak.md`` (the tables), ``soak.json`` (every sample) and ``soak.png``
(RSS above warm-up against requests) to ``--out`` (default
``benchmarks/results/``), and the plot also to ``--plot`` if given. Servers are
always terminated: at the end, on error, on Ctrl-C, on SIGTERM, and (Linux) if
this process dies. Nothing is asserted: this script only measures.

Run from the repository root (needs the ``bench`` extra: uvicorn, starlette,
httpx, psutil, matplotlib, rich)::

    python benchmarks/bench_soak.py [--requests 2000] [--every 100] [--payload-mb 1]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DEFAULT_OUT = BENCH_DIR / "results"
REQUIREMENTS = ("uvicorn", "starlette", "httpx", "psutil", "matplotlib", "rich")
SERVERS = ("unpatched", "patched", "floor")
LABELS = {
    "unpatched": "upstream",
    "patched": "langgraph-fixed run",
    "floor": "floor: upstream without its caches",
}
WARMUP = 5
CACHE_SIZE = 256  # upstream's lru_cache(maxsize=256)
MIB = 1 << 20

# exit codes
OK, FIX_CHECK_FAILED, USAGE, TIMED_OUT, FAILED, INTERRUPTED = 0, 1, 2, 3, 4, 130


class SoakTimeout(Exception):
    """The run went past ``--timeout``."""


class FixCheckFailed(Exception):
    """A server's ``/report`` does not show the state of the fix it should."""


class ServerFailed(Exception):
    """A server exited, or answered with an error."""


def missing_requirements() -> list[str]:
    return [name for name in REQUIREMENTS if importlib.util.find_spec(name) is None]


# --- the servers --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(name: str, port: int) -> list[str]:
    uvicorn = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(BENCH_DIR),
        "soak_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if name == "patched":
        return [sys.executable, "-m", "langgraph_fixed", "run", "--", *uvicorn]
    return uvicorn


def server_environment(name: str) -> dict[str, str]:
    """This checkout first on the path; the fix's switch unset (``run`` sets it itself).

    The floor server alone gets ``SOAK_NO_CACHE=1``.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("LANGGRAPH_FIXED", "SOAK_NO_CACHE")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if name == "floor":
        env["SOAK_NO_CACHE"] = "1"
    return env


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the server gets SIGTERM if this script dies without cleaning up."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class Server:
    name: str
    command: list[str]
    base: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]
    pid: int = 0
    report: dict[str, Any] = field(default_factory=dict)

    def log_tail(self, lines: int = 20) -> str:
        self.log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def start_server(name: str, log_dir: Path) -> Server:
    port = free_port()
    command = server_command(name, port)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"soak-{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=server_environment(name),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches this script only; it stops the servers
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    return Server(name, command, f"http://127.0.0.1:{port}", process, log_path, log)


def stop_server(server: Server) -> None:
    process = server.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    server.log.close()


@contextlib.contextmanager
def running_servers(log_dir: Path) -> Iterator[dict[str, Server]]:
    servers: dict[str, Server] = {}
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally below

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        for name in SERVERS:
            servers[name] = start_server(name, log_dir)
        yield servers
    finally:
        for server in servers.values():
            stop_server(server)
        signal.signal(signal.SIGTERM, previous)


# --- the client ---------------------------------------------------------------


@dataclass
class Sample:
    requests: int
    rss: int
    rss_trimmed: int | None
    malloc_free: int | None
    rss_outside: int | None
    alive: int
    peak_alive: int | None
    created: int
    cache_entries: int | None
    seconds: float

    def above(self, warmup: Sample) -> float:
        return (self.rss - warmup.rss) / MIB


class Client:
    """One ``httpx.Client`` per server, every call bounded by the run's deadline."""

    def __init__(self, servers: dict[str, Server], deadline: float) -> None:
        import httpx

        self._httpx = httpx
        self.errors: type[Exception] = httpx.HTTPError
        self.deadline = deadline
        # trust_env=False: loopback, never through a proxy from the environment
        self.clients = {
            name: httpx.Client(base_url=s.base, trust_env=False, timeout=60)
            for name, s in servers.items()
        }

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def _timeout(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise SoakTimeout
        return min(left, 120.0)

    def get(self, name: str, path: str, **params: Any) -> dict[str, Any]:
        try:
            response = self.clients[name].get(path, params=params, timeout=self._timeout())
        except self._httpx.TimeoutException:
            if time.monotonic() >= self.deadline:
                raise SoakTimeout from None
            raise
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def wait_ready(self, server: Server) -> None:
        while True:
            try:
                server.report = self.get(server.name, "/report")
                server.pid = int(server.report["pid"])
                return
            except self._httpx.TransportError:
                if server.process.poll() is not None:
                    raise ServerFailed(
                        f"the {server.name} server exited with {server.process.returncode}:\n"
                        + server.log_tail()
                    ) from None
                time.sleep(0.2)


def outside_rss(pid: int) -> int | None:
    import psutil

    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


def check_fix_states(servers: dict[str, Server]) -> None:
    """Unpatched runs upstream's cached function, patched the fix, floor the uncached one."""
    problems = []
    for name, server in servers.items():
        report = server.report
        fixes = report.get("fixes")
        state = fixes.get("get_function_nonlocals") if isinstance(fixes, dict) else None
        bound = str(report.get("bound_for_deps"))
        if name == "patched":
            ok = state == "applied" and bound.startswith("FixedGetFunctionNonlocals")
        elif name == "floor":
            ok = state == "not applied" and bound.startswith("uncached function")
        else:
            ok = state == "not applied" and bound.startswith("functools.lru_cache")
        if not ok:
            problems.append(f"{name}: get_function_nonlocals {state!r}, bound: {bound}")
    if problems:
        raise FixCheckFailed("; ".join(problems))


def sample(
    client: Client, server: Server, requests: int, started: float, trim: bool = False
) -> Sample:
    figures = client.get(server.name, "/rss", **({"trim": 1} if trim else {}))
    return Sample(
        requests=requests,
        rss=int(figures["rss"]),
        rss_trimmed=figures.get("rss_trimmed"),
        malloc_free=figures.get("malloc_free"),
        rss_outside=outside_rss(server.pid),
        alive=int(figures["alive"]),
        peak_alive=figures.get("peak_alive"),
        created=int(figures["created"]),
        cache_entries=figures.get("cache_entries"),
        seconds=time.monotonic() - started,
    )


ProgressHook = Callable[[int, dict[str, list[Sample]]], None]


def drive(
    client: Client,
    servers: dict[str, Server],
    settings: dict[str, Any],
    before: dict[str, Sample],
    samples: dict[str, list[Sample]],
    trimmed: dict[str, Sample],
    on_request: ProgressHook,
) -> None:
    """Send ``requests`` requests to each server, in turn; sample RSS as it goes.

    Fills ``before`` (one sample per server before any request), ``samples``
    (after the warm-up, then every ``every`` requests and at the end) and
    ``trimmed`` (one last sample per server, after ``malloc_trim(0)``). Raises
    :class:`SoakTimeout` past the deadline, with what was sampled so far left
    in place.
    """
    started = time.monotonic()
    for name, server in servers.items():
        before[name] = sample(client, server, 0, started)
    names = list(servers)
    requests, every = settings["requests"], settings["every"]
    for i in range(1, requests + 1):
        order = names if i % 2 else names[::-1]  # neither server always goes first
        for name in order:
            client.get(name, "/work", size=settings["payload_bytes"])
        if i == settings["warmup"] or i % every == 0 or i == requests:
            for name in order:
                samples[name].append(sample(client, servers[name], i, started))
        on_request(i, samples)
    # Last, as it changes the allocator's state: what of that RSS is free heap kept.
    for name, server in servers.items():
        trimmed[name] = sample(client, server, requests, started, trim=True)


# --- summarising --------------------------------------------------------------


def summarise(samples: list[Sample], trimmed: Sample | None, payload_bytes: int) -> dict[str, Any]:
    if not samples:
        return {}
    warmup, last = samples[0], samples[-1]
    above_trimmed = None
    if trimmed is not None and trimmed.rss_trimmed is not None:
        above_trimmed = (trimmed.rss_trimmed - warmup.rss) / MIB
    payload_mib = payload_bytes / MIB
    summary: dict[str, Any] = {
        "warmup_requests": warmup.requests,
        "warmup_rss_mib": warmup.rss / MIB,
        "final_requests": last.requests,
        "final_rss_mib": last.rss / MIB,
        "final_above_warmup_mib": last.above(warmup),
        "peak_above_warmup_mib": max(s.above(warmup) for s in samples),
        "trimmed_above_warmup_mib": above_trimmed,
        "final_malloc_free_mib": None if last.malloc_free is None else last.malloc_free / MIB,
        "final_payloads_alive": last.alive,
        "most_payloads_alive_at_once": max(
            (s.peak_alive for s in samples if s.peak_alive is not None), default=None
        ),
        "final_alive_x_payload_mib": last.alive * payload_mib,
        "final_cache_entries": last.cache_entries,
        "entries_per_request": None,
        "expected_pinned_mib": None,
    }
    # Upstream's cache entries per request, read off the warm-up (before 256 is reached).
    if warmup.cache_entries and warmup.requests and warmup.cache_entries < CACHE_SIZE:
        per_request = warmup.cache_entries / warmup.requests
        summary["entries_per_request"] = per_request
        summary["expected_pinned_mib"] = CACHE_SIZE / per_request * payload_mib
    return summary


def environment() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "langgraph": v("langgraph"),
        "langchain-core": v("langchain-core"),
        "uvicorn": v("uvicorn"),
        "starlette": v("starlette"),
        "system": platform.system(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": _load_average(),
    }


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _mib(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def format_markdown(document: dict[str, Any]) -> str:
    env, settings, servers = document["environment"], document["settings"], document["servers"]
    lines = [
        "# Soak: RSS of uvicorn servers building a graph per request",
        "",
        f"Python {env['python']}, langgraph {env['langgraph']}, langchain-core "
        f"{env['langchain-core']}, uvicorn {env['uvicorn']}, {env['system']} {env['machine']}, "
        f"{env['cpus']} CPUs, load average {env['load_average']} at start. "
        f"{settings['requests']} requests to each server, in turn; "
        f"payload {settings['payload_mib']:g} MiB per request; RSS after `gc.collect()` "
        f"in the server, MiB. Servers: unpatched (upstream as installed), patched "
        f"(under `langgraph-fixed run`), floor (upstream with each cache langgraph-fixed "
        f"replaces rebound to the uncached function it wraps).",
    ]
    if not document["completed"]:
        lines += ["", f"**Incomplete: {document['stopped']}.** Figures up to the last sample."]
    lines += [
        "",
        "| server | fix (server's /report) | RSS after warm-up | RSS at end | above warm-up "
        "| peak above warm-up | above warm-up after malloc_trim | payloads alive "
        "| alive x payload | most alive at once | upstream cache entries "
        "| malloc's free memory at end |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in SERVERS:
        info = servers[name]
        s = info["summary"]
        if not s:
            continue
        lines.append(
            f"| {name} | {info['fix_state']} | {_mib(s['warmup_rss_mib'])} "
            f"| {_mib(s['final_rss_mib'])} | {_mib(s['final_above_warmup_mib'], True)} "
            f"| {_mib(s['peak_above_warmup_mib'], True)} "
            f"| {_mib(s['trimmed_above_warmup_mib'], True)} | {s['final_payloads_alive']} "
            f"| {_mib(s['final_alive_x_payload_mib'])} "
            f"| {_or_dash(s['most_payloads_alive_at_once'])} "
            f"| {_or_dash(s['final_cache_entries'])} | {_mib(s['final_malloc_free_mib'])} |"
        )
    for name in SERVERS:
        fixes = servers[name]["report"].get("fixes")
        if isinstance(fixes, dict):
            states = ", ".join(f"{fix} {state}" for fix, state in fixes.items())
            lines += ["", f"Every fix, as the {name} server's `/report` gives it: {states}."]
    unpatched = servers["unpatched"]["summary"]
    if unpatched.get("expected_pinned_mib") is not None:
        lines += [
            "",
            f"Upstream cache entries per request (read off the warm-up): "
            f"{unpatched['entries_per_request']:g}, so a full cache pins "
            f"{CACHE_SIZE} / {unpatched['entries_per_request']:g} x "
            f"{settings['payload_mib']:g} MiB = {unpatched['expected_pinned_mib']:.0f} MiB.",
        ]
    patched, floor = servers["patched"]["summary"], servers["floor"]["summary"]
    if patched and floor:
        excess = patched["final_above_warmup_mib"] - floor["final_above_warmup_mib"]
        line = f"Patched minus floor at the end: {excess:+.1f} MiB of RSS above warm-up"
        if patched["final_malloc_free_mib"] is not None and floor["final_malloc_free_mib"]:
            free = patched["final_malloc_free_mib"] - floor["final_malloc_free_mib"]
            line += f", {free:+.1f} MiB of malloc's free memory"
        lines += [
            "",
            f"{line}; payloads alive: patched {patched['final_payloads_alive']}, "
            f"floor {floor['final_payloads_alive']}.",
        ]
    lines += [
        "",
        "After malloc_trim: once the last sample is taken, each server calls glibc's "
        "`malloc_trim(0)` and reads its RSS again; free heap the allocator had kept goes "
        "back to the system, live memory (pinned payloads) does not.",
        "",
        "RSS above the level after the warm-up, MiB, and payloads still alive:",
        "",
        "| requests | " + " | ".join(f"{name} | alive" for name in SERVERS) + " |",
        "|---|" + "---|---|" * len(SERVERS),
    ]
    by_server = {name: servers[name]["samples"] for name in SERVERS}
    warmups = {name: rows[0] for name, rows in by_server.items() if rows}
    for row in range(max(len(rows) for rows in by_server.values())):
        cells: list[str] = []
        requests = None
        for name in SERVERS:
            rows = by_server[name]
            if row < len(rows):
                requests = rows[row]["requests"]
                above = (rows[row]["rss"] - warmups[name]["rss"]) / MIB
                cells += [_mib(above, True), str(rows[row]["alive"])]
            else:
                cells += ["-", "-"]
        lines.append(f"| {requests} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(document: dict[str, Any], paths: Sequence[Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    env, settings = document["environment"], document["settings"]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    styles = {
        "unpatched": ("tab:red", "o"),
        "patched": ("tab:blue", "s"),
        "floor": ("tab:green", "^"),
    }
    for name in SERVERS:
        rows = document["servers"][name]["samples"]
        if not rows:
            continue
        base = rows[0]["rss"]
        xs = [r["requests"] for r in rows]
        ys = [(r["rss"] - base) / MIB for r in rows]
        color, marker = styles[name]
        label = LABELS[name]
        # the floor dashed and underneath: the patched line often runs on top of it
        linestyle, zorder = ("--", 1) if name == "floor" else ("-", 2)
        ax.plot(
            xs,
            ys,
            color=color,
            marker=marker,
            markersize=3,
            linestyle=linestyle,
            zorder=zorder,
            label=label,
        )
        trimmed = document["servers"][name].get("after_malloc_trim") or {}
        if trimmed.get("rss_trimmed") is not None:
            ax.plot(
                [trimmed["requests"]],
                [(trimmed["rss_trimmed"] - base) / MIB],
                color=color,
                marker=marker,
                markersize=8,
                fillstyle="none",
                linestyle="none",
                label=f"{label}, then malloc_trim(0)",
            )
    expected = document["servers"]["unpatched"]["summary"].get("expected_pinned_mib")
    if expected:
        ax.axhline(
            expected,
            color="grey",
            linestyle="--",
            linewidth=1,
            label=f"{CACHE_SIZE} cache entries' worth of payloads ({expected:.0f} MiB)",
        )
    ax.set_xlabel("requests served by each server")
    ax.set_ylabel(f"RSS above level after {WARMUP}-request warm-up (MiB)")
    ax.set_title(
        f"Graph built per request, {settings['payload_mib']:g} MiB payload each\n"
        f"langgraph {env['langgraph']}, langchain-core {env['langchain-core']}, "
        f"Python {env['python']}",
        fontsize=10,
    )
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center right")
    fig.tight_layout()
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    plt.close(fig)


# --- command line -------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="RSS of uvicorn servers building a graph per request, side by side: "
        "upstream, under langgraph-fixed run, and upstream without its cache (the floor)."
    )
    parser.add_argument(
        "--requests",
        type=_positive_int,
        default=2000,
        help="requests to each server, warm-up included (default 2000)",
    )
    parser.add_argument(
        "--every", type=_positive_int, default=100, help="sample RSS every N requests (100)"
    )
    parser.add_argument(
        "--payload-mb",
        type=_positive_float,
        default=1.0,
        help="payload per request, MiB (default 1)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="results folder (benchmarks/results)"
    )
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="PNG",
        help="also write the plot here (e.g. benchmarks/soak.png)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=900.0,
        help="seconds for the whole run, start-up included (default 900)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or status lines")
    return parser.parse_args(argv)


@contextlib.contextmanager
def progress_bar(total: int, quiet: bool) -> Iterator[ProgressHook]:
    if quiet:
        yield lambda i, samples: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    ) as progress:
        task = progress.add_task("requests per server", total=total)

        def hook(i: int, samples: dict[str, list[Sample]]) -> None:
            description = "requests per server"
            if all(samples.values()):
                above = "  ".join(
                    f"{name} {rows[-1].above(rows[0]):+.0f} MiB" for name, rows in samples.items()
                )
                description = f"{above}  "
            progress.update(task, completed=i, description=description)

        yield hook


def run(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    def say(text: str) -> None:
        if not args.quiet:
            print(text, flush=True)

    payload_bytes = max(1, round(args.payload_mb * MIB))
    settings = {
        "requests": args.requests,
        "every": args.every,
        "warmup": min(WARMUP, args.requests),
        "payload_bytes": payload_bytes,
        "payload_mib": payload_bytes / MIB,
        "timeout_s": args.timeout,
    }
    document: dict[str, Any] = {
        "environment": environment(),
        "settings": settings,
        "completed": False,
        "stopped": None,
        "servers": {},
    }
    started = time.monotonic()
    deadline = started + args.timeout
    code = OK
    samples: dict[str, list[Sample]] = {name: [] for name in SERVERS}
    before: dict[str, Sample] = {}
    trimmed: dict[str, Sample] = {}
    with running_servers(args.out) as servers:
        client = Client(servers, deadline)
        try:
            say("starting: " + ", ".join(f"{n} on {s.base}" for n, s in servers.items()))
            for server in servers.values():
                client.wait_ready(server)
            check_fix_states(servers)
            say(
                "fix states (from each server's /report): "
                + ", ".join(
                    f"{n} {s.report['fixes']['get_function_nonlocals']}" for n, s in servers.items()
                )
            )

            with progress_bar(args.requests, args.quiet) as hook:
                drive(client, servers, settings, before, samples, trimmed, hook)
            document["completed"] = True
        except SoakTimeout:
            document["stopped"] = f"timed out after {args.timeout:g} s"
            code = TIMED_OUT
        except FixCheckFailed as exc:
            document["stopped"] = f"fix check failed: {exc}"
            code = FIX_CHECK_FAILED
        except (ServerFailed, client.errors) as exc:
            logs = "\n".join(f"--- {n} server log:\n{s.log_tail()}" for n, s in servers.items())
            document["stopped"] = f"failed: {exc!r}\n{logs}"
            code = FAILED
        except KeyboardInterrupt:
            document["stopped"] = "interrupted"
            code = INTERRUPTED
        finally:
            client.close()
        for name, server in servers.items():
            fixes = server.report.get("fixes")
            document["servers"][name] = {
                "command": server.command,
                "pid": server.pid,
                "report": server.report,
                "fix_state": fixes.get("get_function_nonlocals")
                if isinstance(fixes, dict)
                else fixes,
                "before_requests": vars(before[name]) if name in before else None,
                "samples": [vars(s) for s in samples[name]],
                "after_malloc_trim": vars(trimmed[name]) if name in trimmed else None,
                "summary": summarise(samples[name], trimmed.get(name), payload_bytes),
            }
    document["elapsed_s"] = time.monotonic() - started
    return code, document


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    missing = missing_requirements()
    if missing:
        print(
            f"bench_soak needs {', '.join(missing)}: pip install 'langgraph-fixed[bench]'",
            file=sys.stderr,
        )
        return USAGE
    args.out = args.out.resolve()
    code, document = run(args)
    if code in (FIX_CHECK_FAILED, FAILED):
        print(f"not measured: {document['stopped']}", file=sys.stderr)
        return code
    markdown = format_markdown(document)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.md").write_text(markdown)
    (args.out / "soak.json").write_text(json.dumps(document, indent=2) + "\n")
    pngs = [args.out / "soak.png"] + ([args.plot] if args.plot else [])
    plot(document, pngs)
    written = [args.out / "soak.md", args.out / "soak.json", *pngs]
    print(markdown)
    print("written: " + ", ".join(str(p) for p in written))
    print(f"(measured in {document['elapsed_s']:.0f} s)")
    if code != OK:
        print(f"incomplete: {document['stopped']}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
