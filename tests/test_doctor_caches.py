"""``langgraph-fixed doctor``'s cache sizes: real graphs, real gc, no mocks.

Each test reads the sizes from the doctor's own JSON document (run in this
process, so that it sees this process's caches) after building graphs per
request, as a server would. No ``from __future__ import annotations``: the
per-request classes are local, and their annotations must be objects.
"""

import gc
import json
import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version
from typing_extensions import TypedDict

import langgraph_fixed
from langgraph_fixed import cli
from langgraph_fixed.diagnostics.caches import KNOWN_SAFE
from langgraph_fixed.diagnostics.scenarios import Payload, lambda_input_schema, run_requests

NONLOCALS = "langchain_core.runnables.utils.get_function_nonlocals"
ROOT = Path(__file__).resolve().parents[1]


def version(dist: str) -> Version:
    import importlib.metadata

    return Version(importlib.metadata.version(dist))


def doctor_json(capsys: pytest.CaptureFixture[str], *options: str) -> dict[str, Any]:
    """The doctor's JSON document, without the live check, in this process."""
    capsys.readouterr()
    code = cli.main(["doctor", "--no-live", "--json", "-", *options])
    out = capsys.readouterr().out
    document: dict[str, Any] = json.loads(out)
    assert code == 0, out
    return document


def row(document: dict[str, Any], name: str, kind: str) -> dict[str, Any]:
    rows = [c for c in document["caches"] if c["name"] == name and c["kind"] == kind]
    assert len(rows) == 1, f"{kind} {name} in {[(c['name'], c['kind']) for c in rows]}"
    return rows[0]


def has_row(document: dict[str, Any], name: str, kind: str) -> bool:
    return any(c["name"] == name and c["kind"] == kind for c in document["caches"])


class Counter(TypedDict):
    n: int


def lambda_graph(payload: Payload, wrap: Callable[[Any], Any] | None = None) -> Any:
    """A graph with one ``RunnableLambda`` node closing over ``payload``, compiled."""
    from langchain_core.runnables import RunnableLambda
    from langgraph.graph import END, START, StateGraph

    def work(state: Counter) -> dict[str, Any]:
        assert payload is not None
        return {"n": state["n"] + 1}

    node = work if wrap is None else wrap(work)
    graph = StateGraph(Counter)
    graph.add_node("work", RunnableLambda(node))
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph.compile()


def per_request(requests: int, build: Callable[[Payload], Any] = lambda_graph) -> list[Any]:
    """Build (and drop) a graph per request; weak references to the payloads."""
    return run_requests(build, requests)


def alive(refs: list[Any]) -> int:
    return sum(ref() is not None for ref in refs)


@pytest.mark.parametrize("requests", [40, 300])
def test_upstream_nonlocals_size_grows_with_per_request_graphs(
    requests: int, capsys: pytest.CaptureFixture[str]
) -> None:
    before = row(doctor_json(capsys, "--no-apply"), NONLOCALS, "upstream")
    assert before["currentsize"] == 0 and before["maxsize"] == 256
    refs = per_request(requests)
    document = doctor_json(capsys, "--no-apply")
    upstream = row(document, NONLOCALS, "upstream")
    assert upstream["currentsize"] == min(requests, 256)
    assert upstream["misses"] == requests and upstream["fix"] == "get_function_nonlocals"
    assert alive(refs) == upstream["currentsize"], "each entry pins one request's payload"
    assert not has_row(document, NONLOCALS, "fix"), "the fix is not applied"
    nonlocals = document["fixes"][0]
    assert (nonlocals["fix"], nonlocals["state"]) == ("get_function_nonlocals", "not applied")


def test_apply_empties_upstream_and_the_fix_holds_analyses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    refs = per_request(50)
    assert row(doctor_json(capsys, "--no-apply"), NONLOCALS, "upstream")["currentsize"] == 50

    document = doctor_json(capsys)  # applies the fixes, as the doctor does by default
    assert row(document, NONLOCALS, "upstream")["currentsize"] == 0
    assert alive(refs) == 0, "emptying upstream's cache released the payloads"
    fixed = row(document, NONLOCALS, "fix")
    assert fixed["maxsize"] is None

    refs = per_request(50)
    document = doctor_json(capsys, "--no-apply")
    assert row(document, NONLOCALS, "upstream")["currentsize"] == 0
    after = row(document, NONLOCALS, "fix")
    # 50 closures of one `def`: one analysis for its code object, 49 hits
    assert after["currentsize"] == fixed["currentsize"] + 1
    assert after["hits"] >= fixed["hits"] + 49
    assert alive(refs) == 0


def fresh_code(func: Any) -> Any:
    """A copy of ``func`` with a code object of its own (as from a module reloaded per tenant)."""
    code = func.__code__.replace(co_name=func.__name__)
    copy = types.FunctionType(code, func.__globals__, func.__name__, None, func.__closure__)
    assert copy.__code__ is not func.__code__
    return copy


def test_the_fix_drops_an_analysis_with_its_code_object(
    capsys: pytest.CaptureFixture[str],
) -> None:
    langgraph_fixed.apply(strict=True)
    base = row(doctor_json(capsys, "--no-apply"), NONLOCALS, "fix")["currentsize"]
    kept = [lambda_graph(Payload(), wrap=fresh_code) for _ in range(30)]
    assert row(doctor_json(capsys, "--no-apply"), NONLOCALS, "fix")["currentsize"] == base + 30
    del kept
    gc.collect()
    document = doctor_json(capsys, "--no-apply")
    assert row(document, NONLOCALS, "fix")["currentsize"] == base
    assert row(document, NONLOCALS, "upstream")["currentsize"] == 0


def test_full_doctor_json_keeps_its_keys_and_adds_caches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "doctor.json"
    args = ["doctor", "--requests", "3", "--scenario", "runnable_lambda_node", "--caches", "--json"]
    assert cli.main([*args, str(target)]) == 0
    document = json.loads(target.read_text())
    assert {"versions", "requests", "scenarios", "fixes", "ok", "caches"} <= set(document)
    assert document["requests"] == 3 and document["live"] is True
    (scenario,) = document["scenarios"]
    assert set(scenario) == {
        "name",
        "description",
        "fixes",
        "requests",
        "requests_with_fix",
        "without_fix",
        "with_fix",
    }
    assert (scenario["without_fix"], scenario["with_fix"]) == (3, 0)
    for cache in document["caches"]:
        assert set(cache) == {
            "name", "kind", "currentsize", "maxsize", "fix", "hits", "misses", "note"
        }  # fmt: skip
        assert cache["kind"] in ("upstream", "fix")
        assert isinstance(cache["currentsize"], int) and cache["currentsize"] >= 0
    assert row(document, NONLOCALS, "fix")["fix"] == "get_function_nonlocals"
    out = capsys.readouterr().out
    assert "Caches: live sizes in this process" in out
    assert any(line.split()[:2] == [NONLOCALS, "fix"] for line in out.splitlines())


def test_no_live_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["doctor", "--no-live", "--caches"]) == 0
    out = capsys.readouterr().out
    assert "Live check" not in out and "Fixes (after apply())" in out
    lines = [line.split() for line in out.splitlines()]
    upstream = next(cells for cells in lines if cells[:2] == [NONLOCALS, "upstream"])
    assert upstream[2:] == ["0", "256", "get_function_nonlocals"]
    assert any(cells[:2] == [NONLOCALS, "fix"] for cells in lines)
    log_once = next(
        c for c in lines if c[:1] == ["langchain_core.language_models.llms._log_error_once"]
    )
    assert log_once[1:] == ["upstream", log_once[2], "128", "(safe)"]


def test_known_safe_cache_sizes_are_live(capsys: pytest.CaptureFixture[str]) -> None:
    from langchain_core.language_models import llms

    name = "langchain_core.language_models.llms._log_error_once"
    before = row(doctor_json(capsys, "--no-apply"), name, "upstream")
    assert before["maxsize"] == 128 and before["fix"] is None
    assert before["note"] == KNOWN_SAFE["langchain_core.language_models.llms:_log_error_once"]
    llms._log_error_once(f"langgraph-fixed test {id(before)}")
    after = row(doctor_json(capsys, "--no-apply"), name, "upstream")
    assert after["currentsize"] == min(before["currentsize"] + 1, 128)
    assert after["misses"] == before["misses"] + 1


def test_live_cache_sizes_imports_nothing_unless_asked() -> None:
    code = (
        "import sys; from langgraph_fixed.diagnostics.caches import live_cache_sizes as sizes; "
        "assert sizes() == (), sizes(); "
        "assert not [m for m in sys.modules if m.startswith(('langchain', 'langgraph.'))]; "
        "assert any(s.name.endswith('get_function_nonlocals') for s in sizes(import_modules=True))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr


# --- the fixes that report more than cache_info() -----------------------------


def test_model_factory_rows_count_upstream_and_weak_entries_apart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = "langchain_core.utils.pydantic._create_root_model_cached"
    # other tests may have left long-lived entries: count from here
    start = row(doctor_json(capsys, "--no-apply"), name, "upstream")["currentsize"]
    refs = per_request(20, lambda_input_schema)
    grown = row(doctor_json(capsys, "--no-apply"), name, "upstream")["currentsize"]
    assert grown == min(start + 20, 256)
    assert alive(refs) == grown - start

    langgraph_fixed.apply(strict=True)
    document = doctor_json(capsys, "--no-apply")
    assert row(document, name, "upstream")["currentsize"] == 0
    gc.collect()  # pydantic models sit in reference cycles
    assert alive(refs) == 0
    kept = []

    def keep_schema(payload: Payload) -> None:
        from langchain_core.runnables import RunnableLambda

        class Question(TypedDict):
            text: str

        Question.payload = payload  # type: ignore[attr-defined]

        def answer(question: Question) -> str:
            return question["text"]

        kept.append(RunnableLambda(answer).get_input_schema())

    per_request(10, keep_schema)
    fixed = row(doctor_json(capsys, "--no-apply"), name, "fix")
    assert fixed["currentsize"] == 10, "one weak entry per live per-request model"
    kept.clear()
    gc.collect()
    document = doctor_json(capsys, "--no-apply")
    assert row(document, name, "fix")["currentsize"] == 0
    assert row(document, name, "upstream")["currentsize"] == 0


def pydantic_state_graph(payload: Payload) -> None:
    from langgraph.graph import END, START, StateGraph
    from pydantic import BaseModel, Field

    class State(BaseModel):
        question: str = ""
        size: int = Field(default_factory=lambda: len(payload.data))

    def work(state: Any) -> dict[str, Any]:
        return {"question": state.question + "!"}

    graph = StateGraph(State)
    graph.add_node("work", work)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    assert graph.compile().invoke({"question": "q"})["question"] == "q!"


@pytest.mark.skipif(
    not Version("0.3.9") <= version("langgraph") < Version("0.4.8"),
    reason="SchemaCoercionMapper's cache is in langgraph 0.3.9 - 0.4.7",
)
def test_schema_coercion_mapper_rows(capsys: pytest.CaptureFixture[str]) -> None:
    def upstream_row(document: dict[str, Any]) -> dict[str, Any]:
        (found,) = [
            c
            for c in document["caches"]
            if c["fix"] == "schema_coercion_mapper" and c["kind"] == "upstream"
        ]
        return found

    start = upstream_row(doctor_json(capsys, "--no-apply"))["currentsize"]
    refs = per_request(20, pydantic_state_graph)
    document = doctor_json(capsys, "--no-apply")
    assert upstream_row(document)["currentsize"] >= start + 20, "one schema per request, kept"
    assert upstream_row(document)["maxsize"] is None
    assert alive(refs) == 20

    document = doctor_json(capsys)
    assert upstream_row(document)["currentsize"] == 0
    kept = []
    per_request(5, lambda payload: kept.append(pydantic_state_graph(payload)))
    fix_rows = [c for c in doctor_json(capsys, "--no-apply")["caches"] if c["kind"] == "fix"]
    assert any(c["fix"] == "schema_coercion_mapper" for c in fix_rows)


@pytest.mark.skipif(
    not Version("0.3.28") <= version("langgraph") < Version("0.4.8"),
    reason="_get_adapter's caches are in langgraph 0.3.28 - 0.4.7",
)
def test_schema_adapter_rows(capsys: pytest.CaptureFixture[str]) -> None:
    document = doctor_json(capsys, "--no-apply")
    names = {
        (c["name"], c["kind"]) for c in document["caches"] if c["fix"] == "schema_type_adapter"
    }
    module = "langgraph.graph.schema_utils"
    assert {
        (f"{module}._adapter_cache", "upstream"),
        (f"{module}._adapter_for", "upstream"),
    } <= names
    document = doctor_json(capsys)
    assert row(document, f"{module}._adapter_cache", "upstream")["currentsize"] == 0
    assert row(document, f"{module}._get_adapter", "fix")["fix"] == "schema_type_adapter"


# --- in another process ----------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "langgraph_fixed", *args],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip


def test_no_live_is_cheap_and_exits_zero() -> None:
    result = run_cli("doctor", "--no-live", "--json", "-")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["live"] is False and document["scenarios"] == []
    assert document["ok"] is True
    assert row(document, NONLOCALS, "upstream")["maxsize"] == 256


def test_under_run_the_doctor_sees_the_start_up_hook_apply() -> None:
    """What a monitoring probe sees when started the way the service is."""
    result = run_cli(
        "run", "--", sys.executable, "-m", "langgraph_fixed",
        "doctor", "--no-live", "--no-apply", "--json", "-",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    states = {f["fix"]: f["state"] for f in document["fixes"]}
    assert states["get_function_nonlocals"] == "applied"
    assert row(document, NONLOCALS, "fix")["currentsize"] == 0
