"""Leak scenarios: real graphs and chains built per "request", then dropped.

Each scenario stands for one way users meet a leak (../RESEARCH.md) and names
the fixes it proves. A run builds and runs it ``requests`` times, each time
around a fresh :class:`Payload` (standing for a DB connection or an index),
drops everything, collects garbage, and counts the payloads still alive. The
doctor, the tests and the benchmarks use these; ``patches/leak_check.py``
loads this file by path, without the package, so it imports nothing from
``langgraph_fixed`` (and nothing from LangChain until a scenario runs).

No ``from __future__ import annotations`` here: the per-request classes are
local, and their annotations must be objects, as in user code that builds
schemas in a function.
"""

import dataclasses
import gc
import typing
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "SCENARIOS",
    "Payload",
    "Retention",
    "Scenario",
    "measure",
    "run_requests",
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
    #: the fixes whose leak it shows (by their names in the registry)
    fixes: tuple[str, ...] = ()


def run_requests(
    run: Callable[[Payload], object],
    requests: int = 300,
    payload_size: int = 64,
    progress: Callable[[int], object] | None = None,
) -> list[weakref.ref[Payload]]:
    """Call ``run`` ``requests`` times around a fresh payload, drop each, collect.

    Returns weak references to the payloads: those still alive are what
    something kept. ``progress`` is told how many runs are done after each one.
    """
    refs: list[weakref.ref[Payload]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for done in range(1, requests + 1):
            payload = Payload(payload_size)
            refs.append(weakref.ref(payload))
            run(payload)
            del payload
            if progress is not None:
                progress(done)
    gc.collect()
    gc.collect()
    return refs


def measure(scenario: Scenario, requests: int = 300, payload_size: int = 64) -> Retention:
    """Run ``scenario`` ``requests`` times, collect, and count surviving payloads."""
    refs = run_requests(scenario.run, requests, payload_size)
    return Retention(scenario.name, requests, sum(r() is not None for r in refs))


# --- the scenarios -----------------------------------------------------------
# LangChain and LangGraph are imported inside each function, so that importing
# this module works on an install without langgraph-prebuilt or langchain.


def _counter_graph(node: Any) -> Any:
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict  # pydantic's own dependency

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


# --- one per-request request for each other cache a fix covers ---------------


def tool_dumped_to_json(payload: Any) -> None:
    """``_model_json_schema`` (core >= 1.6.1): a per-request args schema, dumped as tracing does."""
    from langchain_core.tools import StructuredTool

    class SearchArgs(BaseModel):
        query: str = Field(description="what to look for")
        limit: int = Field(default_factory=lambda: len(payload.data))

    def search(query: str, limit: int = 1) -> str:
        return query

    tool = StructuredTool.from_function(search, args_schema=SearchArgs, description="Search.")
    dumped = tool.model_dump(mode="json")
    assert dumped["args_schema"]["properties"]["query"]["description"] == "what to look for"


def lambda_input_schema(payload: Any) -> None:
    """``_create_root_model_cached`` (core): a lambda over a per-request ``TypedDict``."""
    from langchain_core.runnables import RunnableLambda
    from typing_extensions import TypedDict  # pydantic wants it below Python 3.12

    class Question(TypedDict):
        text: str

    Question.payload = payload  # type: ignore[attr-defined]

    def answer(question: Question) -> str:
        return question["text"]

    schema: Any = RunnableLambda(answer).get_input_schema()
    assert schema.model_json_schema()["title"]


def parallel_output_schema(payload: Any) -> None:
    """``_create_model_cached`` (core): a parallel step returning a per-request model."""
    from langchain_core.runnables import RunnableLambda, RunnableParallel

    class Answer(BaseModel):
        text: str = ""
        size: int = Field(default_factory=lambda: len(payload.data))

    def answer(question: str) -> Answer:
        return Answer(text=question)

    schema = RunnableParallel(answer=RunnableLambda(answer)).get_output_schema()
    assert "answer" in schema.model_fields


def _no_update(state: Any) -> dict[str, Any]:
    return {}


def graph_input_jsonschema(payload: Any) -> None:
    """langgraph's ``_create_model_cached``: a dataclass state with a per-request model field."""
    from langgraph.graph import END, START, StateGraph

    class Answer(BaseModel):
        text: str = ""
        size: int = Field(default_factory=lambda: len(payload.data))

    @dataclasses.dataclass
    class State:
        question: str = ""
        answer: Answer = None  # type: ignore[assignment]

    graph: Any = StateGraph(State)
    graph.add_node("work", _no_update)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    assert "answer" in graph.compile().get_input_jsonschema()["properties"]


def root_state_jsonschema(payload: Any) -> None:
    """langgraph's ``_create_root_model_cached``: a state that is a list of a per-request model."""
    from langgraph.graph import END, START, StateGraph

    class Answer(BaseModel):
        text: str = ""
        size: int = Field(default_factory=lambda: len(payload.data))

    graph: Any = StateGraph(list[Answer])
    graph.add_node("work", lambda state: state)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    assert graph.compile().get_input_jsonschema()


def pydantic_state_graph(payload: Any) -> None:
    """``SchemaCoercionMapper`` (langgraph 0.3.9 - 0.4.7): a per-request pydantic state."""
    from langgraph.graph import END, START, StateGraph

    class Inner(BaseModel):
        value: int = 0

    class State(BaseModel):
        question: str = ""
        inner: Inner = Field(default_factory=Inner)
        size: int = Field(default_factory=lambda: len(payload.data))

    graph: Any = StateGraph(State)
    graph.add_node("work", _work_on_pydantic)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    assert graph.compile().invoke({"question": "q"})["question"] == "q!"


def _work_on_pydantic(state: Any) -> dict[str, Any]:
    return {"question": state.question + "!", "inner": {"value": 1}}


def state_with_request_field_types(payload: Any) -> None:
    """``_get_adapter`` (langgraph 0.3.28 - 0.4.7): pydantic state fields typed with
    classes made per request, ``Doc | None`` and ``Sequence[Hit]``."""
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict  # pydantic wants it below Python 3.12

    @dataclasses.dataclass
    class Doc:  # reaches the payload through its method's closure
        text: str = ""

        def source(self) -> Any:
            return payload

    class Hit(TypedDict):
        score: float

    class State(BaseModel):
        doc: Doc | None = None  # types.UnionType: coerced by a type adapter
        hits: typing.Sequence[Hit] = ()
        n: int = 0

    def step(state: Any) -> dict[str, Any]:
        return {"n": state.n + 1, "doc": Doc("found"), "hits": [{"score": 1.0}]}

    graph: Any = StateGraph(State)
    graph.add_node("step", step)
    graph.add_edge(START, "step")
    graph.add_edge("step", END)
    out = graph.compile().invoke({"n": 1, "doc": {"text": "q"}})
    assert out["n"] == 2 and out["doc"].text == "found"


def agent_with_state_schema(payload: Any) -> None:
    """``_get_schema_type_hints`` (langchain 1.x): ``create_agent`` on a per-request schema."""
    from langchain.agents import (  # type: ignore[import-not-found,unused-ignore]
        AgentState,
        create_agent,
    )
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    class RequestState(AgentState):  # type: ignore[misc,type-arg,unused-ignore]
        tenant: str

    RequestState.payload = payload  # type: ignore[attr-defined,unused-ignore]

    model = GenericFakeChatModel(messages=iter([AIMessage(content="done")]))
    agent: Any = create_agent(model, [], state_schema=RequestState)
    out = agent.invoke({"messages": [("user", "hi")], "tenant": "t"})
    assert out["messages"][-1].content == "done"


def traced_model_output(payload: Any) -> None:
    """``_pydantic_json_dump`` (langsmith 0.11+, tracing on): a run's output of a class
    made per request, serialized as LangSmith's tracer serializes every run."""
    from langsmith._internal._serde import dumps_json
    from pydantic import create_model

    answer_model: Any = create_model("Answer", text=(str, ""), size=(int, 0))
    answer_model.payload = payload
    assert b'"text":"q"' in dumps_json({"outputs": answer_model(text="q")})


_NONLOCALS = ("get_function_nonlocals",)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "runnable_lambda_node",
        "RunnableLambda node closing over a payload",
        _runnable_lambda_node,
        _NONLOCALS,
    ),
    Scenario(
        "function_node",
        "plain function node closing over a payload",
        _function_node,
        _NONLOCALS,
    ),
    Scenario(
        "tool_node_retriever",
        "ToolNode([create_retriever_tool(retriever, ...)])",
        _tool_node_retriever,
        _NONLOCALS,
    ),
    Scenario(
        "config_specs_bound_method",
        "RunnableLambda(obj.method) | RunnablePassthrough(), then .config_specs",
        _config_specs_bound_method,
        _NONLOCALS,
    ),
    Scenario(
        "get_graph_closure_lambda",
        "chain.get_graph() on a chain with a closure lambda",
        _get_graph_closure_lambda,
        _NONLOCALS,
    ),
    Scenario(
        "subgraph_in_lambda",
        "subgraph invoked from a RunnableLambda node, streamed with subgraphs=True",
        _subgraph_in_lambda,
        _NONLOCALS,
    ),
    Scenario("react_agent", "create_react_agent(model, [tool])", _react_agent, _NONLOCALS),
    Scenario(
        "pydantic_state_per_request",
        "pydantic state made per request, a field typed with a per-request class",
        _pydantic_state_per_request,
        ("schema_coercion_mapper", "schema_type_adapter"),
    ),
    Scenario(
        "pydantic_state_graph",
        "graph compiled on a per-request pydantic state",
        pydantic_state_graph,
        ("schema_coercion_mapper",),
    ),
    Scenario(
        "pydantic_state_sequence",
        "pydantic state made per request, fields typed Doc | None and Sequence[Hit]",
        state_with_request_field_types,
        ("schema_type_adapter",),
    ),
    Scenario(
        "tool_json_schema",
        "StructuredTool with a per-request args schema, dumped to JSON",
        tool_dumped_to_json,
        ("model_json_schema",),
    ),
    Scenario(
        "lambda_input_schema",
        "RunnableLambda over a per-request TypedDict, get_input_schema()",
        lambda_input_schema,
        ("core_create_root_model",),
    ),
    Scenario(
        "parallel_output_schema",
        "RunnableParallel returning a per-request model, get_output_schema()",
        parallel_output_schema,
        ("core_create_model",),
    ),
    Scenario(
        "graph_input_jsonschema",
        "dataclass state with a per-request model field, get_input_jsonschema()",
        graph_input_jsonschema,
        ("langgraph_create_model", "lg04_create_model"),
    ),
    Scenario(
        "root_state_jsonschema",
        "state that is a list of a per-request model, get_input_jsonschema()",
        root_state_jsonschema,
        ("langgraph_create_root_model", "lg04_create_root_model"),
    ),
    Scenario(
        "traced_model_output",
        "a per-request model class in a traced run's output (LangSmith tracing on)",
        traced_model_output,
        ("langsmith_serializers",),
    ),
    Scenario(
        "agent_state_schema",
        "create_agent with a per-request state schema",
        agent_with_state_schema,
        ("agent_schema_type_hints",),
    ),
)
