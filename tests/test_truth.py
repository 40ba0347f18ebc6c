"""A status that tells the truth: other patchers, tests that monkeypatch, blocks that overlap.

Whenever a report says ``applied``, no payload is kept; whenever a module still
reaches upstream's cached code, the report says so and ``strict=True`` raises.
Each case was found by trying to fool the bookkeeping (issue 13) and is shown
here on the real library: the leak measured where the status admits one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

import langgraph_fixed
from langgraph_fixed import FixNotApplied, FixState, LangGraphFixedWarning
from langgraph_fixed.diagnostics.caches import upstream_caches_cleared
from langgraph_fixed.diagnostics.scenarios import SCENARIOS, measure

NAME = "get_function_nonlocals"
REQUESTS = 300
LAMBDA_NODE = next(s for s in SCENARIOS if s.name == "runnable_lambda_node")


def utils() -> Any:
    from langchain_core.runnables import utils

    return utils


def base() -> Any:
    from langchain_core.runnables import base

    return base


def alive() -> int:
    """Payloads kept after 300 per-request graphs with a RunnableLambda node."""
    with upstream_caches_cleared():
        return measure(LAMBDA_NODE, REQUESTS).alive


def state() -> FixState:
    return langgraph_fixed.status().get(NAME).state


@pytest.fixture
def upstream() -> Iterator[Any]:
    """Upstream's cached function; after the test, every module global of that name that
    reaches it (or a fix) through a wrapper is bound to it again."""
    import sys

    import langgraph.graph  # noqa: F401 - loaded first, as an application has it

    from langgraph_fixed._bindings import chain
    from langgraph_fixed.fixes._base import replaced

    original = utils().get_function_nonlocals
    assert base().get_function_nonlocals is original, "imported: langchain-core imports lazily"
    yield original
    langgraph_fixed.revert()
    utils().get_function_nonlocals = base().get_function_nonlocals = original
    for module in list(sys.modules.values()):
        links = chain(getattr(module, NAME, None))
        if any(link is original or replaced(link) is original for link in links):
            setattr(module, NAME, original)


# --- another patcher's wrapper on the target ----------------------------------


def test_a_wrapt_wrapper_on_the_target_is_skipped_naming_it(upstream: Any) -> None:
    wrapt = pytest.importorskip("wrapt")
    wrapt.wrap_function_wrapper(utils(), NAME, lambda wrapped, inst, args, kw: wrapped(*args, **kw))
    with pytest.warns(LangGraphFixedWarning, match="FunctionWrapper"):
        report = langgraph_fixed.apply()
    status = report.get(NAME)
    assert status.state is FixState.SKIPPED and "another patcher" in status.reason
    assert base().get_function_nonlocals is upstream, "nothing replaced beneath the wrapper"
    assert alive() == 256, "skipped is the truth: the leak is there"
    with pytest.warns(LangGraphFixedWarning), pytest.raises(FixNotApplied):
        langgraph_fixed.apply(strict=True)


def test_a_wrapt_wrapper_put_on_the_fix_keeps_it_applied(upstream: Any) -> None:
    wrapt = pytest.importorskip("wrapt")
    langgraph_fixed.apply(strict=True)
    fix = utils().get_function_nonlocals
    wrapt.wrap_function_wrapper(utils(), NAME, lambda wrapped, inst, args, kw: wrapped(*args, **kw))
    assert (
        utils().get_function_nonlocals is not fix
        and utils().get_function_nonlocals.__wrapped__ is fix
    )
    assert state() is FixState.APPLIED
    assert alive() == 0
    langgraph_fixed.revert()
    assert base().get_function_nonlocals is upstream


def test_a_mock_wrapping_the_target_is_skipped_naming_it(upstream: Any) -> None:
    with mock.patch.object(utils(), NAME, wraps=upstream):
        with pytest.warns(LangGraphFixedWarning, match="MagicMock"):
            assert langgraph_fixed.apply().get(NAME).state is FixState.SKIPPED
        assert base().get_function_nonlocals is upstream
        with pytest.warns(LangGraphFixedWarning), pytest.raises(FixNotApplied):
            langgraph_fixed.apply(strict=True)
    # the mock gone, upstream's code is bound again: the fix applies
    assert langgraph_fixed.apply(strict=True).get(NAME).state is FixState.APPLIED
    assert alive() == 0


def test_a_real_instrumentation_package_leaves_the_fix_applied_and_leak_free(
    upstream: Any,
) -> None:
    instrumentation = pytest.importorskip("openinference.instrumentation.langchain")
    instrumentor = instrumentation.LangChainInstrumentor()
    instrumentor.instrument()
    try:
        report = langgraph_fixed.apply(strict=True)
        assert report.get(NAME).state is FixState.APPLIED
        assert alive() == 0
    finally:
        instrumentor.uninstrument()


# --- bookkeeping undone by someone else -----------------------------------------


def test_a_module_bound_to_upstream_again_is_partial_and_apply_repairs_it(upstream: Any) -> None:
    langgraph_fixed.apply(strict=True)
    assert state() is FixState.APPLIED and alive() == 0
    base().get_function_nonlocals = upstream  # someone puts upstream's code back
    status = langgraph_fixed.status().get(NAME)
    assert status.state is FixState.PARTIAL
    assert status.leaks == ("langchain_core.runnables.base.get_function_nonlocals",)
    assert not langgraph_fixed.status().ok
    assert alive() == 256, "partial is the truth: RunnableLambda.deps reads base's binding"
    assert langgraph_fixed.apply(strict=True).get(NAME).state is FixState.APPLIED
    assert base().get_function_nonlocals is utils().get_function_nonlocals is not upstream
    assert alive() == 0


def test_the_target_rebound_by_someone_else_is_partial(upstream: Any) -> None:
    langgraph_fixed.apply(strict=True)

    def other(func: Any) -> list[Any]:
        return []

    utils().get_function_nonlocals = other
    status = langgraph_fixed.status().get(NAME)
    assert status.state is FixState.PARTIAL and "not the fix" in status.reason
    with pytest.warns(LangGraphFixedWarning), pytest.raises(FixNotApplied):
        langgraph_fixed.apply(strict=True)


def test_a_monkeypatch_undone_after_revert_is_adopted_and_reverted(upstream: Any) -> None:
    """The pytest pattern: a fixture's ``patched()`` torn down before ``monkeypatch``."""
    patcher = pytest.MonkeyPatch()
    with langgraph_fixed.patched(strict=True):
        patcher.setattr(utils(), NAME, lambda func: [])  # saves the fix, to put it back
    # the block reverted what it could (base); undoing the monkeypatch puts the fix back
    patcher.undo()
    assert utils().get_function_nonlocals is not upstream  # the fix, no longer recorded
    assert base().get_function_nonlocals is upstream
    status = langgraph_fixed.status().get(NAME)
    assert status.state is FixState.INACTIVE and "still holds a fix of ours" in status.reason
    assert alive() == 256, "base still leaks"

    report = langgraph_fixed.apply(strict=True)
    assert report.get(NAME).state is FixState.APPLIED and "adopted" in report.get(NAME).reason
    assert base().get_function_nonlocals is utils().get_function_nonlocals
    assert alive() == 0
    langgraph_fixed.revert()
    assert utils().get_function_nonlocals is upstream and base().get_function_nonlocals is upstream


def test_revert_undoes_a_fix_it_has_no_record_of(upstream: Any) -> None:
    patcher = pytest.MonkeyPatch()
    with langgraph_fixed.patched(strict=True):
        patcher.setattr(utils(), NAME, lambda func: [])
    patcher.undo()
    langgraph_fixed.revert()
    assert utils().get_function_nonlocals is upstream


# --- patched(): counted, exception-safe -------------------------------------------


def test_a_strict_patched_block_that_raises_leaves_nothing_applied(
    upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph_fixed.fixes import model_factories

    # one fix that cannot be applied: strict raises on entering the block
    monkeypatch.setattr(model_factories.ModelFactoryCacheFix, "BUILDERS", {})
    with (
        pytest.warns(LangGraphFixedWarning),
        pytest.raises(FixNotApplied),
        langgraph_fixed.patched(strict=True),
    ):
        pytest.fail("the block must not run")
    assert utils().get_function_nonlocals is upstream, "the other fixes were reverted"
    assert state() is FixState.INACTIVE


def test_overlapping_blocks_revert_when_the_last_one_exits(upstream: Any) -> None:
    first = langgraph_fixed.patched()
    second = langgraph_fixed.patched()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # out of order
    assert state() is FixState.APPLIED, "the second block still runs"
    second.__exit__(None, None, None)
    assert state() is FixState.INACTIVE and utils().get_function_nonlocals is upstream


def test_apply_inside_a_block_outlives_it(upstream: Any) -> None:
    with langgraph_fixed.patched():
        langgraph_fixed.apply()
    assert state() is FixState.APPLIED
    langgraph_fixed.revert()
    assert state() is FixState.INACTIVE


def test_blocks_in_threads_and_tasks_keep_the_fixes_while_any_runs(upstream: Any) -> None:
    entered = threading.Barrier(5)
    leave = threading.Event()
    seen: list[FixState] = []

    def block() -> None:
        with langgraph_fixed.patched():
            entered.wait(30)
            assert leave.wait(30)
            seen.append(state())

    threads = [threading.Thread(target=block) for _ in range(4)]
    for t in threads:
        t.start()
    entered.wait(30)

    async def tasks() -> None:
        async def one(delay: float) -> FixState:
            with langgraph_fixed.patched():
                await asyncio.sleep(delay)
                return state()

        assert await asyncio.gather(one(0.01), one(0.03)) == [FixState.APPLIED] * 2

    asyncio.run(tasks())
    assert state() is FixState.APPLIED, "the threads' blocks are still open"
    leave.set()
    for t in threads:
        t.join(30)
    assert seen == [FixState.APPLIED] * 4
    assert state() is FixState.INACTIVE and utils().get_function_nonlocals is upstream
