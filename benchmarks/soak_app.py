"""The service ``bench_soak.py`` serves: a LangGraph graph built and run per request.

A small Starlette app, started under uvicorn. Its graph code knows nothing of
``langgraph_fixed`` (only ``/report`` asks it for its status): the soak
benchmark starts it as is, under ``langgraph-fixed run``, and as the floor
(below), so any difference between the first two comes from the fix applied
at start-up, not from the app.

``GET /work`` (optional ``?size=BYTES``, default 1 MiB) makes a payload holding
a ``bytearray`` of that size (standing for an index or a connection buffer)
and builds, compiles and runs a graph around it, as a service that builds its
graph per request does::

    START -> prepare -> tools -> delegate -> END

- ``prepare``: a ``RunnableLambda`` over a closure that reads the payload; it
  asks for a tool call;
- ``tools``: a ``ToolNode`` with a retriever tool
  (``langchain_core.tools.create_retriever_tool``) over a ``BaseRetriever``
  that holds the payload;
- ``delegate``: a ``RunnableLambda`` over a closure that invokes a subgraph
  compiled for this request, whose node reads the payload.

With ``SOAK_NO_CACHE=1`` in its environment the app, as it is imported,
replaces each lru-cached function that langgraph-fixed fixes on this install
(``UPSTREAM_CACHES``: ``get_function_nonlocals``, the tool JSON-schema cache,
the pydantic model factories) wherever a loaded module holds it by the
uncached function it wraps: the *floor*, upstream without those caches, for
``bench_soak.py``'s third server.

The graph is then dropped. ``GET /rss`` runs ``gc.collect()`` and returns this
process's resident set size, with how many payloads are still alive (weak
references), the most that were alive at once since the previous ``/rss``
(payloads wait for the cyclic collector: each compiled graph is a reference
cycle) and how many entries langchain-core's ``get_function_nonlocals``
lru cache holds, and how much free memory malloc keeps (glibc's
``mallinfo2``, every arena: counted in RSS where its pages were touched); with
``?trim=1`` it then also calls glibc's ``malloc_trim(0)``
and reads the RSS again (``rss_trimmed``: free heap the allocator had kept is
handed back, live memory is not). ``GET /report`` says which
``get_function_nonlocals`` is bound where ``RunnableLambda.deps`` reads it
and, when ``langgraph_fixed`` can be imported (importing it patches nothing),
the state of each of its fixes.

Run it alone from the repository root::

    python -m uvicorn --app-dir benchmarks soak_app:app --port 8000
"""

from __future__ import annotations

import ctypes
import functools
import gc
import importlib
import os
import sys
import threading
import types
import weakref
from typing import Annotated, Any

import psutil
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import create_retriever_tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typing_extensions import TypedDict

DEFAULT_SIZE = 1 << 20  # 1 MiB


class Payload:
    """What one request holds: a buffer standing for an index or a connection."""

    __slots__ = ("__weakref__", "data")

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)  # zero-filled by memset: its pages are resident


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    total: int


class Inner(TypedDict):
    total: int


class PayloadRetriever(BaseRetriever):
    """A retriever over the request's payload (an index, in a real service)."""

    payload: Any

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document(page_content=f"{query}: {len(self.payload.data)} bytes indexed")]


def build_graph(payload: Payload) -> Any:
    """The per-request graph: everything in it reaches ``payload``."""

    def prepare(state: State) -> dict[str, Any]:
        call = {"name": "search", "args": {"query": "q"}, "id": "call-1", "type": "tool_call"}
        return {
            "messages": [AIMessage(content="", tool_calls=[call])],
            "total": state["total"] + len(payload.data),
        }

    def inner_step(state: Inner) -> dict[str, int]:
        return {"total": state["total"] + len(payload.data)}

    inner_graph = StateGraph(Inner)
    inner_graph.add_node("inner_step", inner_step)
    inner_graph.add_edge(START, "inner_step")
    inner_graph.add_edge("inner_step", END)
    inner = inner_graph.compile()

    def delegate(state: State) -> dict[str, int]:
        return {"total": inner.invoke({"total": state["total"]})["total"]}

    retriever = PayloadRetriever(payload=payload)
    tool = create_retriever_tool(retriever, "search", "Search the request's index.")

    graph = StateGraph(State)
    graph.add_node("prepare", RunnableLambda(prepare))
    graph.add_node("tools", ToolNode([tool]))
    graph.add_node("delegate", RunnableLambda(delegate))
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "tools")
    graph.add_edge("tools", "delegate")
    graph.add_edge("delegate", END)
    return graph.compile()


# --- the floor ------------------------------------------------------------------


#: The lru-cached functions keyed on user objects that langgraph-fixed replaces,
#: as (module, name); those a release does not have are passed over. Listed
#: here rather than read from langgraph-fixed's registry on purpose: importing
#: the fix modules before serving changes the heap the soak measures (see
#: benchmarks/README.md), and the floor must not do what the patched server does.
UPSTREAM_CACHES = (
    ("langchain_core.runnables.utils", "get_function_nonlocals"),
    ("langchain_core.tools.structured", "_model_json_schema"),
    ("langchain_core.utils.pydantic", "_create_model_cached"),
    ("langchain_core.utils.pydantic", "_create_root_model_cached"),
    ("langgraph._internal._pydantic", "_create_model_cached"),
    ("langgraph._internal._pydantic", "_create_root_model_cached"),
    ("langgraph.utils.pydantic", "_create_model_cached"),
    ("langgraph.utils.pydantic", "_create_root_model_cached"),
)


def remove_upstream_caches() -> list[str]:
    """Bind each of ``UPSTREAM_CACHES`` to the function its lru cache wraps, wherever held.

    Returns the ``module.name`` of every module attribute rebound.
    """
    rebound = []
    for module_name, name in UPSTREAM_CACHES:
        try:
            cached = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            continue
        if not _is_lru(cached):
            continue
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", None)
            if not isinstance(namespace, dict):
                continue
            for attribute, value in list(namespace.items()):
                if value is cached:
                    namespace[attribute] = cached.__wrapped__
                    rebound.append(f"{module.__name__}.{attribute}")
    return rebound


def _is_lru(obj: Any) -> bool:
    return isinstance(obj, functools._lru_cache_wrapper)


NO_CACHE = os.environ.get("SOAK_NO_CACHE", "") not in ("", "0")
REBOUND = remove_upstream_caches() if NO_CACHE else []


# --- bookkeeping --------------------------------------------------------------

# Re-entrant: a payload's weakref callback can run inside a collection that
# starts while this thread holds the lock.
_lock = threading.RLock()
_payloads: list[weakref.ref[Payload]] = []
_live = 0  # payloads not freed yet
_peak = 0  # most payloads alive at once, since the last /rss


def _freed(ref: weakref.ref[Payload]) -> None:
    global _live
    with _lock:
        _live -= 1


def serve_one(size: int) -> dict[str, Any]:
    global _live, _peak
    payload = Payload(size)
    with _lock:
        _payloads.append(weakref.ref(payload, _freed))
        _live += 1
        _peak = max(_peak, _live)
    result = build_graph(payload).invoke({"messages": [], "total": 0})
    return {
        "total": result["total"],
        "tool_answer": str(result["messages"][-1].content),
    }


def _upstream_function() -> Any:
    """langchain-core's own lru-cached ``get_function_nonlocals``, whatever is bound now."""
    from langchain_core.runnables import utils

    bound = utils.get_function_nonlocals
    if _is_lru(bound):
        return bound
    try:
        import langgraph_fixed

        return langgraph_fixed.get_original("get_function_nonlocals")
    except (ImportError, KeyError):
        return None


def _cache_entries() -> int | None:
    """Entries in upstream's lru cache (the fix's own cache pins nothing and is not counted)."""
    upstream = _upstream_function()
    if upstream is None or not _is_lru(upstream):
        return None
    return int(upstream.cache_info().currsize)


def _bound_for_deps() -> str:
    """What ``RunnableLambda.deps`` calls, described without trusting ``langgraph_fixed``."""
    from langchain_core.runnables import base

    bound = vars(base)["get_function_nonlocals"]
    if _is_lru(bound):
        return f"functools.lru_cache wrapper from {getattr(bound, '__module__', '?')}"
    if hasattr(bound, "__langgraph_fixed__"):
        return f"langgraph-fixed replacement of {bound.__module__}.{bound.__qualname__}"
    if isinstance(bound, types.FunctionType):
        return f"uncached function {bound.__module__}.{bound.__qualname__}"
    return f"{type(bound).__qualname__} from {type(bound).__module__}"


def _fix_states() -> dict[str, str] | str:
    try:
        import langgraph_fixed
    except ImportError as exc:
        return f"langgraph_fixed not importable: {exc}"
    return {s.fix: s.state.value for s in langgraph_fixed.status()}


def _malloc_trim() -> bool:
    """glibc's ``malloc_trim(0)``: hand free heap pages back to the system. False elsewhere."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _malloc_free_bytes() -> int | None:
    """Bytes in malloc's free chunks, all arenas (glibc 2.33+ ``mallinfo2``); None elsewhere."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return int(info.fordblks + info.fsmblks)


# --- endpoints ----------------------------------------------------------------


async def work(request: Request) -> JSONResponse:
    size = int(request.query_params.get("size", DEFAULT_SIZE))
    return JSONResponse(serve_one(size))


async def rss(request: Request) -> JSONResponse:
    global _peak
    gc.collect()
    gc.collect()
    process = psutil.Process()
    resident = process.memory_info().rss
    heap_free = _malloc_free_bytes()
    trimmed = None
    if request.query_params.get("trim") and _malloc_trim():
        trimmed = process.memory_info().rss
    with _lock:
        created = len(_payloads)
        alive = sum(ref() is not None for ref in _payloads)
        peak, _peak = _peak, _live
    return JSONResponse(
        {
            "pid": os.getpid(),
            "rss": resident,
            "malloc_free": heap_free,
            "created": created,
            "alive": alive,
            "peak_alive": peak,
            "cache_entries": _cache_entries(),
            "rss_trimmed": trimmed,
        }
    )


async def report(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "pid": os.getpid(),
            "langgraph_fixed_env": os.environ.get("LANGGRAPH_FIXED"),
            "bound_for_deps": _bound_for_deps(),
            "no_cache": NO_CACHE,
            "rebound_to_uncached": REBOUND,
            "fixes": _fix_states(),
            "cache_entries": _cache_entries(),
        }
    )


app = Starlette(
    routes=[Route("/work", work), Route("/rss", rss), Route("/report", report)],
)
