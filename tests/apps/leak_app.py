"""A small ASGI app that builds and runs a graph per request, and reports on itself.

``GET /work`` builds a graph whose ``RunnableLambda`` node closes over a fresh
payload, runs it and drops it. ``GET /report`` collects garbage and says how
many of this worker's payloads are still alive, and whether the fix is active.
Started by the tests under uvicorn with several worker processes.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.apps import tracker


async def work(request: Request) -> JSONResponse:
    tracker.serve_one()
    return JSONResponse({"ok": True})


async def report(request: Request) -> JSONResponse:
    return JSONResponse(tracker.report())


app = Starlette(routes=[Route("/work", work), Route("/report", report)])
