"""LangGraph's own server (``langgraph dev``, the langgraph-api runtime), four ways.

The test project in ``tests/server/`` names a graph factory in ``langgraph.json``:
langgraph-api calls it for every run, and each call builds a graph whose nodes
close over fresh 1 MiB payloads. Its custom route reports the payloads still
alive after ``gc.collect()`` and the server's RSS. The server runs on loopback
plain, under ``langgraph-fixed run``, with ``LANGGRAPH_FIXED=1``, and with
``apply()`` at the top of the graph module; runs are driven with langgraph-sdk,
several at once. Runs with the ``server`` nox session, which installs the
pinned langgraph-cli / langgraph-api set; skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph_api", reason="the server nox session installs langgraph-api")
pytest.importorskip("langgraph_sdk")

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "tests" / "server"
WARM_UP = 5
RUNS = int(os.environ.get("LGF_SERVER_RUNS", "60"))
CONCURRENT = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pth_installed() -> bool:
    return (Path(sysconfig.get_paths()["purelib"]) / "langgraph_fixed_startup.pth").exists()


WAYS = {
    "plain": ([], {}),
    "langgraph-fixed run": ([sys.executable, "-m", "langgraph_fixed", "run", "--"], {}),
    "LANGGRAPH_FIXED=1": ([], {"LANGGRAPH_FIXED": "1"}),
    "apply() in the graph module": ([], {"LGF_APPLY_IN_GRAPH_MODULE": "1"}),
}


@contextmanager
def langgraph_dev(prefix: list[str], extra_env: dict[str, str]) -> Iterator[str]:
    """``langgraph dev`` on a free loopback port; its URL once it answers, stopped after."""
    langgraph = shutil.which("langgraph") or str(Path(sys.executable).parent / "langgraph")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("LANGGRAPH_FIXED", "PYTHONPATH")}
    env.update(LANGSMITH_TRACING="false", LANGGRAPH_CLI_NO_ANALYTICS="1", **extra_env)
    command = [
        *prefix,
        langgraph,
        "dev",
        "--no-browser",
        "--no-reload",
        "--allow-blocking",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n-jobs-per-worker",
        str(CONCURRENT),
        "--config",
        str(PROJECT / "langgraph.json"),
    ]
    log = (ROOT / "build" / f"langgraph-dev-{port}.log").resolve()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 180
        while True:
            with suppress(httpx.TransportError):
                if httpx.get(f"{base}/ok", timeout=5).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"langgraph dev did not start: {log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def report(base: str) -> dict[str, Any]:
    import httpx

    return dict(httpx.get(f"{base}/lgf/payloads", timeout=60).json())


def drive(base: str, runs: int) -> None:
    """``runs`` stateless runs of the factory's graph, ``CONCURRENT`` at a time."""
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=base)

    def one(_: int) -> None:
        result = client.runs.wait(None, "leaky", input={"n": 0})
        assert isinstance(result, dict) and result["n"] == 2 << 20, result

    with ThreadPoolExecutor(CONCURRENT) as pool:
        list(pool.map(one, range(runs)))


@pytest.mark.parametrize("way", list(WAYS))
def test_langgraph_dev(way: str) -> None:
    if way == "LANGGRAPH_FIXED=1" and not pth_installed():
        pytest.skip("needs langgraph-fixed installed (its .pth), as the server session does")
    prefix, extra_env = WAYS[way]
    with langgraph_dev(prefix, extra_env) as base:
        drive(base, WARM_UP)
        warm = report(base)
        drive(base, RUNS)
        final = report(base)
    row = {
        "way": way,
        "runs": WARM_UP + RUNS,
        "created": final["created"],
        "alive": final["alive"],
        "rss_above_warm_up_mib": round(final["rss_mib"] - warm["rss_mib"], 1),
        "fix": final["fix"],
    }
    results = os.environ.get("LGF_SERVER_RESULTS")
    if results:
        with open(results, "a") as out:
            out.write(json.dumps(row) + "\n")
    assert final["created"] == 2 * (WARM_UP + RUNS), final
    if way == "plain":
        assert final["fix"] == "not applied"
        assert final["alive"] > 0, "the plain server was expected to keep payloads"
    else:
        assert final["fix"] == "applied", final
        assert final["alive"] == 0, row
