"""What stays alive with LangSmith tracing on: every scenario, traced to a loopback endpoint.

A stub server on 127.0.0.1 answers langsmith's uploads, accepting them (200) or
refusing them (500), so that the client's real code path runs (batching,
multipart uploads, retries). Each scenario is built and run ``--requests``
times per request with ``LANGSMITH_TRACING=true``; every tracer is flushed
(as ``wait_for_all_tracers`` does, with a timeout), a full collection runs,
and the payloads still alive are counted, with what keeps the first one
(``langgraph_fixed.explain``).
Without the fixes, then with them, in one process::

    python benchmarks/census_tracing.py --mode accepts
    python benchmarks/census_tracing.py --mode refuses --only model_chain --json out.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODE = "accepts"


class Stub(BaseHTTPRequestHandler):
    """Accepts (200) or refuses (500) every upload; answers everything else with ``{}``."""

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self._answer(500 if MODE == "refuses" else 200)

    do_PATCH = do_POST

    def do_GET(self) -> None:
        self._answer(200)


def model_chain(payload: Any) -> None:
    """The request measured first: a model made per request, output of a traced chain."""
    from langchain_core.runnables import RunnableLambda
    from pydantic import create_model

    answer_model: Any = create_model("Answer", text=(str, ""), n=(int, 0))
    answer_model.payload = payload
    chain = RunnableLambda(lambda q: answer_model(text=q, n=1)) | RunnableLambda(lambda a: a)
    assert chain.invoke("q").text == "q"


def flush(timeout: float = 30.0) -> None:
    """Upload every pending run, as ``wait_for_all_tracers()`` does, but give up after
    ``timeout``: langsmith's upload thread stops when it counts too few references to
    its client, and a flush after that would wait for ever."""
    from langsmith import run_trees

    client = run_trees._CLIENT
    if client is not None:
        client.flush(timeout=timeout)


def census(requests: dict[str, Any], count: int) -> dict[str, Any]:
    import langgraph_fixed
    from langgraph_fixed.diagnostics.scenarios import run_requests

    rows: dict[str, Any] = {}
    for name, request in requests.items():
        started = time.monotonic()
        try:
            refs = run_requests(request, count)
        except Exception as exc:
            rows[name] = {"could_not_run": f"{type(exc).__name__}: {str(exc)[:100]}"}
            continue
        flush()
        gc.collect()
        gc.collect()
        alive = [ref() for ref in refs if ref() is not None]
        root = langgraph_fixed.explain(alive[0], ignore=[alive]).root if alive else None
        rows[name] = {"alive": len(alive), "kept_by": root, "seconds": time.monotonic() - started}
        del alive
    return rows


def main(argv: list[str] | None = None) -> int:
    global MODE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["accepts", "refuses"], default="accepts")
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--only", help="comma-separated scenario names (model_chain: the first)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    MODE = args.mode
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ.update(
        LANGSMITH_TRACING="true",
        LANGSMITH_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}",
        LANGSMITH_API_KEY="lsv2-census",
    )
    warnings.simplefilter("ignore")
    import langgraph_fixed
    from langgraph_fixed.diagnostics.scenarios import SCENARIOS

    requests: dict[str, Any] = {"model_chain": model_chain, **{s.name: s.run for s in SCENARIOS}}
    if args.only:
        requests = {name: requests[name] for name in args.only.split(",")}
    document: dict[str, Any] = {"mode": args.mode, "requests": args.requests}
    document["without the fixes"] = census(requests, args.requests)
    report = langgraph_fixed.apply()
    document["fix states"] = {s.fix: s.state.value for s in report}
    document["with the fixes"] = census(requests, args.requests)
    for name in requests:
        before, after = document["without the fixes"][name], document["with the fixes"][name]
        cells = [
            f"{row['alive']:>4} ({row['kept_by'] or '-'})" if "alive" in row else "could not run"
            for row in (before, after)
        ]
        print(f"{name:30} {cells[0]:<90} {cells[1]}")
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    else:
        print(json.dumps(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
