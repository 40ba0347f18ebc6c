"""Count what per-request graphs leave alive, on an install WITHOUT langgraph-fixed.

Run by ``nox -s patches`` in a virtualenv holding a patched (or, for contrast,
an unpatched) build of langchain-core, langgraph or langchain, and never
langgraph-fixed: the point is that the patched sources alone release
everything. The scenarios are langgraph-fixed's own (``langgraph_fixed/
selfcheck.py``, loaded by file path, which imports nothing from the package),
plus one scenario per other patched cache. Each builds and runs its
request ``--requests`` times around a fresh payload, drops it, collects
garbage, and counts the payloads still alive::

    python patches/leak_check.py --json results.json
    python patches/leak_check.py --expect clean   # exit 1 if any payload survives
    python patches/leak_check.py --expect leak    # exit 1 unless the nonlocals scenarios leak

A scenario whose target is missing in the installed versions is reported as
skipped (e.g. tool JSON schemas before langchain-core 1.6.1).

No ``from __future__ import annotations``: the per-request classes are local,
and their annotations must be objects, as in user code.
"""

import argparse
import contextlib
import dataclasses
import importlib.metadata
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# patches/ holds folders named langchain/ and langgraph/ (the series): never
# let `import langchain` find them as namespace packages.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from pydantic import BaseModel, Field  # noqa: E402
from typing_extensions import TypedDict  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
#: The scenarios that reach ``get_function_nonlocals`` on every version: the
#: unpatched contrast must leak in these.
NONLOCALS_ALWAYS = ("runnable_lambda_node", "config_specs_bound_method", "get_graph_closure_lambda")


def load_selfcheck() -> Any:
    """langgraph-fixed's scenarios, from the source file: the package is not installed."""
    path = ROOT / "langgraph_fixed" / "selfcheck.py"
    spec = importlib.util.spec_from_file_location("lgf_selfcheck_standalone", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


# --- one scenario per other patched cache -------------------------------------


def tool_dumped_to_json(payload: Any) -> None:
    """langchain-core >= 1.6.1 ``_model_json_schema``: a per-request args schema, dumped."""
    from langchain_core.tools import StructuredTool

    class SearchArgs(BaseModel):
        query: str = Field(description="what to look for")
        limit: int = Field(default_factory=lambda: len(payload.data))

    def search(query: str, limit: int = 1) -> str:
        return query

    tool = StructuredTool.from_function(search, args_schema=SearchArgs, description="Search.")
    assert tool.model_dump(mode="json")["args_schema"]["properties"]["query"]


def pydantic_state_graph(payload: Any) -> None:
    """langgraph 0.3.9 - 0.4.7 ``SchemaCoercionMapper``: a per-request pydantic state."""
    from langgraph.graph import END, START, StateGraph

    class Inner(BaseModel):
        value: int = 0

    class State(BaseModel):
        question: str = ""
        inner: Inner = Field(default_factory=Inner)
        size: int = Field(default_factory=lambda: len(payload.data))

    graph = StateGraph(State)
    graph.add_node("work", _work_on_pydantic)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    assert graph.compile().invoke({"question": "q"})["question"] == "q!"


def _work_on_pydantic(state: Any) -> dict[str, Any]:
    return {"question": state.question + "!", "inner": {"value": 1}}


def pydantic_state_sequence(payload: Any) -> None:
    """langgraph 0.3.28 - 0.4.7 ``_get_adapter``: field typed ``Sequence[Doc]``, Doc per request."""
    from langgraph.graph import END, START, StateGraph

    @dataclasses.dataclass
    class Doc:
        text: str = ""
        size: int = dataclasses.field(default_factory=lambda: len(payload.data))

    class State(BaseModel):
        question: str = ""
        docs: Sequence[Doc] = ()

    def retrieve(state: Any) -> dict[str, Any]:
        return {"docs": [Doc(state.question)]}

    graph = StateGraph(State)
    graph.add_node("retrieve", retrieve)
    graph.add_edge(START, "retrieve")
    graph.add_edge("retrieve", END)
    assert graph.compile().invoke({"question": "q"})["docs"][0].text == "q"


def lambda_input_schema(payload: Any) -> None:
    """langchain-core ``_create_root_model_cached``: a lambda over a per-request TypedDict."""
    from langchain_core.runnables import RunnableLambda

    class Question(TypedDict):
        text: str

    Question.payload = payload  # type: ignore[attr-defined]

    def answer(question: Question) -> str:
        return question["text"]

    assert RunnableLambda(answer).get_input_schema().model_json_schema()["title"]


def parallel_output_schema(payload: Any) -> None:
    """langchain-core ``_create_model_cached``: a parallel step returning a per-request model."""
    from langchain_core.runnables import RunnableLambda, RunnableParallel

    class Answer(BaseModel):
        text: str = ""
        size: int = Field(default_factory=lambda: len(payload.data))

    def answer(question: str) -> Answer:
        return Answer(text=question)

    schema = RunnableParallel(answer=RunnableLambda(answer)).get_output_schema()
    assert "answer" in schema.model_fields


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

    graph = StateGraph(State)
    graph.add_node("work", _noop)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    assert "answer" in graph.compile().get_input_jsonschema()["properties"]


def _noop(state: Any) -> dict[str, Any]:
    return {}


def agent_with_state_schema(payload: Any) -> None:
    """langchain 1.x ``_get_schema_type_hints``: ``create_agent`` on a per-request schema."""
    from langchain.agents import AgentState, create_agent
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    class RequestState(AgentState):
        tenant: str

    RequestState.payload = payload  # type: ignore[attr-defined]

    model = GenericFakeChatModel(messages=iter([AIMessage(content="done")]))
    agent = create_agent(model, [], state_schema=RequestState)
    assert agent.invoke({"messages": [("user", "hi")], "tenant": "t"})["messages"][-1].content


def _has(module: str, attribute: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), attribute)
    except ImportError:
        return False


#: name -> (description, request, whether the installed versions have the target)
EXTRA_SCENARIOS = {
    "tool_json_schema": (
        "StructuredTool with a per-request args schema, dumped to JSON",
        tool_dumped_to_json,
        lambda: _has("langchain_core.tools.structured", "_model_json_schema"),
    ),
    "pydantic_state_graph": (
        "graph compiled on a per-request pydantic state",
        pydantic_state_graph,
        lambda: _has("langgraph.graph.schema_utils", "SchemaCoercionMapper"),
    ),
    "pydantic_state_sequence": (
        "pydantic state made per request, a field typed Sequence[Doc] (type adapters)",
        pydantic_state_sequence,
        lambda: _has("langgraph.graph.schema_utils", "_get_adapter"),
    ),
    "lambda_input_schema": (
        "RunnableLambda over a per-request TypedDict, get_input_schema()",
        lambda_input_schema,
        lambda: _has("langchain_core.utils.pydantic", "_create_root_model_cached"),
    ),
    "parallel_output_schema": (
        "RunnableParallel returning a per-request model, get_output_schema()",
        parallel_output_schema,
        lambda: _has("langchain_core.utils.pydantic", "_create_model_cached"),
    ),
    "graph_input_jsonschema": (
        "dataclass state with a per-request model field, get_input_jsonschema()",
        graph_input_jsonschema,
        lambda: (
            _has("langgraph._internal._pydantic", "_create_model_cached")
            or _has("langgraph.utils.pydantic", "_create_model_cached")
        ),
    ),
    "agent_state_schema": (
        "create_agent with a per-request state schema",
        agent_with_state_schema,
        lambda: _has("langchain.agents.factory", "_get_schema_type_hints"),
    ),
}


def versions() -> dict[str, str]:
    found = {}
    for dist in ("langchain-core", "langgraph", "langchain", "langgraph-prebuilt", "pydantic"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[dist] = importlib.metadata.version(dist)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--expect", choices=["clean", "leak"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    if importlib.util.find_spec("langgraph_fixed") is not None:
        print("langgraph_fixed is importable: this check must run without it", file=sys.stderr)
        return 2
    selfcheck = load_selfcheck()
    rows: list[dict[str, Any]] = []
    for scenario in selfcheck.SCENARIOS:
        retention = selfcheck.measure(scenario, args.requests)
        rows.append({"name": scenario.name, "alive": retention.alive})
    for name, (description, request, present) in EXTRA_SCENARIOS.items():
        if not present():
            rows.append({"name": name, "alive": None})
            continue
        scenario = selfcheck.Scenario(name, description, request)
        rows.append({"name": name, "alive": selfcheck.measure(scenario, args.requests).alive})

    found = versions()
    print(", ".join(f"{d} {v}" for d, v in found.items()))
    for row in rows:
        if row["alive"] is None:
            print(f"  {row['name']:28} skipped (no such cache in these versions)")
        else:
            print(f"  {row['name']:28} {row['alive']} of {args.requests} payloads alive")
    if args.json:
        document = {"versions": found, "requests": args.requests, "scenarios": rows}
        args.json.write_text(json.dumps(document, indent=2) + "\n")

    counts = {row["name"]: row["alive"] for row in rows}
    if args.expect == "clean" and any(counts.values()):
        print("FAIL: payloads alive", file=sys.stderr)
        return 1
    if args.expect == "leak" and not all(counts[name] for name in NONLOCALS_ALWAYS):
        print("FAIL: the unpatched install was expected to leak", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
