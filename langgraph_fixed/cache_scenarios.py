"""One per-request "request" for each cache a fix covers besides ``get_function_nonlocals``.

Each function builds, around ``payload`` (a :class:`langgraph_fixed.selfcheck.Payload`
or anything with a ``data`` attribute), the objects a request makes and
reaches one upstream cache with a class made for that request. The tests
count what upstream keeps of them, with and without the fixes, and
``patches/leak_check.py`` does the same on patched builds: it loads this file
by path, without the package, so it imports nothing from ``langgraph_fixed``.

No ``from __future__ import annotations`` here: the per-request classes are
local, and their annotations must be objects, as in user code that builds
schemas in a function.
"""

import dataclasses
import typing
from typing import Any

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

__all__ = [
    "agent_with_state_schema",
    "graph_input_jsonschema",
    "lambda_input_schema",
    "parallel_output_schema",
    "pydantic_state_graph",
    "root_state_jsonschema",
    "state_with_request_field_types",
    "tool_dumped_to_json",
]


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
    from langchain.agents import AgentState, create_agent  # type: ignore[import-not-found,unused-ignore]
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    class RequestState(AgentState):  # type: ignore[misc,type-arg,unused-ignore]
        tenant: str

    RequestState.payload = payload  # type: ignore[attr-defined,unused-ignore]

    model = GenericFakeChatModel(messages=iter([AIMessage(content="done")]))
    agent = create_agent(model, [], state_schema=RequestState)
    out = agent.invoke({"messages": [("user", "hi")], "tenant": "t"})
    assert out["messages"][-1].content == "done"
