"""Zero-code activation in every process: ``langgraph-fixed run`` and ``LANGGRAPH_FIXED=1``.

Real child processes: a uvicorn server with two worker processes serving a
graph per request, and multiprocessing pools (spawn, forkserver). Each test
runs the same thing without the switch and shows the leak there.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = [sys.executable, "-m", "langgraph_fixed", "run", "--"]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LANGGRAPH_FIXED"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_pool_children_are_fixed_under_run(method: str) -> None:
    command = [sys.executable, str(ROOT / "tests" / "apps" / "spawn_pool.py"), method]
    fixed = subprocess.run(
        RUN + command, capture_output=True, text=True, env=environment(), timeout=600
    )
    plain = subprocess.run(command, capture_output=True, text=True, env=environment(), timeout=600)
    assert fixed.returncode == 0 and plain.returncode == 0, fixed.stderr + plain.stderr

    fixed_reports, plain_reports = json_lines(fixed.stdout), json_lines(plain.stdout)
    assert len({r["pid"] for r in fixed_reports}) == 2, fixed_reports
    for report in fixed_reports:
        assert (report["fix"], report["created"], report["alive"]) == ("applied", 300, 0)
    for report in plain_reports:  # the same children without the switch: the leak
        assert (report["fix"], report["created"], report["alive"]) == ("not applied", 300, 256)


def test_run_reports_a_missing_command() -> None:
    result = subprocess.run(
        [*RUN, "no-such-command-xyz"], capture_output=True, text=True, env=environment()
    )
    assert result.returncode == 127
    assert "command not found" in result.stderr


def _pth_installed() -> bool:
    return (Path(sysconfig.get_paths()["purelib"]) / "langgraph_fixed_startup.pth").exists()


@pytest.mark.skipif(not _pth_installed(), reason="needs langgraph-fixed installed (its .pth)")
def test_environment_switch_alone() -> None:
    """LANGGRAPH_FIXED=1, no wrapper and no PYTHONPATH trick: the installed .pth does it."""
    code = (
        "import json; from langgraph_fixed.diagnostics.scenarios import SCENARIOS, measure; "
        "s = next(s for s in SCENARIOS if s.name == 'get_graph_closure_lambda'); "
        "print(json.dumps({'alive': measure(s, 300).alive}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("LANGGRAPH_FIXED", "PYTHONPATH")}
    outcomes = {}
    for switch in ("1", "0"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**env, "LANGGRAPH_FIXED": switch},
            cwd="/",
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        outcomes[switch] = json_lines(result.stdout)[0]["alive"]
    assert outcomes == {"1": 0, "0": 256}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def uvicorn_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.apps.leak_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "2",
        "--log-level",
        "warning",
    ]


def gunicorn_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "tests.apps.leak_app:app",
        "--worker-class",
        "uvicorn_worker.UvicornWorker",
        "--workers",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
    ]


@contextmanager
def server(prefix: list[str], command: list[str], port: int) -> Iterator[str]:
    """A server with two worker processes (uvicorn's own, or gunicorn's) on ``port``,
    started with ``prefix`` (``langgraph-fixed run --`` or nothing); its base URL once
    both workers answer."""
    process = subprocess.Popen(prefix + command, cwd=ROOT, env=environment())
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        # both workers up before any request counts: on a busy machine the
        # second one can still be importing when the first answers
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while len(workers) < 2:
            with suppress(httpx.TransportError):
                workers.add(httpx.get(f"{base}/report", timeout=5).json()["pid"])
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start two workers (saw {workers})")
            time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def drive(base: str, requests: int) -> dict[int, dict[str, Any]]:
    """Send requests on fresh connections (so both workers serve), then ask every worker."""
    import httpx

    reports: dict[int, dict[str, Any]] = {}
    no_keepalive = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=base, limits=no_keepalive, timeout=30) as client:
        for _ in range(requests):
            client.get("/work").raise_for_status()
        deadline = time.monotonic() + 60
        while len(reports) < 2 and time.monotonic() < deadline:
            report = client.get("/report").json()
            reports[report["pid"]] = report
            time.sleep(0.01)
    return reports


@pytest.mark.parametrize("wrapped", [True, False], ids=["langgraph-fixed run", "plain"])
@pytest.mark.parametrize("kind", ["uvicorn", "gunicorn"])
def test_server_workers(kind: str, wrapped: bool) -> None:
    """uvicorn's own workers, and gunicorn's with uvicorn workers (forked from a master
    that never imports LangChain): every worker is fixed under `langgraph-fixed run`."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("httpx")
    if kind == "gunicorn":
        pytest.importorskip("gunicorn")
        pytest.importorskip("uvicorn_worker")
    port = free_port()
    command = uvicorn_command(port) if kind == "uvicorn" else gunicorn_command(port)
    with server(RUN if wrapped else [], command, port) as base:
        reports = drive(base, 600)
    assert len(reports) == 2, f"expected two workers, saw {reports}"
    assert sum(r["created"] for r in reports.values()) == 600
    for report in reports.values():
        if wrapped:
            assert report["fix"] == "applied"
            assert report["alive"] == 0, report
        else:
            assert report["fix"] == "not applied"
            # upstream's cache keeps the last 256 of what each worker served
            assert report["alive"] == min(report["created"], 256), report


def test_run_applies_each_fix_when_its_module_is_imported() -> None:
    """Under `run`, no fix imports a target from inside another import (no warning)."""
    code = (
        "import json\n"
        "from langchain_core.runnables import RunnableLambda\n"
        "RunnableLambda(lambda x: x).deps\n"
        "from langchain_core.tools import StructuredTool\n"
        "import langgraph_fixed\n"
        "print(json.dumps({s.fix: s.state.value for s in langgraph_fixed.status()}))\n"
    )
    result = subprocess.run(
        [*RUN, sys.executable, "-W", "error::UserWarning", "-c", code],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "langgraph-fixed" not in result.stderr, result.stderr
    states = json_lines(result.stdout)[0]
    assert states["get_function_nonlocals"] == "applied"
    assert not {"skipped", "failed"} & set(states.values()), states
    assert states["model_json_schema"] in ("applied", "not needed"), states
