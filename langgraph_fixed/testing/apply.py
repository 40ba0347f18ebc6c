"""A pytest plugin that applies the fixes before collection.

Load it by name to run another project's test suite (langchain-core's,
langgraph's) with the fixes in place::

    pytest -p langgraph_fixed.testing.apply

It is not registered as a ``pytest11`` entry point, so it acts only when asked.
It imports the module of every fix the installed versions need, then applies
with ``strict=True``: a fix that is needed but cannot be applied stops the run
at start-up (an ``INTERNALERROR``, no test runs) instead of letting the suite
pass unpatched. The hooks take none of pytest's arguments, so the module does
not import pytest, which is not a dependency of the package.
"""

from __future__ import annotations

import langgraph_fixed
from langgraph_fixed.diagnostics.caches import import_targets

__all__ = ["pytest_configure", "pytest_report_header"]


def pytest_configure() -> None:
    """Apply every needed fix before any test module is imported."""
    import_targets()
    langgraph_fixed.apply(strict=True)


def pytest_report_header() -> str:
    """One header line: the fixes in each state."""
    by_state: dict[str, list[str]] = {}
    for status in langgraph_fixed.status():
        by_state.setdefault(status.state.value, []).append(status.fix)
    states = "; ".join(f"{state}: {', '.join(fixes)}" for state, fixes in by_state.items())
    return f"langgraph-fixed {langgraph_fixed.__version__} (testing.apply, strict): {states}"
