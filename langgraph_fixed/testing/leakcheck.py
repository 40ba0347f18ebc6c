"""A pytest plugin that fails tests whose LangChain / LangGraph objects outlive them.

Registered through the ``pytest11`` entry point, so it is loaded wherever the
package is installed, and does nothing unless asked: mark a test

.. code-block:: python

    @pytest.mark.leakcheck                        # tools, retrievers, graphs, runnables
    @pytest.mark.leakcheck(types=BaseRetriever)   # or the types you name
    @pytest.mark.leakcheck(BaseRetriever, BaseTool)

or pass ``--leakcheck`` to check every test. A checked test runs inside
:func:`langgraph_fixed.track`; once it has returned (before its
fixtures are torn down) a full collection runs, and the test fails when
objects of the tracked types created during it are still alive, with the
chain of references that keeps each one alive (:func:`~langgraph_fixed.explain`,
at most ``--leakcheck-explain`` of them). A test that fails on its own is
not checked. Objects created by fixtures are not tracked; objects the test
hands to a function-scoped fixture are still referenced at the check.

A single class as the only positional argument cannot work:
``@pytest.mark.leakcheck(BaseRetriever)`` makes pytest apply the mark *to*
``BaseRetriever`` (its rule for marking a class) and then call
``BaseRetriever(test_function)``. Write ``types=BaseRetriever``,
``pytest.mark.leakcheck.with_args(BaseRetriever)``, or use :func:`leakcheck`
from this module: ``@leakcheck(BaseRetriever)``.

In a checkout where the package is not installed, load it by name::

    pytest -p langgraph_fixed.testing.leakcheck
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported on first use: an unrelated pytest run pays nothing
    from langgraph_fixed.diagnostics.leaks import Tracker

__all__ = [
    "leakcheck",
    "pytest_addoption",
    "pytest_configure",
    "pytest_runtest_call",
]

MARKER = "leakcheck"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("langgraph-fixed")
    group.addoption(
        "--leakcheck",
        action="store_true",
        default=False,
        help="check every test as if marked @pytest.mark.leakcheck (langgraph-fixed)",
    )
    group.addoption(
        "--leakcheck-explain",
        type=int,
        default=3,
        metavar="N",
        help="explain at most N surviving objects per failing test (default: 3)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if _call_wrapper is None and config.getoption("leakcheck", False):
        config.issue_config_time_warning(
            pytest.PytestConfigWarning("--leakcheck needs pluggy >= 1.2: no test is checked"), 2
        )
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*types): fail the test when instances of types (default: LangChain tools, "
        "retrievers, compiled graphs and runnables) created during it are still alive "
        "after it (langgraph-fixed)",
    )


def leakcheck(*types: type) -> pytest.MarkDecorator:
    """``@pytest.mark.leakcheck`` for ``types`` (default: :func:`default_types`).

    Unlike ``@pytest.mark.leakcheck(SomeClass)``, works with one class.
    """
    decorator: pytest.MarkDecorator = getattr(pytest.mark, MARKER)
    return decorator.with_args(*types)


def _tracked_types(item: pytest.Item) -> tuple[type, ...] | None:
    marker = item.get_closest_marker(MARKER)
    if marker is None and not item.config.getoption("leakcheck", False):
        return None
    from langgraph_fixed.diagnostics.leaks import default_types

    if marker is None:
        return default_types()
    given = marker.kwargs.get("types", ())
    named = tuple(given) if isinstance(given, (tuple, list)) else (given,)
    types = (*marker.args, *named)
    wrong = [arg for arg in types if not isinstance(arg, type)]
    unknown = sorted(set(marker.kwargs) - {"types"})
    if wrong or unknown:
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.{MARKER} takes classes (positional or types=...), "
            f"got {[*wrong, *unknown]!r}"
        )
    return types or default_types()


def _runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    types = _tracked_types(item)
    if types is None:
        return (yield)
    from langgraph_fixed.diagnostics.leaks import track

    with track(*types) as tracker:
        result = yield  # a failing test raises here: not checked
    message = _survivors_message(tracker, item.config.getoption("leakcheck_explain", 3))
    if message is not None:
        pytest.fail(message, pytrace=False)
    return result


# New-style hook wrappers need pluggy >= 1.2 (pytest >= 8 has it). This module
# is loaded in every pytest run where the package is installed: with an older
# pluggy it registers the marker and the option, and checks nothing (it warns).
try:
    _call_wrapper: Any = pytest.hookimpl(wrapper=True)  # type: ignore[call-overload,unused-ignore]
except TypeError:
    _call_wrapper = None
if _call_wrapper is not None:
    pytest_runtest_call = _call_wrapper(_runtest_call)


def _survivors_message(tracker: Tracker, explain_at_most: int) -> str | None:
    """The failure text, or None when nothing survived; keeps no survivor alive."""
    from langgraph_fixed.diagnostics.leaks import explain

    survivors = tracker.alive()
    if not survivors:
        return None
    try:
        by_type = Counter(type(obj).__qualname__ for obj in survivors)
        summary = ", ".join(f"{count} {name}" for name, count in by_type.most_common())
        lines = [
            f"leakcheck: {len(survivors)} object(s) created during the test are still "
            f"alive after it: {summary}"
        ]
        # one of each type first, then the rest, in creation order
        order: list[int] = []
        seen_types: set[type] = set()
        for index, obj in enumerate(survivors):
            if type(obj) not in seen_types:
                seen_types.add(type(obj))
                order.append(index)
        order += [i for i in range(len(survivors)) if i not in set(order)]
        for index in order[: max(0, explain_at_most)]:
            lines.append(str(explain(survivors[index], ignore=(survivors,))))
        rest = len(survivors) - min(len(survivors), max(0, explain_at_most))
        if rest:
            lines.append(f"({rest} more not explained; see --leakcheck-explain)")
        return "\n".join(lines)
    finally:
        survivors.clear()
