from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import langgraph_fixed
from langgraph_fixed.diagnostics.caches import upstream_caches_cleared


@pytest.fixture(autouse=True)
def _unpatched_and_clean() -> Iterator[None]:
    """Every test starts and ends with upstream's code bound and its cache empty."""
    langgraph_fixed.revert()
    with upstream_caches_cleared():
        yield
    langgraph_fixed.revert()


@pytest.fixture
def fixed_nonlocals() -> Iterator[Any]:
    """The replacement ``get_function_nonlocals``, applied for the test."""
    from langchain_core.runnables import utils

    report = langgraph_fixed.apply(strict=True)
    assert report.get("get_function_nonlocals").active
    yield utils.get_function_nonlocals
    langgraph_fixed.revert()
