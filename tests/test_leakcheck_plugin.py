"""The ``leakcheck`` pytest plugin, run on real test files in fresh pytest processes.

Each inner run is a subprocess (``pytester.runpytest_subprocess``), so it
starts with upstream's cache empty and the library unpatched, unless it loads
``-p langgraph_fixed.testing.apply``, which applies the fixes. Which inner tests
must fail unpatched follows ``LEAKS_UPSTREAM`` from ``tests/test_leaks.py``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path

import pytest

from tests.test_leaks import LEAKS_UPSTREAM

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
NONLOCALS_CACHE = "lru_cache of langchain_core.runnables.utils.get_function_nonlocals"


def _plugin_args() -> tuple[str, ...]:
    """Load the plugin by its entry-point name when installed, else by module name.

    Once the package is installed, pytest loads the module under the entry
    point's name, and loading it again under its module name is refused
    ("Plugin already registered under a different name").
    """
    installed = any(
        ep.name == "langgraph_fixed_leakcheck"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )
    name = "langgraph_fixed_leakcheck" if installed else "langgraph_fixed.testing.leakcheck"
    return ("-p", name)


PLUGIN = _plugin_args()
APPLY = ("-p", "langgraph_fixed.testing.apply")
BASE = ("-p", "no:cacheprovider", "--strict-markers", "-W", "ignore::DeprecationWarning")

GRAPHS = '''
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict


class State(TypedDict):
    query: str
    docs: list


class IndexRetriever(BaseRetriever):
    index: Any = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document(page_content=query)]


def build(retriever: IndexRetriever) -> Any:
    def search(state: State) -> dict[str, Any]:
        return {"docs": retriever.invoke(state["query"])}

    graph = StateGraph(State)
    graph.add_node("search", RunnableLambda(search))
    graph.add_edge(START, "search")
    graph.add_edge("search", END)
    return graph.compile()


def answer(query: str) -> dict[str, Any]:
    """A graph per request, a RunnableLambda node closing over its retriever."""
    return build(IndexRetriever(index=bytearray(64))).invoke({"query": query})
'''


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose subprocesses import this checkout, without the start-up hook."""
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), path])))
    monkeypatch.delenv("LANGGRAPH_FIXED", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(graphs=GRAPHS)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*PLUGIN, *BASE, *args, timeout=300)


def reports(result: pytest.RunResult) -> str:
    """The FAILURES section only: pytest repeats each whole failure message in
    the short summary when it runs on CI (``CI``/``BUILD_NUMBER`` set) and cuts
    it to the terminal width elsewhere, so counts over all output vary."""
    return result.stdout.str().split("short test summary info")[0]


MARKED = """
import pytest
from graphs import IndexRetriever, answer
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool
from langgraph_fixed.testing.leakcheck import leakcheck


@pytest.mark.leakcheck
def test_default_types():
    assert answer("q")["docs"]


@pytest.mark.leakcheck(types=BaseRetriever)
def test_types_keyword():
    assert answer("q")["docs"]


@pytest.mark.leakcheck(BaseRetriever, BaseTool)
def test_types_positional():
    assert answer("q")["docs"]


@leakcheck(BaseRetriever)
def test_helper():
    assert answer("q")["docs"]


@pytest.mark.leakcheck(types=BaseTool)
def test_other_types_only():
    assert answer("q")["docs"]


def test_unmarked_is_not_checked():
    assert answer("q")["docs"]


@pytest.mark.leakcheck
def test_failing_on_its_own_is_not_checked():
    retriever = IndexRetriever()
    assert answer("q")["docs"] == "something else", retriever
"""


def test_marker_fails_unpatched_and_passes_with_the_fix(pytester: pytest.Pytester) -> None:
    assert LEAKS_UPSTREAM["runnable_lambda_node"] is True  # leaks on every version
    pytester.makepyfile(test_marked=MARKED)

    unpatched = run(pytester)
    unpatched.assert_outcomes(passed=2, failed=5)
    out = unpatched.stdout.str()
    for name in ("default_types", "types_keyword", "types_positional", "helper"):
        assert f"FAILED test_marked.py::test_{name} - Failed: leakcheck:" in out
    failures = reports(unpatched)
    assert failures.count("leakcheck: 1 object(s) created during the test are still alive") == 4
    assert failures.count("IndexRetriever at 0x") == 4
    assert failures.count(NONLOCALS_CACHE) == 4
    unpatched.stdout.fnmatch_lines(
        [
            "*IndexRetriever at 0x* is kept alive by:",
            f"  {NONLOCALS_CACHE} -> list",
            "  item [0] of list -> bound method BaseRetriever.invoke",
            "  __self__ of bound method BaseRetriever.invoke -> IndexRetriever",
        ]
    )
    # failing on its own: the test's assertion, not a leak report
    assert "test_failing_on_its_own_is_not_checked - AssertionErro" in out

    fixed = run(pytester, *APPLY)
    fixed.assert_outcomes(passed=6, failed=1)
    assert "leakcheck:" not in fixed.stdout.str()
    assert "langgraph-fixed" in fixed.stdout.str()  # pytest_apply's header line


UNMARKED = """
from graphs import answer


def test_lambda_node_graph():
    assert answer("q")["docs"]
"""

TOOL_NODE = """
from typing import Any

from graphs import IndexRetriever, State
from langchain_core.messages import AIMessage
from langchain_core.tools import create_retriever_tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode


def test_tool_node_graph():
    tool = create_retriever_tool(IndexRetriever(), "search", "Search the index.")
    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode([tool]))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    call = {"name": "search", "args": {"query": "q"}, "id": "1"}
    result = graph.compile().invoke({"messages": [AIMessage(content="", tool_calls=[call])]})
    assert result["messages"][-1].content
"""


def test_option_checks_every_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unmarked=UNMARKED, test_tool_node=TOOL_NODE)
    # Through ToolNode the retriever leaks only where langgraph itself calls
    # langchain-core's cached function (langgraph < 0.3.16).
    tool_node_leaks = bool(LEAKS_UPSTREAM["tool_node_retriever"])

    run(pytester).assert_outcomes(passed=2)  # off unless asked

    unpatched = run(pytester, "--leakcheck")
    unpatched.assert_outcomes(
        passed=0 if tool_node_leaks else 1, failed=2 if tool_node_leaks else 1
    )
    out = unpatched.stdout.str()
    assert "FAILED test_unmarked.py::test_lambda_node_graph - Failed: leakcheck:" in out
    assert ("FAILED test_tool_node.py::test_tool_node_graph" in out) is tool_node_leaks
    assert NONLOCALS_CACHE in out
    if tool_node_leaks:
        assert "__self__ of bound method ToolNode._func -> ToolNode" in out

    fixed = run(pytester, "--leakcheck", *APPLY)
    fixed.assert_outcomes(passed=2)


def test_explain_limit_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_many="""
        import pytest
        from graphs import answer

        @pytest.mark.leakcheck
        def test_three_requests():
            for _ in range(3):
                answer("q")
        """
    )
    result = run(pytester, "--leakcheck-explain", "1")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "leakcheck: 3 object(s)" in out
    assert reports(result).count("is kept alive by:") == 1
    assert "(2 more not explained; see --leakcheck-explain)" in out


def test_xdist(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_marked=MARKED, test_unmarked=UNMARKED)
    unpatched = run(pytester, "-n", "2", "--leakcheck")
    unpatched.assert_outcomes(passed=1, failed=7)
    out = unpatched.stdout.str()
    assert "created: 2/2 workers" in out or "2 workers [" in out
    assert out.count(NONLOCALS_CACHE) >= 5
    assert "FAILED test_unmarked.py::test_lambda_node_graph - Failed: leakcheck:" in out

    fixed = run(pytester, "-n", "2", "--leakcheck", *APPLY)
    fixed.assert_outcomes(passed=7, failed=1)


def test_async_test(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_asyncio")
    # An async chain whose config_specs reads RunnableLambda.deps: leaks on every
    # version (LEAKS_UPSTREAM["config_specs_bound_method"]). (A compiled graph's
    # ainvoke on langgraph 0.3.15 sometimes leaves one run's objects alive until a
    # later run, with or without the fix: a different, older problem.)
    assert LEAKS_UPSTREAM["config_specs_bound_method"] is True
    pytester.makepyfile(
        test_async="""
        import asyncio

        import pytest
        from graphs import IndexRetriever
        from langchain_core.runnables import RunnableLambda, RunnablePassthrough


        @pytest.mark.asyncio
        @pytest.mark.leakcheck
        async def test_ainvoke():
            retriever = IndexRetriever(index=bytearray(64))

            async def search(query):
                return await retriever.ainvoke(query)

            chain = RunnableLambda(search) | RunnablePassthrough()
            assert chain.config_specs == []
            assert await chain.ainvoke("q")
            await asyncio.sleep(0)
        """
    )
    unpatched = run(pytester)
    unpatched.assert_outcomes(failed=1)
    out = unpatched.stdout.str()
    assert "FAILED test_async.py::test_ainvoke - Failed: leakcheck:" in out
    assert "leakcheck: 1 object(s) created during the test are still alive after it" in out
    assert NONLOCALS_CACHE in out
    run(pytester, *APPLY).assert_outcomes(passed=1)


def test_the_plugin_keeps_nothing_alive(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_keep="""
        import gc
        import weakref

        import pytest
        from langgraph_fixed.diagnostics.scenarios import Payload

        KEEP = []
        REFS = []


        @pytest.mark.leakcheck(types=Payload)
        def test_a_keeps_a_payload():
            payload = Payload()
            KEEP.append(payload)
            REFS.append(weakref.ref(payload))


        def test_b_released_once_the_test_lets_go():
            assert REFS[0]() is not None
            KEEP.clear()
            gc.collect()
            assert REFS[0]() is None
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*leakcheck: 1 object(s) created during the test are still alive after it: 1 Payload",
            "Payload at 0x* is kept alive by:",
            "  module global `test_keep.KEEP` -> list",
            "  item [0] of list -> Payload",
        ]
    )


def test_marker_is_registered_and_checked(pytester: pytest.Pytester) -> None:
    markers = pytester.runpytest_subprocess(*PLUGIN, "--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.leakcheck(*types): fail the test when*"])

    pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.leakcheck(types="BaseRetriever")
        def test_bad():
            pass
        """
    )
    result = run(pytester)
    assert result.ret != 0
    assert "takes classes" in result.stdout.str() + result.stderr.str()


def test_entry_point_declared() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    plugins = project["entry-points"]["pytest11"]
    assert plugins == {"langgraph_fixed_leakcheck": "langgraph_fixed.testing.leakcheck"}
    assert importlib.util.find_spec(plugins["langgraph_fixed_leakcheck"]) is not None
