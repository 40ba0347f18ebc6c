"""Soak test: real servers building a graph per request: upstream, fixed, floor.

Starts three server processes on loopback, side by side, of one of two kinds
(``--server``). The default, ``uvicorn``, serves ``benchmarks/soak_app.py``
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

``--server langgraph-dev`` runs LangGraph's own server instead, ``langgraph dev``
(langgraph-api's in-memory runtime) on the test project in ``tests/server/``,
whose graph factory builds a graph around two fresh 1 MiB payloads for every
run: plain ``langgraph dev ...``; ``python -m langgraph_fixed run -- langgraph
dev ...``; and, as the floor, ``python -c FLOOR_BOOT langgraph dev ...`` with
``SOAK_NO_CACHE=1``, which imports ``soak_app`` (rebinding the same caches, as
above) and then runs the ``langgraph`` script in the same interpreter. The unit
of work is a run (``runs.wait`` from langgraph-sdk, ``--concurrency`` at a time
per server), and each sample is the project's ``GET /lgf/payloads`` (payloads
alive after ``gc.collect()``, the server's RSS). Each server works in a folder
of its own under ``--out``, linking the project's files, because langgraph dev
keeps its runtime's files in its working directory.

All get ``PYTHONPATH`` pointing at this checkout. This script is the client,
in its own process: it sends the work to the servers in turn (a request, or
``--concurrency`` runs, to each, the order reversed every other time), and
asks each server for its resident set size (the server runs ``gc.collect()``
first, then reads its own RSS; the script also reads it from outside, with
psutil) after a 5-request (5-run) warm-up and then every ``--every`` requests.

Upstream's cache is bounded (256 entries), so the unpatched server's RSS climbs
until the cache is full and then stays high: the figure that matters is how far
RSS sits above its level after the warm-up, not its slope at the end. The
servers also report how many payloads are still alive (and the uvicorn app how
many entries upstream's cache holds), so the RSS can be checked against
``payloads alive x payload size``.

Writes ``soak.md`` (the tables), ``soak.json`` (every sample) and ``soak.png``
(RSS above warm-up against requests) to ``--out`` (default
``benchmarks/results/``; ``soak-langgraph-dev.*`` in the langgraph-dev mode),
and the plot also to ``--plot`` if given. Servers are always terminated: at the
end, on error, on Ctrl-C, on SIGTERM, and (Linux) if this process dies.
Nothing is asserted: this script only measures.

Run from the repository root (needs the ``bench`` extra: uvicorn, starlette,
httpx, psutil, matplotlib, rich; the langgraph-dev mode also langgraph-cli[inmem]
and langgraph-sdk)::

    python benchmarks/bench_soak.py [--requests 2000] [--every 100] [--payload-mb 1]
    python benchmarks/bench_soak.py --server langgraph-dev [--runs 500] [--every 25]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
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
PROJECT = ROOT / "tests" / "server"  # the langgraph-dev mode's test project
DEFAULT_OUT = BENCH_DIR / "results"
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
    """A server's report does not show the state of the fix it should."""


class ServerFailed(Exception):
    """A server exited, or answered with an error."""


# --- what each kind of server serves -----------------------------------------


class Mode:
    """What differs between the kinds of server: commands, work, samples, wording.

    Each kind starts the same three servers (``SERVERS``); what they share is here.
    """

    key: str  # --server
    stem: str  # output files: <stem>.md, <stem>.json, <stem>.png, <stem>-<server>.log
    unit: str  # of work: "request" or "run"
    title: str  # of the Markdown
    report_path: str  # the server's route giving its pid and the state of the fix
    requirements: tuple[str, ...]
    default_requests: int
    default_every: int
    batch = 1  # units of work sent to one server at its turn
    can_trim = False  # the server can call malloc_trim(0) and read its RSS again

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    def environment(self, name: str) -> dict[str, str]:
        """This checkout first on the path; the fix's switch unset (``run`` sets it itself).

        The floor server alone gets ``SOAK_NO_CACHE=1``.
        """
        env = {k: v for k, v in os.environ.items() if k not in ("LANGGRAPH_FIXED", "SOAK_NO_CACHE")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        if name == "floor":
            env["SOAK_NO_CACHE"] = "1"
        return env

    def workdir(self, name: str, out: Path) -> Path:
        return ROOT

    def read_report(self, client: Client, server: Server) -> dict[str, Any]:
        return client.get(server.name, self.report_path)

    def connect(self, servers: dict[str, Server]) -> None:
        """Ready to send work to ``servers`` (they answer)."""

    def close(self) -> None:
        pass

    def command(self, name: str) -> list[str]:
        raise NotImplementedError

    def fix_state(self, report: dict[str, Any]) -> Any:
        raise NotImplementedError

    def check_fix_states(self, servers: dict[str, Server]) -> None:
        raise NotImplementedError

    def work(self, client: Client, name: str, count: int) -> None:
        raise NotImplementedError

    def sample(
        self, client: Client, server: Server, done: int, started: float, trim: bool = False
    ) -> Sample:
        raise NotImplementedError

    def setting(self, document: dict[str, Any]) -> str:
        """What ran, for the Markdown: versions, machine, work, servers."""
        raise NotImplementedError

    def plot_title(self, document: dict[str, Any]) -> str:
        raise NotImplementedError


class Uvicorn(Mode):
    """``benchmarks/soak_app.py`` under uvicorn; the unit of work is a ``GET /work``."""

    key = "uvicorn"
    stem = "soak"
    unit = "request"
    title = "Soak: RSS of uvicorn servers building a graph per request"
    report_path = "/report"
    requirements = ("uvicorn", "starlette", "httpx", "psutil", "matplotlib", "rich")
    default_requests, default_every = 2000, 100
    can_trim = True

    def command(self, name: str) -> list[str]:
        """The server's command line; ``{port}`` stands for its port."""
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
            "{port}",
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        if name == "patched":
            return [sys.executable, "-m", "langgraph_fixed", "run", "--", *uvicorn]
        return uvicorn

    def fix_state(self, report: dict[str, Any]) -> Any:
        fixes = report.get("fixes")
        return fixes.get("get_function_nonlocals") if isinstance(fixes, dict) else fixes

    def check_fix_states(self, servers: dict[str, Server]) -> None:
        """Unpatched runs upstream's cached function, patched the fix, floor the uncached one."""
        problems = []
        for name, server in servers.items():
            state = self.fix_state(server.report)
            bound = str(server.report.get("bound_for_deps"))
            if name == "patched":
                ok = state == "applied" and bound.startswith("langgraph-fixed replacement")
            elif name == "floor":
                ok = state == "not applied" and bound.startswith("uncached function")
            else:
                ok = state == "not applied" and bound.startswith("functools.lru_cache")
            if not ok:
                problems.append(f"{name}: get_function_nonlocals {state!r}, bound: {bound}")
        if problems:
            raise FixCheckFailed("; ".join(problems))

    def work(self, client: Client, name: str, count: int) -> None:
        for _ in range(count):
            client.get(name, "/work", size=self.settings["payload_bytes"])

    def sample(
        self, client: Client, server: Server, done: int, started: float, trim: bool = False
    ) -> Sample:
        figures = client.get(server.name, "/rss", **({"trim": 1} if trim else {}))
        return Sample(
            requests=done,
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

    def setting(self, document: dict[str, Any]) -> str:
        env, settings = document["environment"], document["settings"]
        return (
            f"Python {env['python']}, langgraph {env['langgraph']}, langchain-core "
            f"{env['langchain-core']}, uvicorn {env['uvicorn']}, {env['system']} "
            f"{env['machine']}, {env['cpus']} CPUs, load average {env['load_average']} at "
            f"start. {settings['requests']} requests to each server, in turn; payload "
            f"{settings['payload_mib']:g} MiB per request; RSS after `gc.collect()` in the "
            f"server, MiB. Servers: unpatched (upstream as installed), patched (under "
            f"`langgraph-fixed run`), floor (upstream with each cache langgraph-fixed "
            f"replaces rebound to the uncached function it wraps)."
        )

    def plot_title(self, document: dict[str, Any]) -> str:
        env, settings = document["environment"], document["settings"]
        return (
            f"Graph built per request, {settings['payload_mib']:g} MiB payload each\n"
            f"langgraph {env['langgraph']}, langchain-core {env['langchain-core']}, "
            f"Python {env['python']}"
        )


#: The floor of the langgraph-dev mode: ``python -c FLOOR_BOOT <langgraph> dev ...``
#: with ``SOAK_NO_CACHE=1`` imports ``soak_app``, which rebinds upstream's caches
#: to the functions they wrap wherever a loaded module holds them (langgraph dev
#: and the test project's graph, imported later, get the uncached functions),
#: prints what it rebound after ``FLOOR_MARK``, and runs the ``langgraph`` script
#: in this same interpreter. The test project is not touched.
FLOOR_MARK = "bench_soak floor, rebound to uncached:"
FLOOR_BOOT = f"""\
import json, runpy, sys
sys.path.insert(0, {str(BENCH_DIR)!r})
import soak_app
sys.path.pop(0)
print({FLOOR_MARK!r}, json.dumps(soak_app.REBOUND), flush=True)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


class LanggraphDev(Mode):
    """``langgraph dev`` on the test project in ``tests/server/``; the unit of work is a run."""

    key = "langgraph-dev"
    stem = "soak-langgraph-dev"
    unit = "run"
    title = "Soak: RSS of `langgraph dev` servers building a graph per run"
    report_path = "/lgf/payloads"
    requirements = ("langgraph_api", "langgraph_sdk", "httpx", "psutil", "matplotlib", "rich")
    default_requests, default_every = 500, 25
    graph = "leaky"  # the project's graph: a factory, two 1 MiB payloads per run
    payloads_per_run = 2
    result = payloads_per_run * MIB  # what each run returns as "n"

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__(settings)
        self.batch = settings["concurrency"]
        self.sdk: dict[str, Any] = {}
        self.pool: Any = None

    def command(self, name: str) -> list[str]:
        langgraph = Path(sys.executable).parent / "langgraph"
        script = str(langgraph) if langgraph.exists() else shutil.which("langgraph") or "langgraph"
        dev = [
            script,
            "dev",
            "--no-browser",
            "--no-reload",
            "--allow-blocking",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--n-jobs-per-worker",
            str(self.settings["concurrency"]),
            "--config",
            "langgraph.json",
        ]
        if name == "patched":
            return [sys.executable, "-m", "langgraph_fixed", "run", "--", *dev]
        if name == "floor":
            return [sys.executable, "-c", FLOOR_BOOT, *dev]
        return dev

    def environment(self, name: str) -> dict[str, str]:
        env = super().environment(name)
        env.update(LANGSMITH_TRACING="false", LANGGRAPH_CLI_NO_ANALYTICS="1")
        return env

    def workdir(self, name: str, out: Path) -> Path:
        """A folder of the server's own, linking the test project's files.

        langgraph dev reads ``langgraph.json``'s paths from its working directory
        and keeps its runtime's files there (``.langgraph_api/``, flushed every
        10 s through one temporary file name): three servers must not share it.
        Emptied first, so that no run left over from an earlier soak is retried.
        """
        folder = out / f"langgraph-dev-{name}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for source in PROJECT.iterdir():
            if not source.name.startswith(".") and source.name != "__pycache__":
                (folder / source.name).symlink_to(source)
        return folder

    def fix_state(self, report: dict[str, Any]) -> Any:
        return report.get("fix")

    def check_fix_states(self, servers: dict[str, Server]) -> None:
        """Unpatched: not applied; patched: applied; floor: not applied, its caches rebound."""
        problems = []
        for name, server in servers.items():
            state = self.fix_state(server.report)
            rebound = server.report.get("rebound_to_uncached") or []
            if name == "patched":
                ok = state == "applied"
            elif name == "floor":
                needed = "langchain_core.runnables.base.get_function_nonlocals"
                ok = state == "not applied" and needed in rebound
            else:
                ok = state == "not applied"
            if not ok:
                problems.append(f"{name}: get_function_nonlocals {state!r}, rebound: {rebound}")
        if problems:
            raise FixCheckFailed("; ".join(problems))

    def read_report(self, client: Client, server: Server) -> dict[str, Any]:
        report = client.get(server.name, self.report_path)
        if server.name == "floor":  # what FLOOR_BOOT printed before the server started
            for line in server.log_tail(lines=None).splitlines():
                if line.startswith(FLOOR_MARK):
                    report["rebound_to_uncached"] = json.loads(line[len(FLOOR_MARK) :])
        return report

    def connect(self, servers: dict[str, Server]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from langgraph_sdk import get_sync_client

        self.sdk = {name: get_sync_client(url=s.base, timeout=120) for name, s in servers.items()}
        self.pool = ThreadPoolExecutor(self.settings["concurrency"])

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        for sdk in self.sdk.values():
            sdk.close()

    def work(self, client: Client, name: str, count: int) -> None:
        """``count`` stateless runs of the project's graph on one server, all at once."""
        client.time_left()  # past the deadline: SoakTimeout

        def one(_: int) -> None:
            result = self.sdk[name].runs.wait(None, self.graph, input={"n": 0})
            if not isinstance(result, dict) or result.get("n") != self.result:
                raise ServerFailed(f"a run on the {name} server returned {result!r}")

        list(self.pool.map(one, range(count)))

    def sample(
        self, client: Client, server: Server, done: int, started: float, trim: bool = False
    ) -> Sample:
        figures = client.get(server.name, self.report_path)
        return Sample(
            requests=done,
            rss=round(figures["rss_mib"] * MIB),
            rss_trimmed=None,
            malloc_free=None,
            rss_outside=outside_rss(server.pid),
            alive=int(figures["alive"]),
            peak_alive=None,
            created=int(figures["created"]),
            cache_entries=None,
            seconds=time.monotonic() - started,
        )

    def setting(self, document: dict[str, Any]) -> str:
        env, settings = document["environment"], document["settings"]
        return (
            f"Python {env['python']}, langgraph {env['langgraph']}, langchain-core "
            f"{env['langchain-core']}, langgraph-api {env['langgraph-api']}, langgraph-cli "
            f"{env['langgraph-cli']}, langgraph-runtime-inmem {env['langgraph-runtime-inmem']}, "
            f"{env['system']} {env['machine']}, {env['cpus']} CPUs, load average "
            f"{env['load_average']} at start. `langgraph dev` on `tests/server/` "
            f"(`--n-jobs-per-worker {settings['concurrency']}`); {settings['requests']} "
            f"stateless runs of its graph to each server, {settings['concurrency']} at a "
            f"time, the servers in turn; each run's graph holds two 1 MiB payloads. RSS "
            f"after `gc.collect()` in the server (its `/lgf/payloads` route), MiB. Servers: "
            f"unpatched (upstream as installed), patched (under `langgraph-fixed run`), floor "
            f"(upstream with each cache langgraph-fixed replaces rebound to the uncached "
            f"function it wraps, before langgraph dev starts)."
        )

    def plot_title(self, document: dict[str, Any]) -> str:
        env = document["environment"]
        return (
            "langgraph dev, graph built per run by a factory, two 1 MiB payloads each\n"
            f"langgraph {env['langgraph']}, langchain-core {env['langchain-core']}, "
            f"langgraph-api {env['langgraph-api']}, Python {env['python']}"
        )


MODES: dict[str, type[Mode]] = {mode.key: mode for mode in (Uvicorn, LanggraphDev)}


def missing_requirements(mode: type[Mode] = Uvicorn) -> list[str]:
    return [name for name in mode.requirements if importlib.util.find_spec(name) is None]


# --- the servers --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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

    def log_tail(self, lines: int | None = 20) -> str:
        """The last ``lines`` lines of the server's log (all of it with ``None``)."""
        self.log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:] if lines else text.splitlines())


def start_server(mode: Mode, name: str, out: Path) -> Server:
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in mode.command(name)]
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / f"{mode.stem}-{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        command,
        cwd=mode.workdir(name, out),
        env=mode.environment(name),
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
def running_servers(mode: Mode, out: Path) -> Iterator[dict[str, Server]]:
    servers: dict[str, Server] = {}
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally below

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        for name in SERVERS:
            servers[name] = start_server(mode, name, out)
        yield servers
    finally:
        for server in servers.values():
            stop_server(server)
        signal.signal(signal.SIGTERM, previous)


# --- the client ---------------------------------------------------------------


@dataclass
class Sample:
    requests: int  # units of work (requests, or runs) sent to the server so far
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

    def time_left(self) -> float:
        """Seconds for the next call (at most 120); :class:`SoakTimeout` past the deadline."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise SoakTimeout
        return min(left, 120.0)

    def get(self, name: str, path: str, **params: Any) -> dict[str, Any]:
        try:
            response = self.clients[name].get(path, params=params, timeout=self.time_left())
        except self._httpx.TimeoutException:
            if time.monotonic() >= self.deadline:
                raise SoakTimeout from None
            raise
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def wait_ready(self, server: Server, read: Callable[[Client, Server], dict[str, Any]]) -> None:
        """Until the server answers ``read``, which gives its report (with its pid)."""
        while True:
            try:
                server.report = read(self, server)
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


ProgressHook = Callable[[int, dict[str, list[Sample]]], None]


def next_sample(done: int, settings: dict[str, Any]) -> int:
    """Where the next sample falls: the warm-up, every ``every`` units, the end."""
    every, total, warmup = (int(settings[key]) for key in ("every", "requests", "warmup"))
    return min([(done // every + 1) * every, total] + ([warmup] if done < warmup else []))


def drive(
    client: Client,
    mode: Mode,
    servers: dict[str, Server],
    settings: dict[str, Any],
    before: dict[str, Sample],
    samples: dict[str, list[Sample]],
    trimmed: dict[str, Sample],
    on_progress: ProgressHook,
) -> None:
    """Send ``requests`` units of work to each server, in turn; sample RSS as it goes.

    Each turn sends one server ``mode.batch`` units (fewer where a sample is
    due); the order of the servers is reversed at every other turn, so that
    none always goes first. Fills ``before`` (one sample per server before any
    work), ``samples`` (after the warm-up, then every ``every`` units and at the
    end) and, where the mode can trim, ``trimmed`` (one last sample per server,
    after ``malloc_trim(0)``). Raises :class:`SoakTimeout` past the deadline,
    with what was sampled so far left in place.
    """
    started = time.monotonic()
    for name, server in servers.items():
        before[name] = mode.sample(client, server, 0, started)
    names = list(servers)
    done = turn = 0
    while done < settings["requests"]:
        due = next_sample(done, settings)
        count = min(mode.batch, due - done)
        turn += 1
        order = names if turn % 2 else names[::-1]
        for name in order:
            mode.work(client, name, count)
        done += count
        if done == due:
            for name in order:
                samples[name].append(mode.sample(client, servers[name], done, started))
        on_progress(done, samples)
    if mode.can_trim:  # last, as it changes the allocator's state: what of RSS is free heap
        for name, server in servers.items():
            trimmed[name] = mode.sample(client, server, done, started, trim=True)


# --- summarising --------------------------------------------------------------


def summarise(samples: list[Sample], trimmed: Sample | None, payload_bytes: int) -> dict[str, Any]:
    if not samples:
        return {}
    warmup, last = samples[0], samples[-1]
    above_trimmed = None
    if trimmed is not None and trimmed.rss_trimmed is not None:
        above_trimmed = (trimmed.rss_trimmed - warmup.rss) / MIB
    above_outside = None
    if warmup.rss_outside is not None and last.rss_outside is not None:
        above_outside = (last.rss_outside - warmup.rss_outside) / MIB
    payload_mib = payload_bytes / MIB
    summary: dict[str, Any] = {
        "warmup_requests": warmup.requests,
        "warmup_rss_mib": warmup.rss / MIB,
        "final_requests": last.requests,
        "final_rss_mib": last.rss / MIB,
        "final_above_warmup_mib": last.above(warmup),
        "final_outside_above_warmup_mib": above_outside,
        "peak_above_warmup_mib": max(s.above(warmup) for s in samples),
        "trimmed_above_warmup_mib": above_trimmed,
        "final_malloc_free_mib": None if last.malloc_free is None else last.malloc_free / MIB,
        "final_payloads_created": last.created,
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

    packages = ("langgraph", "langchain-core", "uvicorn", "starlette")
    servers = ("langgraph-api", "langgraph-cli", "langgraph-runtime-inmem", "langgraph-sdk")
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        **{name: v(name) for name in packages + servers},
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


def mode_of(document: dict[str, Any]) -> Mode:
    settings = document["settings"]
    return MODES[settings.get("server", Uvicorn.key)](settings)


#: The summary table's columns after the server's name: header, cell from
#: (server's entry in the document, its summary). Columns no server has a
#: figure for (e.g. malloc_trim in the langgraph-dev mode) are left out.
SUMMARY_COLUMNS: tuple[tuple[str, Callable[[dict[str, Any], dict[str, Any]], str]], ...] = (
    ("fix (server's `{report}`)", lambda info, s: str(info["fix_state"])),
    ("RSS after warm-up", lambda info, s: _mib(s["warmup_rss_mib"])),
    ("RSS at end", lambda info, s: _mib(s["final_rss_mib"])),
    ("above warm-up", lambda info, s: _mib(s["final_above_warmup_mib"], True)),
    ("above warm-up, from outside", lambda i, s: _mib(s["final_outside_above_warmup_mib"], True)),
    ("peak above warm-up", lambda info, s: _mib(s["peak_above_warmup_mib"], True)),
    (
        "above warm-up after malloc_trim",
        lambda info, s: _mib(s["trimmed_above_warmup_mib"], True),
    ),
    ("payloads created", lambda info, s: str(s["final_payloads_created"])),
    ("payloads alive", lambda info, s: str(s["final_payloads_alive"])),
    ("alive x payload", lambda info, s: _mib(s["final_alive_x_payload_mib"])),
    ("most alive at once", lambda info, s: _or_dash(s["most_payloads_alive_at_once"])),
    ("upstream cache entries", lambda info, s: _or_dash(s["final_cache_entries"])),
    ("malloc's free memory at end", lambda info, s: _mib(s["final_malloc_free_mib"])),
)


def summary_table(document: dict[str, Any], report_path: str) -> list[str]:
    servers = document["servers"]
    shown = [name for name in SERVERS if servers[name]["summary"]]
    cells = {
        name: [cell(servers[name], servers[name]["summary"]) for _, cell in SUMMARY_COLUMNS]
        for name in shown
    }
    keep = [i for i in range(len(SUMMARY_COLUMNS)) if any(cells[n][i] != "-" for n in shown)]
    headers = [SUMMARY_COLUMNS[i][0].format(report=report_path) for i in keep]
    lines = ["| server | " + " | ".join(headers) + " |", "|---|" + "---|" * len(keep)]
    for name in shown:
        lines.append(f"| {name} | " + " | ".join(cells[name][i] for i in keep) + " |")
    return lines


def format_markdown(document: dict[str, Any]) -> str:
    mode = mode_of(document)
    settings, servers = document["settings"], document["servers"]
    lines = [f"# {mode.title}", "", mode.setting(document)]
    if not document["completed"]:
        lines += ["", f"**Incomplete: {document['stopped']}.** Figures up to the last sample."]
    lines += ["", *summary_table(document, mode.report_path)]
    for name in SERVERS:
        fixes = servers[name]["report"].get("fixes")
        if isinstance(fixes, dict):
            states = ", ".join(f"{fix} {state}" for fix, state in fixes.items())
            lines += ["", f"Every fix, as the {name} server's `/report` gives it: {states}."]
    rebound = servers["floor"]["report"].get("rebound_to_uncached")
    if rebound:
        lines += ["", f"Rebound to the uncached function in the floor: {', '.join(rebound)}."]
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
    if mode.can_trim:
        lines += [
            "",
            "After malloc_trim: once the last sample is taken, each server calls glibc's "
            "`malloc_trim(0)` and reads its RSS again; free heap the allocator had kept goes "
            "back to the system, live memory (pinned payloads) does not.",
        ]
    lines += [
        "",
        "RSS above the level after the warm-up, MiB, and payloads still alive:",
        "",
        f"| {mode.unit}s | " + " | ".join(f"{name} | alive" for name in SERVERS) + " |",
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

    mode = mode_of(document)
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
    ax.set_xlabel(f"{mode.unit}s served by each server")
    ax.set_ylabel(f"RSS above level after {WARMUP}-{mode.unit} warm-up (MiB)")
    ax.set_title(mode.plot_title(document), fontsize=10)
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
        description="RSS of servers building a graph per request, side by side: "
        "upstream, under langgraph-fixed run, and upstream without its cache (the floor)."
    )
    parser.add_argument(
        "--server",
        choices=list(MODES),
        default=Uvicorn.key,
        help="uvicorn: benchmarks/soak_app.py, a request at a time (the default); "
        "langgraph-dev: `langgraph dev` on tests/server/, runs driven with langgraph-sdk",
    )
    parser.add_argument(
        "--requests",
        "--runs",
        type=_positive_int,
        metavar="N",
        help="requests (runs) to each server, warm-up included "
        f"(default {Uvicorn.default_requests}; {LanggraphDev.default_requests} runs)",
    )
    parser.add_argument(
        "--every",
        type=_positive_int,
        help=f"sample RSS every N requests (runs) (default {Uvicorn.default_every}; "
        f"{LanggraphDev.default_every} runs)",
    )
    parser.add_argument(
        "--payload-mb",
        type=_positive_float,
        help="payload per request, MiB (default 1; uvicorn only: a run's payloads are "
        "the test project's, 2 x 1 MiB)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        help="langgraph-dev only: runs at once per server, and its --n-jobs-per-worker (10)",
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
    args = parser.parse_args(argv)
    if args.server == LanggraphDev.key and args.payload_mb is not None:
        parser.error("--payload-mb: the langgraph-dev mode's payloads are the test project's")
    if args.server == Uvicorn.key and args.concurrency is not None:
        parser.error("--concurrency: the uvicorn mode sends one request at a time")
    return args


@contextlib.contextmanager
def progress_bar(total: int, unit: str, quiet: bool) -> Iterator[ProgressHook]:
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
        task = progress.add_task(f"{unit}s per server", total=total)

        def hook(i: int, samples: dict[str, list[Sample]]) -> None:
            description = f"{unit}s per server"
            if all(samples.values()):
                above = "  ".join(
                    f"{name} {rows[-1].above(rows[0]):+.0f} MiB" for name, rows in samples.items()
                )
                description = f"{above}  "
            progress.update(task, completed=i, description=description)

        yield hook


def make_settings(args: argparse.Namespace) -> dict[str, Any]:
    mode = MODES[args.server]
    requests = args.requests or mode.default_requests
    if mode is LanggraphDev:
        payload_bytes, per_unit = MIB, LanggraphDev.payloads_per_run
        concurrency: int | None = args.concurrency or 10
    else:
        payload_bytes, per_unit = max(1, round((args.payload_mb or 1) * MIB)), 1
        concurrency = None
    return {
        "server": mode.key,
        "unit": mode.unit,
        "requests": requests,
        "every": args.every or mode.default_every,
        "warmup": min(WARMUP, requests),
        "payload_bytes": payload_bytes,  # each payload's size
        "payload_mib": payload_bytes / MIB,
        "payloads_per_unit": per_unit,
        "concurrency": concurrency,
        "timeout_s": args.timeout,
    }


def run(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    def say(text: str) -> None:
        if not args.quiet:
            print(text, flush=True)

    settings = make_settings(args)
    mode = MODES[args.server](settings)
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
    with running_servers(mode, args.out) as servers:
        client = Client(servers, deadline)
        try:
            say("starting: " + ", ".join(f"{n} on {s.base}" for n, s in servers.items()))
            for server in servers.values():
                client.wait_ready(server, mode.read_report)
            mode.check_fix_states(servers)
            say(
                f"fix states (from each server's {mode.report_path}): "
                + ", ".join(f"{n} {mode.fix_state(s.report)}" for n, s in servers.items())
            )
            mode.connect(servers)
            with progress_bar(settings["requests"], mode.unit, args.quiet) as hook:
                drive(client, mode, servers, settings, before, samples, trimmed, hook)
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
            mode.close()
            client.close()
        for name, server in servers.items():
            document["servers"][name] = {
                "command": server.command,
                "pid": server.pid,
                "report": server.report,
                "fix_state": mode.fix_state(server.report),
                "before_requests": vars(before[name]) if name in before else None,
                "samples": [vars(s) for s in samples[name]],
                "after_malloc_trim": vars(trimmed[name]) if name in trimmed else None,
                "summary": summarise(samples[name], trimmed.get(name), settings["payload_bytes"]),
            }
    document["elapsed_s"] = time.monotonic() - started
    return code, document


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    mode = MODES[args.server]
    missing = missing_requirements(mode)
    if missing:
        extra = " and 'langgraph-cli[inmem]' langgraph-sdk" if mode is LanggraphDev else ""
        print(
            f"bench_soak --server {mode.key} needs {', '.join(missing)}: "
            f"pip install 'langgraph-fixed[bench]'{extra}",
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
    md, js = args.out / f"{mode.stem}.md", args.out / f"{mode.stem}.json"
    md.write_text(markdown)
    js.write_text(json.dumps(document, indent=2) + "\n")
    pngs = [args.out / f"{mode.stem}.png"] + ([args.plot] if args.plot else [])
    plot(document, pngs)
    print(markdown)
    print("written: " + ", ".join(str(p) for p in [md, js, *pngs]))
    print(f"(measured in {document['elapsed_s']:.0f} s)")
    if code != OK:
        print(f"incomplete: {document['stopped']}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
