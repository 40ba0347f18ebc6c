"""LangSmith tracing on, for real: a loopback endpoint that accepts (or refuses) the uploads.

Each census runs in a fresh interpreter (langsmith reads its settings once), with
``LANGSMITH_TRACING=true`` and ``LANGSMITH_ENDPOINT`` on a stub server that
answers langsmith's batch uploads, so that the client's real code path runs:
requests traced per request, every tracer flushed, a full collection, then what
is still alive and what keeps it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import langgraph_fixed
from langgraph_fixed import FixState

_serde = pytest.importorskip("langsmith._internal._serde")
if not hasattr(_serde, "_pydantic_core_serializers"):
    pytest.skip("langsmith before 0.11 has no serializer cache", allow_module_level=True)
ROOT = Path(__file__).resolve().parent.parent
FIX = "langsmith_serializers"

CENSUS = ROOT / "benchmarks" / "census_tracing.py"
SERIALIZERS = "module global `langsmith._internal._serde._pydantic_core_serializers`"


def census(mode: str, requests: int, only: str) -> dict[str, Any]:
    """``benchmarks/census_tracing.py`` in a fresh interpreter: without the fixes, then with."""
    result = subprocess.run(
        [sys.executable, str(CENSUS), "--mode", mode, "--requests", str(requests), "--only", only],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("mode", ["accepts", "refuses"])
def test_traced_per_request_classes_are_kept_without_the_fix_and_not_with_it(mode: str) -> None:
    document = census(mode, 300, "model_chain")
    before = document["without the fixes"]["model_chain"]
    after = document["with the fixes"]["model_chain"]
    assert (before["alive"], before["kept_by"]) == (300, SERIALIZERS)
    assert document["fix states"][FIX] == "applied"
    assert (after["alive"], after["kept_by"]) == (0, None)


# --- the replacement answers as upstream's function does ---------------------------


def test_the_fix_serializes_as_upstream() -> None:
    import dataclasses

    from langsmith._internal import _serde
    from pydantic import BaseModel, v1

    class Plain(BaseModel):
        a: int = 1
        b: str | None = None

    class Custom(BaseModel):  # an overridden model_dump: no fast path
        a: int = 2

        def model_dump(self, **kwargs: Any) -> dict[str, Any]:
            return {"custom": True}

    class Opaque(BaseModel):  # its serializer raises in json mode: the fallback
        model_config = {"arbitrary_types_allowed": True}
        thing: object = None

    class V1(v1.BaseModel):
        x: int = 3

    @dataclasses.dataclass
    class Data:
        y: int = 4

    corpus = [Plain(), Plain(b="x"), Custom(), Opaque(thing=object()), V1(), Data(), 5, "s"]
    original = _serde._pydantic_json_dump
    expected = [original(obj) for obj in corpus]
    dumped = [_serde.dumps_json(obj) for obj in corpus[:3]]
    _serde._pydantic_core_serializers.clear()
    with langgraph_fixed.patched(strict=True) as report:
        assert report.get(FIX).state is FixState.APPLIED
        fixed = _serde._pydantic_json_dump
        assert fixed is not original
        for obj, want in zip(corpus, expected, strict=True):
            got = fixed(obj)
            assert got == want or (want is _serde._MISSING and got is _serde._MISSING), obj
            assert (fixed(obj) is _serde._MISSING) == (want is _serde._MISSING), "again, cached"
        assert [_serde.dumps_json(obj) for obj in corpus[:3]] == dumped
        # only the static types (which live as long as the process) reach upstream's dict
        assert set(_serde._pydantic_core_serializers) == {int, str}
        assert fixed.cache_info().currsize >= 4
    assert _serde._pydantic_json_dump is original


def test_a_class_that_takes_no_attribute_goes_to_upstreams_bounded_dict() -> None:
    from langsmith._internal import _serde

    with langgraph_fixed.patched(strict=True):
        _serde._pydantic_core_serializers.clear()
        assert _serde._pydantic_json_dump(3.5) is _serde._MISSING
        assert float in _serde._pydantic_core_serializers  # a static type: lives anyway
