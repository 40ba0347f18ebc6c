"""The test project's custom route (``http.app``): what is still alive in the server."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe import probe


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def payloads(request: Request) -> JSONResponse:
    gc.collect()
    gc.collect()
    state = probe()
    try:
        import langgraph_fixed

        fixes = {s.fix: s.state.value for s in langgraph_fixed.status()}
    except ImportError:
        fixes = {}
    return JSONResponse(
        {
            "pid": os.getpid(),
            "created": state.created,
            "alive": len(state.payloads),
            "rss_mib": _rss_mib(),
            "fix": fixes.get("get_function_nonlocals", "not installed"),
        }
    )


app = Starlette(routes=[Route("/lgf/payloads", payloads)])
