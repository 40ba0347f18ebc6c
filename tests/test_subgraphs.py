"""Subgraph discovery works as before: the fix changes what is kept, not what is found."""

from __future__ import annotations

import importlib.metadata
from typing import Any

from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from packaging.version import Version
from typing_extensions import TypedDict

import langgraph_fixed

LANGGRAPH = Version(importlib.metadata.version("langgraph"))


class State(TypedDict):
    n: int


def chain(node: Any, name: str = "work") -> Any:
    graph = StateGraph(State)
    graph.add_node(name, node)
    graph.add_edge(START, name)
    graph.add_edge(name, END)
    return graph


def run_parent_with_subgraph(thread: str) -> dict[str, Any]:
    def ask(state: State) -> State:
        answer = interrupt("how much?")
        return {"n": state["n"] + answer}

    inner = chain(ask, "ask").compile()

    def call_inner(state: State) -> Any:
        return inner.invoke(state)

    outer = chain(RunnableLambda(call_inner), "outer").compile(checkpointer=MemorySaver())
    config = {"configurable": {"thread_id": thread}}
    namespaces = {ns for ns, _ in outer.stream({"n": 1}, config, subgraphs=True)}
    snapshot = outer.get_state(config, subgraphs=True)
    sub_states = [task.state for task in snapshot.tasks if task.state is not None]
    return {
        "namespaces": sorted(ns[0].split(":")[0] if ns else "" for ns in namespaces),
        "depth": max(len(ns) for ns in namespaces),
        "sub_state_values": [s.values for s in sub_states],  # type: ignore[union-attr]
        "sub_state_next": [s.next for s in sub_states],  # type: ignore[union-attr]
        "interrupted": [i.value for task in snapshot.tasks for i in task.interrupts],
    }


def test_subgraph_called_from_a_lambda_is_found_with_and_without_the_fix() -> None:
    before = run_parent_with_subgraph("unpatched")
    with langgraph_fixed.patched(strict=True):
        after = run_parent_with_subgraph("patched")
    assert after == before
    # and it really is found: namespaced events (langgraph 0.2 streams a subgraph
    # called inside a node's body without its namespace, with or without the
    # fix) and the subgraph's own state
    if LANGGRAPH >= Version("0.3"):
        assert after["depth"] == 1 and "outer" in after["namespaces"]
    else:
        assert after["depth"] == 0 and after["namespaces"] == [""]
    assert after["sub_state_values"] == [{"n": 1}]
    assert after["sub_state_next"] == [("ask",)]
    assert after["interrupted"] == ["how much?"]


def test_subgraph_as_a_node_and_in_a_sequence_is_found() -> None:
    inner = chain(lambda s: {"n": s["n"] + 1}).compile()

    def run() -> list[tuple[str, ...]]:
        outer = chain(RunnableLambda(lambda s: s) | inner, "seq").compile()
        return [ns for ns, _ in outer.stream({"n": 0}, subgraphs=True)]

    before = run()
    with langgraph_fixed.patched(strict=True):
        after = run()
    assert [len(ns) for ns in after] == [len(ns) for ns in before]
    assert any(len(ns) == 1 for ns in after)
