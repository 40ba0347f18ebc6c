"""Every scenario of the research table: the leak without the fix, none with it.

Each test builds real graphs and chains more often than upstream's cache holds
(256 entries), drops them, runs a full collection and counts the payloads that
are still alive: first on the unpatched library, then with the fix applied.
"""

from __future__ import annotations

import importlib.metadata

import pytest
from packaging.version import Version

import langgraph_fixed
from langgraph_fixed.diagnostics.caches import upstream_caches_cleared
from langgraph_fixed.diagnostics.scenarios import SCENARIOS, Scenario, measure

REQUESTS = 300  # more than upstream's 256 cache entries, so its bound shows

LANGGRAPH = Version(importlib.metadata.version("langgraph"))
# langgraph 0.3.16 stopped calling langchain-core's cached function for its own
# nodes; RunnableLambda.deps, config_specs and get_graph() still do everywhere.
LANGGRAPH_USES_CORE_CACHE = LANGGRAPH < Version("0.3.16")
# langgraph 0.3.9 - 0.4.7 pinned every pydantic state schema (SchemaCoercionMapper)
# and, from 0.3.28, every field type it adapts, without bound. Before 0.3.9 only
# the node function that closes over the per-request class is kept (bounded).
PINS_PYDANTIC_STATES = Version("0.3.9") <= LANGGRAPH < Version("0.4.8")
UNBOUNDED = "unbounded"
LEAKS_UPSTREAM: dict[str, bool | str] = {
    "runnable_lambda_node": True,
    "function_node": LANGGRAPH_USES_CORE_CACHE,
    "tool_node_retriever": LANGGRAPH_USES_CORE_CACHE,
    "config_specs_bound_method": True,
    "get_graph_closure_lambda": True,
    "subgraph_in_lambda": True,
    "react_agent": LANGGRAPH_USES_CORE_CACHE,
    "pydantic_state_per_request": UNBOUNDED if PINS_PYDANTIC_STATES else LANGGRAPH_USES_CORE_CACHE,
}


#: The other scenarios, one per cache, are tested cache by cache in test_other_caches.py.
TESTED_PER_CACHE = {
    "pydantic_state_graph",
    "pydantic_state_sequence",
    "tool_json_schema",
    "lambda_input_schema",
    "parallel_output_schema",
    "graph_input_jsonschema",
    "root_state_jsonschema",
    "agent_state_schema",
    "traced_model_output",  # tests/test_langsmith.py
}


def test_every_scenario_has_an_expectation() -> None:
    assert set(LEAKS_UPSTREAM) | TESTED_PER_CACHE == {s.name for s in SCENARIOS}
    assert not set(LEAKS_UPSTREAM) & TESTED_PER_CACHE


@pytest.mark.parametrize(
    "scenario", [s for s in SCENARIOS if s.name in LEAKS_UPSTREAM], ids=lambda s: s.name
)
def test_scenario_leaks_without_the_fix_and_not_with_it(scenario: Scenario) -> None:
    with upstream_caches_cleared():
        unpatched = measure(scenario, REQUESTS)
    with langgraph_fixed.patched(strict=True), upstream_caches_cleared():
        fixed = measure(scenario, REQUESTS)

    expected = LEAKS_UPSTREAM[scenario.name]
    if expected == UNBOUNDED:
        assert unpatched.alive == REQUESTS, unpatched
    elif expected:
        # Upstream keeps the last 256 cache entries: 256 payloads when a request
        # makes one entry, fewer when it makes several; never all 300.
        assert 64 <= unpatched.alive <= 256, unpatched
    else:
        assert unpatched.alive == 0, f"upstream was thought fixed here: {unpatched}"
    assert fixed.alive == 0, fixed


def test_revert_brings_the_leak_back() -> None:
    scenario = next(s for s in SCENARIOS if s.name == "runnable_lambda_node")
    with langgraph_fixed.patched(strict=True), upstream_caches_cleared():
        assert measure(scenario, REQUESTS).alive == 0
    assert not langgraph_fixed.status().get("get_function_nonlocals").active
    with upstream_caches_cleared():
        assert measure(scenario, REQUESTS).alive == 256


def test_apply_releases_what_upstream_had_already_pinned() -> None:
    """Objects pinned before apply() are released by it (the old cache is emptied)."""
    import gc
    import weakref

    from langgraph_fixed.diagnostics.scenarios import Payload

    scenario = next(s for s in SCENARIOS if s.name == "get_graph_closure_lambda")
    payload = Payload()
    ref = weakref.ref(payload)
    scenario.run(payload)
    del payload
    gc.collect()
    assert ref() is not None, "upstream should pin the payload"
    langgraph_fixed.apply(strict=True)
    gc.collect()
    assert ref() is None
