"""A graph factory, as ``langgraph.json`` names it: langgraph-api calls it for every run.

Each call builds a graph whose ``RunnableLambda`` node closes over a fresh
1 MiB payload, and a subgraph invoked from inside a lambda node (the two
patterns that leak on every langgraph version). ``LGF_APPLY_IN_GRAPH_MODULE=1``
calls ``langgraph_fixed.apply()`` at the top of this module: the fourth way of
adopting the fix that the server test checks.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

if os.environ.get("LGF_APPLY_IN_GRAPH_MODULE") == "1":
    import langgraph_fixed

    langgraph_fixed.apply()

from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe import probe


class Payload:
    """Stands for what a request holds: a connection, an index (1 MiB)."""

    def __init__(self) -> None:
        self.data = bytearray(1 << 20)


class State(TypedDict):
    n: int


def _graph(node: Any) -> Any:
    graph = StateGraph(State)
    graph.add_node("work", node)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph


def make_graph(config: RunnableConfig) -> Any:
    state = probe()
    payload, inner_payload = Payload(), Payload()
    state.payloads.add(payload)
    state.payloads.add(inner_payload)
    state.created += 2

    def work(s: State) -> dict[str, int]:
        return {"n": s["n"] + len(payload.data)}

    inner = _graph(RunnableLambda(lambda s: {"n": s["n"] + len(inner_payload.data)})).compile()

    def call_inner(s: State) -> Any:
        return inner.invoke({"n": work(s)["n"]})

    return _graph(RunnableLambda(call_inner)).compile()
