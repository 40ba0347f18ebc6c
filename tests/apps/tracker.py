"""Per-process bookkeeping shared by the test apps: requests served, payloads alive."""

from __future__ import annotations

import gc
import os
import weakref
from typing import Any

from langgraph_fixed.diagnostics.scenarios import SCENARIOS, Payload

_scenario = next(s for s in SCENARIOS if s.name == "runnable_lambda_node")
_payloads: list[weakref.ref[Payload]] = []


def serve_one() -> None:
    """One request: build and run a graph around a fresh payload, then drop it."""
    payload = Payload()
    _payloads.append(weakref.ref(payload))
    _scenario.run(payload)


def report() -> dict[str, Any]:
    import langgraph_fixed

    gc.collect()
    return {
        "pid": os.getpid(),
        "fix": langgraph_fixed.status().get("get_function_nonlocals").state.value,
        "created": len(_payloads),
        "alive": sum(ref() is not None for ref in _payloads),
    }
