"""``langgraph_fixed.diagnostics.leaks``: track, explain and Monitor on real graphs, with real gc.

The leak halves follow ``tests/test_leaks.py``: a scenario is expected to keep
its payloads alive on the unpatched library only where ``LEAKS_UPSTREAM`` says
so for the installed versions, and never with the fix.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import inspect
import logging
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.graph import END, START, StateGraph
from langgraph.pregel import Pregel
from typing_extensions import TypedDict

import langgraph_fixed
from langgraph_fixed.diagnostics.caches import upstream_caches_cleared
from langgraph_fixed.diagnostics.leaks import (
    Explanation,
    Monitor,
    Tracker,
    default_types,
    explain,
    track,
)
from langgraph_fixed.diagnostics.scenarios import SCENARIOS, Payload, Scenario
from tests.test_leaks import LEAKS_UPSTREAM

NONLOCALS_CACHE = "lru_cache of langchain_core.runnables.utils.get_function_nonlocals"
REQUESTS = 3  # below upstream's 256 entries: every leaking request stays


class State(TypedDict):
    query: str
    docs: list[Document]


class IndexRetriever(BaseRetriever):
    """A retriever holding something expensive (an index, a connection)."""

    index: Any = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document(page_content=f"{query}: {len(self.index)} bytes")]


def answer_with_lambda_node(query: str) -> dict[str, Any]:
    """A graph built per request: a RunnableLambda node closing over its retriever."""
    retriever = IndexRetriever(index=bytearray(256))

    def search(state: State) -> dict[str, Any]:
        return {"docs": retriever.invoke(state["query"])}

    graph = StateGraph(State)
    graph.add_node("search", RunnableLambda(search))
    graph.add_edge(START, "search")
    graph.add_edge("search", END)
    result: dict[str, Any] = graph.compile().invoke({"query": query})
    return result


def wrapped_inits(*roots: type) -> dict[type, Any]:
    """Every class of the hierarchies with its own ``__init__`` entry (or None)."""
    seen: dict[type, Any] = {}
    stack = list(roots)
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen[cls] = cls.__dict__.get("__init__")
        stack.extend(type.__subclasses__(cls))
    return seen


@pytest.fixture
def untouched() -> Iterator[None]:
    """The test must leave every ``__init__`` of the default types as it found it."""
    before = wrapped_inits(*default_types())
    yield
    after = wrapped_inits(*default_types())
    assert {cls: after[cls] for cls in before} == before


# --- track and explain on the leak -------------------------------------------


def test_default_types() -> None:
    assert set(default_types()) == {BaseTool, BaseRetriever, Pregel, Runnable}


def test_unpatched_retriever_is_explained_by_the_nonlocals_cache(untouched: None) -> None:
    assert LEAKS_UPSTREAM["runnable_lambda_node"] is True
    with track() as tracker:
        for _ in range(REQUESTS):
            assert answer_with_lambda_node("q")["docs"]
    survivors = [obj for obj in tracker.alive() if isinstance(obj, IndexRetriever)]
    assert len(survivors) == REQUESTS
    ref = weakref.ref(survivors[0])
    del survivors

    explanation = explain(ref())
    assert explanation.found, explanation
    assert explanation.links[0].kind == "lru_cache"
    assert explanation.root == NONLOCALS_CACHE
    assert NONLOCALS_CACHE in explanation
    assert str(explanation).startswith("IndexRetriever at 0x")
    assert NONLOCALS_CACHE in str(explanation)
    assert explanation.links[-1].type_name == "IndexRetriever"

    # explain() kept nothing: emptying upstream's cache frees the retriever
    from langchain_core.runnables import utils

    utils.get_function_nonlocals.cache_clear()
    gc.collect()
    assert ref() is None


def test_patched_track_reports_nothing_alive(untouched: None) -> None:
    with langgraph_fixed.patched(strict=True), track() as tracker:
        for _ in range(REQUESTS):
            assert answer_with_lambda_node("q")["docs"]
    assert tracker.created >= REQUESTS * 3  # retrievers, lambdas, graphs, ...
    assert tracker.alive() == []
    assert tracker.counts() == {}


@pytest.mark.parametrize(
    "scenario", [s for s in SCENARIOS if s.name in LEAKS_UPSTREAM], ids=lambda s: s.name
)
def test_every_scenario_both_ways(scenario: Scenario, untouched: None) -> None:
    expected = LEAKS_UPSTREAM[scenario.name]
    with upstream_caches_cleared():
        with track(Payload) as tracker:
            for _ in range(REQUESTS):
                scenario.run(Payload())
        survivors = tracker.alive()
        assert len(survivors) == (REQUESTS if expected else 0), scenario.name
        if survivors:
            explanation = explain(survivors[0], ignore=[survivors])
            assert explanation.found, explanation
            if expected is True:  # the get_function_nonlocals leak
                assert explanation.root == NONLOCALS_CACHE, explanation
            assert explanation.links[-1].type_name == "Payload"
        del survivors

    with langgraph_fixed.patched(strict=True), upstream_caches_cleared():
        with track(Payload) as fixed:
            for _ in range(REQUESTS):
                scenario.run(Payload())
        assert fixed.created == REQUESTS
        assert fixed.alive() == []


def test_labels_of_a_bound_method_chain() -> None:
    scenario = next(s for s in SCENARIOS if s.name == "config_specs_bound_method")
    with track(Payload) as tracker:
        scenario.run(Payload())
    (survivor,) = tracker.alive()
    labels = [link.label for link in explain(survivor).links]
    del survivor
    assert labels[0] == NONLOCALS_CACHE
    assert "__self__ of bound method _Holder.step" in labels
    assert labels[-1] == "attribute `payload` of _Holder"


def test_labels_of_a_closure_chain() -> None:
    scenario = next(s for s in SCENARIOS if s.name == "runnable_lambda_node")
    with track(Payload) as tracker:
        scenario.run(Payload())
    (survivor,) = tracker.alive()
    explanation = explain(survivor)
    del survivor
    assert explanation.root == NONLOCALS_CACHE
    assert explanation.links[-1].kind == "closure_cell"
    assert explanation.links[-1].label == (
        "closure cell `payload` of function _runnable_lambda_node.<locals>.work"
    )


# --- explain, on chains built here -------------------------------------------

HELD: list[Any] = []
HELD_BY_NAME: dict[str, Any] = {}


class Registry:
    """A class attribute is a root when the class is importable."""

    entries: dict[str, Any] = {}  # noqa: RUF012


@pytest.fixture
def clean_holders() -> Iterator[None]:
    yield
    HELD.clear()
    HELD_BY_NAME.clear()
    Registry.entries.clear()


def test_explain_module_global(clean_holders: None) -> None:
    payload = Payload()
    HELD.append(payload)
    explanation = explain(payload)
    assert [link.kind for link in explanation.links] == ["module_global", "item"]
    assert explanation.links[0].label.startswith("module global `")
    assert explanation.links[0].label.endswith("test_leaks_tracker.HELD`")
    assert explanation.links[1].label == "item [0] of list"


def test_explain_dict_value_and_attribute(clean_holders: None) -> None:
    retriever = IndexRetriever(index=Payload())
    HELD_BY_NAME["search"] = retriever
    explanation = explain(retriever.index)
    assert [link.label.split(" `")[0] for link in explanation.links] == [
        "module global",
        "value of dict key 'search'",
        "attribute",
    ]
    assert explanation.links[-1].label == "attribute `index` of IndexRetriever"


def test_explain_class_attribute(clean_holders: None) -> None:
    payload = Payload()
    Registry.entries["x"] = payload
    explanation = explain(payload)
    assert explanation.links[0].kind == "class_attribute"
    assert explanation.links[0].label.endswith("test_leaks_tracker.Registry.entries`")


def test_explain_runnable_lambda_deps(clean_holders: None) -> None:
    def make() -> RunnableLambda[int, int]:
        inner = RunnableLambda(lambda x: x + 1)
        return RunnableLambda(lambda x: inner.invoke(x))

    outer = make()
    with langgraph_fixed.patched(strict=True):  # else upstream's cache is the shorter chain
        (inner,) = outer.deps
    HELD.append(outer)
    explanation = explain(inner)
    labels = [link.label for link in explanation.links]
    assert labels[:2] == ["module global `tests.test_leaks_tracker.HELD`", "item [0] of list"]
    assert "RunnableLambda.deps (cached_property)" in labels, explanation


def test_explain_frame_of_another_thread() -> None:
    ready, done = threading.Event(), threading.Event()
    box: list[weakref.ref[Payload]] = []

    def worker() -> None:
        payload = Payload()
        box.append(weakref.ref(payload))
        ready.set()
        done.wait(30)
        del payload

    thread = threading.Thread(target=worker, name="holder-thread")
    thread.start()
    try:
        assert ready.wait(30)
        explanation = explain(box[0]())
    finally:
        done.set()
        thread.join(30)
    assert explanation.links[0].kind == "frame_local", explanation
    assert "local variable `payload` of" in explanation.links[0].label
    assert "holder-thread" in explanation.links[0].label


def test_explain_not_found_is_bounded_and_says_so() -> None:
    payload = Payload()  # held only by this frame, which explain() ignores
    explanation = explain(payload)
    assert not explanation.found
    assert explanation.links == ()
    assert "no root found" in str(explanation)

    HELD.append([[[payload]]])
    try:
        shallow = explain(payload, max_depth=2)
    finally:
        HELD.clear()
    assert not shallow.found
    assert "searched 2 levels" in shallow.note


def test_explain_keeps_nothing_alive(clean_holders: None) -> None:
    payload = Payload()
    HELD.append(payload)
    ref = weakref.ref(payload)
    del payload
    explanation = explain(ref())
    assert isinstance(explanation, Explanation)
    HELD.clear()
    gc.collect()
    assert ref() is None
    assert "module global" in str(explanation)  # the result is text only


# --- the tracker's mechanics -------------------------------------------------


def test_track_holds_only_weak_references() -> None:
    with track(Payload) as tracker:
        payload = Payload()
        ref = weakref.ref(payload)
    assert tracker.alive(collect=False) == [payload]
    del payload
    gc.collect()
    assert ref() is None
    assert tracker.alive() == []
    assert tracker.created == 1


def test_init_restored_on_exit_and_on_exception() -> None:
    before = wrapped_inits(*default_types(), Payload)
    with track(*default_types(), Payload):
        during = wrapped_inits(*default_types(), Payload)
        assert during != before
        # the signature users see is the original's
        assert inspect.signature(RunnableLambda.__init__) == inspect.signature(
            inspect.unwrap(RunnableLambda.__init__)
        )
    assert wrapped_inits(*default_types(), Payload) == before

    with pytest.raises(ZeroDivisionError), track(Payload):
        _ = 1 / 0
    assert wrapped_inits(*default_types(), Payload) == before
    assert "__init__" not in BaseRetriever.__dict__
    assert "__init__" not in Runnable.__dict__


def test_nested_blocks_share_wrappers(untouched: None) -> None:
    with track(Runnable) as outer:
        first = RunnableLambda(lambda x: x)
        with track(BaseRetriever) as inner:
            retriever = IndexRetriever()
            second = RunnableLambda(lambda x: x)
        third = RunnableLambda(lambda x: x)
        assert "__init__" in Runnable.__dict__  # still wrapped for the outer block
    kept = outer.alive()
    assert {id(o) for o in kept} == {id(first), id(second), id(third), id(retriever)}
    assert inner.alive() == [retriever]
    del kept


def test_classes_created_inside_the_block(untouched: None) -> None:
    with track() as tracker:

        class LocalRetriever(BaseRetriever):  # pydantic, inherits a wrapped __init__
            def _get_relevant_documents(
                self, query: str, *, run_manager: CallbackManagerForRetrieverRun
            ) -> list[Document]:
                return []

        class OwnInit(Runnable[int, int]):  # its own __init__, never calls super()
            def __init__(self, step: int) -> None:
                self.step = step

            def invoke(self, input: int, config: Any = None, **kwargs: Any) -> int:
                return input + self.step

        def lookup(query: str) -> str:
            """Look it up."""
            return query

        retriever = LocalRetriever()
        own = OwnInit(2)
        tool = StructuredTool.from_function(lookup)
    alive = tracker.alive()
    assert {id(o) for o in alive} >= {id(retriever), id(own), id(tool)}
    assert own.invoke(1) == 3 and tool.invoke({"query": "x"}) == "x"
    del alive


def test_pydantic_models_still_validate_inside(untouched: None) -> None:
    with track(BaseRetriever):
        retriever = IndexRetriever(index=[1, 2])
        with pytest.raises(Exception, match="validation error"):
            IndexRetriever(index=1, tags="not a list")
    assert retriever.invoke("q")[0].page_content == "q: 2 bytes"


def test_instances_that_cannot_be_weakly_referenced() -> None:
    class Point:
        __slots__ = ("x",)

        def __init__(self, x: int) -> None:
            self.x = x

    with track(Point) as tracker:
        kept = Point(1)
        Point(2)
    alive = tracker.alive()
    assert alive == [kept]
    del alive, kept
    assert tracker.alive() == []


def test_types_whose_init_cannot_be_replaced_are_scanned() -> None:
    before = collections.OrderedDict(a=1)
    with track(collections.OrderedDict) as tracker:
        made = collections.OrderedDict(b=2)
    alive = tracker.alive()
    assert any(o is made for o in alive)
    assert not any(o is before for o in alive)
    del alive


def test_threads_process_and_context_scopes(untouched: None) -> None:
    made: dict[str, list[Any]] = {"a": [], "b": []}
    results: dict[str, Tracker] = {}
    start = threading.Barrier(2)

    def work(name: str) -> None:
        with track(Payload, scope="context") as tracker:
            start.wait(30)
            for _ in range(50):
                made[name].append(Payload())
            start.wait(30)
        results[name] = tracker

    with track(Payload) as everything:
        threads = [threading.Thread(target=work, args=(n,)) for n in made]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    for name in made:
        assert {id(o) for o in results[name].alive()} == {id(o) for o in made[name]}
    assert len(everything.alive()) == 100
    made.clear()
    assert everything.alive() == []


def test_concurrent_blocks_in_many_threads_restore_everything() -> None:
    before = wrapped_inits(*default_types(), Payload)
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            for _ in range(30):
                with track(Payload, Runnable) as tracker:
                    payload = Payload()
                    RunnableLambda(lambda x: x)
                assert any(o is payload for o in tracker.alive(collect=False))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=churn) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert wrapped_inits(*default_types(), Payload) == before


def test_context_scope_follows_asyncio_tasks() -> None:
    async def main() -> tuple[int, int]:
        with track(Payload, scope="context") as tracker:
            # asyncio.to_thread copies the context into the worker thread
            kept = await asyncio.gather(*(asyncio.to_thread(Payload) for _ in range(3)))
            found = len(tracker.alive())
        outside = Payload()  # after the block: not recorded
        found_after = len([o for o in tracker.alive() if o is outside])
        del kept
        return found, found_after

    found, found_after = asyncio.run(main())
    assert found == 3
    assert found_after == 0


def test_a_tracker_is_entered_once() -> None:
    tracker = track(Payload)
    with tracker:
        pass
    with pytest.raises(RuntimeError), tracker:
        pass
    with pytest.raises(TypeError):
        track("not a class")  # type: ignore[arg-type]


# --- Monitor -----------------------------------------------------------------


def test_monitor_reports_growth_with_chains(clean_holders: None) -> None:
    monitor = Monitor([IndexRetriever], top=2)
    baseline = monitor.check()
    assert baseline.first and baseline.growth == ()
    for _ in range(3):
        HELD.append(IndexRetriever(index=Payload()))
    report = monitor.check()
    (growth,) = report.growth
    assert growth.type_name.endswith("IndexRetriever") and growth.delta == 3
    assert len(report.chains) == 2
    assert all("test_leaks_tracker.HELD`" in chain.links[0].label for chain in report.chains)
    assert "tracked instances grew" in str(report)
    assert monitor.check().growth == ()  # no new growth

    refs = [weakref.ref(obj) for obj in HELD]
    HELD.clear()
    gc.collect()
    assert all(ref() is None for ref in refs)  # the monitor kept none of them


def test_monitor_background_thread_logs(
    clean_holders: None, caplog: pytest.LogCaptureFixture
) -> None:
    reports: list[Any] = []
    checked = threading.Event()

    def on_report(report: Any) -> None:
        reports.append(report)
        if len(reports) >= 2:
            checked.set()

    caplog.set_level(logging.DEBUG, logger="langgraph_fixed.diagnostics.leaks")
    monitor = Monitor([IndexRetriever], interval=0.05, on_report=on_report)
    with monitor:
        HELD.append(IndexRetriever(index=Payload()))
        assert checked.wait(30)
    assert monitor._thread is None
    assert any("leak monitor" in record.getMessage() for record in caplog.records)


def test_monitor_does_nothing_until_asked() -> None:
    names = {thread.name for thread in threading.enumerate()}
    Monitor()
    assert "langgraph-fixed-leak-monitor" not in names
    assert all(t.name != "langgraph-fixed-leak-monitor" for t in threading.enumerate())


def test_explain_closure_cell_of_a_running_frame() -> None:
    ready, done = threading.Event(), threading.Event()
    box: list[weakref.ref[Payload]] = []

    def worker() -> None:
        payload = Payload()

        def reader() -> int:  # makes `payload` a cell of this frame
            return len(payload.data)

        box.append(weakref.ref(payload))
        HELD.append(reader)
        ready.set()
        done.wait(30)

    thread = threading.Thread(target=worker, name="cell-thread")
    thread.start()
    try:
        assert ready.wait(30)
        HELD.clear()  # now only the running frame's cell holds it
        explanation = explain(box[0]())
    finally:
        done.set()
        thread.join(30)
    assert explanation.found, explanation
    assert explanation.links[0].label.startswith("local variable `payload` of ")
    assert "cell-thread" in explanation.links[0].label
