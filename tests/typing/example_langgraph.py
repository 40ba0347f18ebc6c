"""Type-checked with mypy --strict by tests/test_dropin.py: the same against langgraph."""

from __future__ import annotations

from typing import TypedDict

from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode, create_react_agent
from langgraph.types import Command, Send, interrupt


class State(TypedDict):
    n: int


def step(state: State) -> State:
    answer: int = interrupt("how much?")
    return {"n": state["n"] + answer}


def build() -> object:
    graph = StateGraph(State)
    graph.add_node("step", step)
    graph.add_edge(START, "step")
    graph.add_edge("step", END)
    return graph.compile(checkpointer=MemorySaver())


def resume(value: int) -> Command[None]:
    return Command(resume=value)


def fan_out(state: State) -> list[Send]:
    return [Send("step", state)]


TOOLS: type[ToolNode] = ToolNode
AGENT = create_react_agent
