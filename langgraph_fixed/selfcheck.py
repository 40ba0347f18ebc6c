"""Leak scenarios: real graphs and chains built per "request", then dropped.

Each scenario stands for one way users meet the leak (../RESEARCH.md). A run
builds and runs it ``requests`` times, each time around a fresh
:class:`Payload` (standing for a DB connection or an index), drops everything,
collects garbage, and counts the payloads still alive. The doctor, the tests
and the benchmarks all use these.
"""

from __future__ import annotations

import gc
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SCENARIOS",
    "Payload",
    "Retention",
    "Scenario",
    "measure",
    "run_requests",
    "upstream_cache_cleared",
]


class Payload:
    """Stands for something expensive a request holds: a connection, an index."""

    __slots__ = ("__weakref__", "data")

    def __init__(self, size: int = 64) -> None:
        self.data = bytearray(size)


@dataclass(frozen=True)
class Retention:
    scenario: str
    requests: int
    alive: int

    def __str__(self) -> str:
        return f"{self.scenario}: {self.alive} of {self.requests} payloads alive"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    #: builds and runs the scenario once around ``payload``
    run: Callable[[Payload], None]


def run_requests(
    run: Callable[[Payload], object], requests: int = 300, payload_size: int = 64
) -> list[weakref.ref[Payload]]:
    """Call ``run`` ``requests`` times around a fresh payload, drop each, collect.

    Returns weak references to the payloads: those still alive are what
    something kept.
    """
    refs: list[weakref.ref[Payload]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(requests):
            payload = Payload(payload_size)
            refs.append(weakref.ref(payload))
            run(payload)
            del payload
    gc.collect()
    gc.collect()
    return refs


def measure(scenario: Scenario, requests: int = 300, payload_size: int = 64) -> Retention:
    """Run ``scenario`` ``requests`` times, collect, and count surviving payloads."""
    refs = run_requests(scenario.run, requests, payload_size)
    return Retention(scenario.name, requests, sum(r() is not None for r in refs))


@contextmanager
def upstream_cache_cleared() -> Iterator[None]:
    """Empty upstream's ``get_function_nonlocals`` lru cache before and after a block.

    Whichever object is bound now (upstream's or ours), the cache of the
    original is what pins payloads, so measurements start and end clean.
    """
    from langchain_core.runnables import utils

    import langgraph_fixed

    def clear() -> None:
        for candidate in (utils.get_function_nonlocals, _original_or_none(langgraph_fixed)):
            if candidate is not None and hasattr(candidate, "cache_clear"):
                candidate.cache_clear()

    clear()
    try:
        yield
    finally:
        clear()


def _original_or_none(module: Any) -> Any:
    try:
        return module.get_original("get_function_nonlocals")
    except KeyError:
        return None


# --- the scenarios -----------------------------------------------------------
# Imports happen inside each function so that importing this module costs
# nothing and works on an install without langgraph-prebuilt.


def _counter_graph(node: Any) -> Any:
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    class Counter(TypedDict):
        n: int

    graph = StateGraph(Counter)
    graph.add_node("work", node)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph


def _runnable_lambda_node(payload: Payload) -> None:
    from langchain_core.runnables import RunnableLambda

    def work(state: dict[str, int]) -> dict[str, int]:
        return {"n": state["n"] + len(payload.data)}

    _counter_graph(RunnableLambda(work)).compile().invoke({"n": 0})


def _function_node(payload: Payload) -> None:
    def work(state: dict[str, int]) -> dict[str, int]:
        return {"n": state["n"] + len(payload.data)}

    _counter_graph(work).compile().invoke({"n": 0})


def _retriever_tool(payload: Payload) -> Any:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.tools import create_retriever_tool

    class PayloadRetriever(BaseRetriever):
        payload: Any

        def _get_relevant_documents(
            self, query: str, *, run_manager: CallbackManagerForRetrieverRun
        ) -> list[Document]:
            return [Document(page_content=f"{query}: {len(self.payload.data)} bytes")]

    return create_retriever_tool(PayloadRetriever(payload=payload), "search", "Search the index.")


def _tool_call(name: str, args: dict[str, Any]) -> Any:
    from langchain_core.messages import AIMessage

    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "call-1"}])


def _tool_node_retriever(payload: Payload) -> None:
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode([_retriever_tool(payload)]))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    graph.compile().invoke({"messages": [_tool_call("search", {"query": "q"})]})


class _Holder:
    def __init__(self, payload: Payload) -> None:
        self.payload = payload

    def step(self, x: int) -> int:
        return x + len(self.payload.data)


def _config_specs_bound_method(payload: Payload) -> None:
    from langchain_core.runnables import RunnableLambda, RunnablePassthrough

    chain: Any = RunnableLambda(_Holder(payload).step) | RunnablePassthrough()
    assert isinstance(chain.config_specs, list)


def _get_graph_closure_lambda(payload: Payload) -> None:
    from langchain_core.runnables import RunnableLambda, RunnablePassthrough

    chain: Any = RunnableLambda(lambda x: x + len(payload.data)) | RunnablePassthrough()
    assert chain.get_graph().nodes


def _subgraph_in_lambda(payload: Payload) -> None:
    from langchain_core.runnables import RunnableLambda

    inner = _counter_graph(lambda state: {"n": state["n"] + len(payload.data)}).compile()

    def call_inner(state: dict[str, int]) -> Any:
        return inner.invoke(state)

    outer = _counter_graph(RunnableLambda(call_inner)).compile()
    for _ in outer.stream({"n": 0}, subgraphs=True):
        pass


def _react_agent(payload: Payload) -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.tools import StructuredTool
    from langgraph.prebuilt import create_react_agent

    class FakeToolCallingModel(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

    def lookup(query: str) -> str:
        """Look something up in the index."""
        return f"{query}: {len(payload.data)} bytes"

    model = FakeToolCallingModel(
        messages=iter([_tool_call("lookup", {"query": "q"}), AIMessage(content="done")])
    )
    agent = create_react_agent(model, [StructuredTool.from_function(lookup)])
    agent.invoke({"messages": [HumanMessage(content="hi")]})


def _pydantic_state_per_request(payload: Payload) -> None:
    import dataclasses

    from langgraph.graph import END, START, StateGraph
    from pydantic import BaseModel

    @dataclasses.dataclass
    class Source:  # a class made per request, reaching the payload
        title: str = ""

        def fetch(self) -> Payload:
            return payload

    # the annotations must be objects, not strings, in a function-local class
    State = type(
        "State",
        (BaseModel,),
        {
            "__annotations__": {"question": str, "source": Source | None},
            "question": "",
            "source": None,
        },
    )

    def answer(state: Any) -> dict[str, Any]:
        return {"source": Source(state.question)}

    graph: Any = StateGraph(State)
    graph.add_node("answer", answer)
    graph.add_edge(START, "answer")
    graph.add_edge("answer", END)
    assert graph.compile().invoke({"question": "q"})["source"].title == "q"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "runnable_lambda_node",
        "RunnableLambda node closing over a payload",
        _runnable_lambda_node,
    ),
    Scenario("function_node", "plain function node closing over a payload", _function_node),
    Scenario(
        "tool_node_retriever",
        "ToolNode([create_retriever_tool(retriever, ...)])",
        _tool_node_retriever,
    ),
    Scenario(
        "config_specs_bound_method",
        "RunnableLambda(obj.method) | RunnablePassthrough(), then .config_specs",
        _config_specs_bound_method,
    ),
    Scenario(
        "get_graph_closure_lambda",
        "chain.get_graph() on a chain with a closure lambda",
        _get_graph_closure_lambda,
    ),
    Scenario(
        "subgraph_in_lambda",
        "subgraph invoked from a RunnableLambda node, streamed with subgraphs=True",
        _subgraph_in_lambda,
    ),
    Scenario("react_agent", "create_react_agent(model, [tool])", _react_agent),
    Scenario(
        "pydantic_state_per_request",
        "pydantic state made per request, a field typed with a per-request class",
        _pydantic_state_per_request,
    ),
)
