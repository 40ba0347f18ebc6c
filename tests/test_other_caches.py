"""The other caches keyed on user objects: the leak without the fix, none with it.

Each leak test builds per-request objects around a fresh payload more often
than the cache holds, drops them, collects, and counts surviving payloads:
first on the unpatched library (and checks that emptying the one cache under
test frees them, so the retention is that cache's), then with the fixes
applied. The differential tests check that each replacement returns what
upstream returns.

No ``from __future__ import annotations`` here: the per-request classes are
local, and their annotations must be objects, as in user code that builds
schemas in a function.
"""

import dataclasses
import gc
import importlib
import json
import sys
import typing
import weakref
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Optional

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

import langgraph_fixed
from langgraph_fixed.diagnostics.scenarios import (
    Payload,
    agent_with_state_schema,
    graph_input_jsonschema,
    lambda_input_schema,
    parallel_output_schema,
    pydantic_state_graph,
    root_state_jsonschema,
    run_requests,
    state_with_request_field_types,
    tool_dumped_to_json,
)
from langgraph_fixed.fixes import model_factories

REQUESTS = 300  # more than the 256 entries of the largest cache here


# --- helpers ---------------------------------------------------------------


def target(module: str, attribute: str) -> Any:
    """The object bound now at ``module.attribute``; skip the test if there is none."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        pytest.skip(f"{module} is not installed: {exc}")
    if not hasattr(mod, attribute):
        pytest.skip(f"{module}.{attribute} does not exist in this version")
    return getattr(mod, attribute)


def upstream(fix: str, module: str, attribute: str) -> Any:
    """Upstream's object for a fix (the original while the fix is applied)."""
    try:
        return langgraph_fixed.get_original(fix)
    except KeyError:
        return target(module, attribute)


def clear(obj: Any) -> None:
    if hasattr(obj, "cache_clear"):
        obj.cache_clear()
    elif hasattr(obj, "_cache"):  # SchemaCoercionMapper, 0.3.9 - 0.3.15 and 0.4.x
        obj._cache.clear()
    else:  # SchemaCoercionMapper, later 0.3.x: a module-level cache
        sys.modules[obj.__module__]._cache.clear()


def survivors(request: Callable[[Payload], Any], requests: int = REQUESTS) -> list[Any]:
    """Run ``request`` around fresh payloads; weak references to the payloads."""
    return run_requests(request, requests)


def alive(refs: list[Any]) -> int:
    gc.collect()
    return sum(r() is not None for r in refs)


@pytest.fixture
def clean_typing_caches() -> Iterator[None]:
    """typing's own lru caches (``Optional[X]``, ``Annotated[...]``) also pin classes."""
    for cleanup in typing._cleanups:  # type: ignore[attr-defined]
        cleanup()
    yield


def leak_then_fixed(
    fix: str,
    module: str,
    attribute: str,
    request: Callable[[Payload], Any],
    *,
    expect: Callable[[int], bool] = lambda n: 64 <= n <= 256,
) -> None:
    """The leak on the unpatched library, owned by this cache; none with the fix."""
    original = target(module, attribute)
    clear(original)
    refs = survivors(request)
    unpatched = alive(refs)
    assert expect(unpatched), f"{fix}: {unpatched} of {REQUESTS} payloads alive unpatched"
    clear(original)
    assert alive(refs) == 0, f"{fix}: something other than {attribute} keeps payloads"

    with langgraph_fixed.patched(strict=True) as report:
        status = report.get(fix)
        assert status.active, status
        assert getattr(sys.modules[module], attribute) is not original
        refs = survivors(request)
        assert alive(refs) == 0, f"{fix}: payloads alive with the fix"
    assert getattr(sys.modules[module], attribute) is original
    clear(original)


# --- langchain_core.tools.structured._model_json_schema ----------------------


def test_model_json_schema_leaks_without_the_fix_and_not_with_it() -> None:
    leak_then_fixed(
        "model_json_schema",
        "langchain_core.tools.structured",
        "_model_json_schema",
        tool_dumped_to_json,
        expect=lambda n: n == 256,
    )


def test_model_json_schema_returns_what_upstream_returns() -> None:
    from pydantic import v1

    original = target("langchain_core.tools.structured", "_model_json_schema")
    uncached = original.__wrapped__

    class Plain(BaseModel):
        a: int
        b: str | None = None

    class Opaque(BaseModel):  # no JSON schema: upstream falls back to str()
        model_config = {"arbitrary_types_allowed": True}
        p: Payload

    class V1(v1.BaseModel):
        x: int = 3

    class Later(BaseModel):
        child: "Child"

    corpus = [Plain, Opaque, V1, Later]
    with langgraph_fixed.patched(strict=True):
        fixed = target("langchain_core.tools.structured", "_model_json_schema")
        assert fixed is not original
        for cls in corpus:
            token = getattr(cls, "__pydantic_validator__", None)
            expected = uncached(cls, token)
            assert fixed(cls, token) == expected, cls
            assert fixed(cls, token) is fixed(cls, token), "a hit returns the stored value"
        before = fixed(Later, Later.__pydantic_validator__)

        class Child(BaseModel):
            n: int

        globals()["Child"] = Child  # the class is rebuilt: a new validator, a new schema
        try:
            Later.model_rebuild()
            after = fixed(Later, Later.__pydantic_validator__)
            assert after == uncached(Later, Later.__pydantic_validator__)
            assert after != before
            Later.model_rebuild(force=True)  # and again: the address may be reused
            assert fixed(Later, Later.__pydantic_validator__) == after
        finally:
            del globals()["Child"]
        assert fixed.cache_info().currsize >= len(corpus)


def test_model_json_schema_tool_dumps_are_the_same_with_the_fix() -> None:
    target("langchain_core.tools.structured", "_model_json_schema")
    from langchain_core.tools import tool

    @tool
    def lookup(query: str, limit: int = 3) -> str:
        """Look something up."""
        return query

    before = json.dumps(lookup.model_dump(mode="json"), sort_keys=True)
    with langgraph_fixed.patched(strict=True):
        assert json.dumps(lookup.model_dump(mode="json"), sort_keys=True) == before
        assert json.dumps(lookup.model_dump(mode="json"), sort_keys=True) == before


# --- the model factories: _create_model_cached / _create_root_model_cached -----


MODEL_FACTORY_CASES = [
    ("core_create_root_model", "langchain_core.utils.pydantic", "_create_root_model_cached",
     lambda_input_schema),
    ("core_create_model", "langchain_core.utils.pydantic", "_create_model_cached",
     parallel_output_schema),
    ("langgraph_create_model", "langgraph._internal._pydantic", "_create_model_cached",
     graph_input_jsonschema),
    ("langgraph_create_root_model", "langgraph._internal._pydantic", "_create_root_model_cached",
     root_state_jsonschema),
]  # fmt: skip


@pytest.mark.parametrize(("fix", "module", "attribute", "request_"), MODEL_FACTORY_CASES,
                         ids=[c[0] for c in MODEL_FACTORY_CASES])  # fmt: skip
def test_model_factory_leaks_without_the_fix_and_not_with_it(
    fix: str, module: str, attribute: str, request_: Callable[[Payload], Any],
    clean_typing_caches: None,
) -> None:  # fmt: skip
    if fix.startswith("langgraph_"):
        # langchain-core's twin builds part of these schemas too; empty both
        target("langchain_core.utils.pydantic", "_create_root_model_cached").cache_clear()
    leak_then_fixed(fix, module, attribute, request_)


def make_local_types() -> dict[str, Any]:
    """Objects made in a function, as a request would make them."""

    class Local(BaseModel):
        x: int = 1

    class LocalDict(TypedDict):
        y: str

    def local_reducer(a: list[int], b: list[int]) -> list[int]:
        return a + b

    return {"Local": Local, "LocalDict": LocalDict, "local_reducer": local_reducer}


class ModuleLevel(BaseModel):
    z: float = 0.5


def test_long_lived_tells_module_level_from_per_request() -> None:
    from langchain_core.messages import AnyMessage
    from langgraph.graph import add_messages

    local = make_local_types()
    Local, LocalDict, local_reducer = local["Local"], local["LocalDict"], local["local_reducer"]
    long_lived = [
        int, str, None, ..., type(None), Any, Optional[int], list[str], int | None,  # noqa: UP045
        typing.Literal["a", 1], AnyMessage, Annotated[list[AnyMessage], add_messages],
        ModuleLevel, (str, None), (int, ...), Field(default=1), dict[str, Any],
        model_factories.long_lived, typing.Union[int, str],  # noqa: UP007
    ]  # fmt: skip
    short_lived = [
        Local, LocalDict, list[Local], Optional[Local], Local | None,  # noqa: UP045
        Annotated[list[int], local_reducer], (Local, None),
        (int, Payload()), Field(default_factory=local_reducer),
        Field(default=Payload()),
    ]  # fmt: skip
    for obj in long_lived:
        assert model_factories.long_lived(obj), obj
    for obj in short_lived:
        assert not model_factories.long_lived(obj), obj


def model_description(model: Any) -> Any:
    """What a generated model is, for comparing two of them."""
    fields = {
        name: (repr(f.annotation), repr(f.default), f.alias, f.description)
        for name, f in model.model_fields.items()
    }
    try:
        schema = model.model_json_schema()
    except Exception as exc:  # an arbitrary type has no JSON schema
        schema = type(exc).__name__
    return (model.__name__, model.__module__, fields, schema, dict(model.model_config))


@pytest.mark.parametrize("fix", [c[0] for c in MODEL_FACTORY_CASES])
def test_model_factory_returns_what_upstream_returns(fix: str) -> None:
    _, module, attribute, _ = next(c for c in MODEL_FACTORY_CASES if c[0] == fix)
    original = target(module, attribute)
    local = make_local_types()
    Local, LocalDict = local["Local"], local["LocalDict"]
    if attribute == "_create_root_model_cached":
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
            (("Root", int), {}),
            (("Root", list[str]), {"default_": ("a",)}),
            (("Root", ModuleLevel), {}),
            (("Root", Local), {}),
            (("Root", LocalDict), {}),
            (("Root", Local | None), {"default_": None}),
        ]
        if "module_name" in original.__wrapped__.__code__.co_varnames:
            calls.append((("Root", int), {"module_name": "somewhere"}))
    else:
        calls = [
            (("Model",), {"a": (int, ...), "b": (Optional[str], None)}),  # noqa: UP045
            (("Model",), {"_private": (int, 1), "schema": (str, "x")}),
            (("Model",), {"m": (ModuleLevel, None), "f": (int, Field(default=2))}),
            (("Model",), {"loc": (Local, ...), "n": (int, 0)}),
            (("Model",), {"d": (LocalDict, None)}),
            (("Model",), {"p": (Payload, Payload())}),
            (("Model",), {"r": (Annotated[list[int], local["local_reducer"]], None)}),
        ]
    expected = []
    for args, kwargs in calls:
        expected.append(model_description(original.__wrapped__(*args, **kwargs)))
    with langgraph_fixed.patched(strict=True):
        fixed = target(module, attribute)
        assert fixed is not original
        for (args, kwargs), want in zip(calls, expected, strict=True):
            model = fixed(*args, **kwargs)
            assert model_description(model) == want, (args, kwargs)
            assert fixed(*args, **kwargs) is model, "the same key gives the same class"
            if model_factories.all_long_lived(args, kwargs):
                assert original(*args, **kwargs) is model, "long-lived keys: upstream's entry"
        with pytest.raises(TypeError):  # unhashable, as from lru_cache: callers fall back
            if attribute == "_create_root_model_cached":
                fixed("Root", list[int], default_=[1])
            else:
                fixed("Model", a=(list[int], []))


def test_create_model_v2_is_the_same_with_the_fix() -> None:
    from langchain_core.utils.pydantic import create_model_v2

    local = make_local_types()
    cases: list[dict[str, Any]] = [
        {"field_definitions": {"a": (int, 1), "b": (list[int], [1])}},  # unhashable default
        {"field_definitions": {"l": (local["Local"], None)}},
        {"root": local["LocalDict"]},
        {"root": (int, 3)},
    ]
    before = [model_description(create_model_v2("M", **kw)) for kw in cases]
    with langgraph_fixed.patched(strict=True):
        after = [model_description(create_model_v2("M", **kw)) for kw in cases]
    assert after == before


def test_model_factory_short_lived_entries_go_with_their_model() -> None:
    original = target("langchain_core.utils.pydantic", "_create_model_cached")
    with langgraph_fixed.patched(strict=True):
        fixed = target("langchain_core.utils.pydantic", "_create_model_cached")
        local = make_local_types()
        model = fixed("Model", loc=(local["Local"], None))
        ref = weakref.ref(local["Local"])
        assert fixed.cache_info().currsize >= 1
        del local, model
        gc.collect()  # the model, whose weak entry then lets go of the key
        gc.collect()  # the key's objects
        assert ref() is None
        assert original.cache_info().currsize == 0, "upstream's cache never saw the key"


# --- langgraph.graph.schema_utils.SchemaCoercionMapper (0.3.9 - 0.4.7) ---------


def test_schema_coercion_mapper_leaks_without_the_fix_and_not_with_it() -> None:
    # unbounded upstream: every per-request schema stays, not only the last 256
    leak_then_fixed(
        "schema_coercion_mapper",
        "langgraph.graph.schema_utils",
        "SchemaCoercionMapper",
        pydantic_state_graph,
        expect=lambda n: n == REQUESTS,
    )


def test_schema_coercion_mapper_coerces_as_upstream() -> None:
    original = target("langgraph.graph.schema_utils", "SchemaCoercionMapper")

    class Leaf(BaseModel):
        v: int = 0

    class Node(BaseModel):
        name: str = ""
        leaf: Leaf | None = None
        leaves: list[Leaf] = []
        by_key: dict[str, Leaf] = {}
        children: list["Node"] = []

    Node.model_rebuild()
    data = {
        "name": "root",
        "leaf": {"v": 1},
        "leaves": [{"v": 2}, {"v": 3}],
        "by_key": {"a": {"v": 4}},
        "children": [{"name": "child", "children": [{"name": "grandchild"}]}],
    }
    expected = original(Node).coerce(data)
    with langgraph_fixed.patched(strict=True):
        fixed_cls = target("langgraph.graph.schema_utils", "SchemaCoercionMapper")
        state_module = sys.modules["langgraph.graph.state"]
        assert state_module.SchemaCoercionMapper is fixed_cls
        mapper = fixed_cls(Node)
        assert isinstance(mapper, original)
        assert mapper.coerce(data) == expected
        assert repr(mapper.coerce(data)) == repr(expected)
        assert fixed_cls(Node) is mapper, "one instance per schema while it is used"
        depth = "max_depth"
        assert fixed_cls(Node, **{depth: 3}) is not mapper
        ref = weakref.ref(mapper)
        del mapper
        gc.collect()
        assert ref() is None, "the fix holds no mapper once nobody uses it"


# --- langgraph.graph.schema_utils._get_adapter (0.3.28 - 0.4.7) -----------------


def test_schema_type_adapter_leaks_without_the_fix_and_not_with_it() -> None:
    get_adapter = target("langgraph.graph.schema_utils", "_get_adapter")
    module = sys.modules["langgraph.graph.schema_utils"]
    mapper = module.SchemaCoercionMapper

    def clear_adapters() -> None:
        module._adapter_cache.clear()
        module._adapter_for.cache_clear()

    clear_adapters()
    refs = survivors(state_with_request_field_types, 100)
    assert alive(refs) == 100, "upstream's adapter cache has no bound"
    clear(mapper)  # the mapper cache pins the schemas too, but not alone
    assert alive(refs) == 100, "the adapter cache keeps the field types"
    clear_adapters()
    assert alive(refs) == 0, "something other than the two caches keeps payloads"

    with langgraph_fixed.patched(strict=True) as report:
        assert report.get("schema_type_adapter").active
        assert module._get_adapter is not get_adapter
        refs = survivors(state_with_request_field_types, 100)
        assert alive(refs) == 0, "payloads alive with the fix"
        assert not module._adapter_cache, "no per-request type reached upstream's cache"
    assert module._get_adapter is get_adapter


def test_schema_type_adapter_returns_what_upstream_returns() -> None:
    get_adapter = target("langgraph.graph.schema_utils", "_get_adapter")
    module = sys.modules["langgraph.graph.schema_utils"]
    import datetime
    import enum

    @dataclasses.dataclass
    class Doc:
        text: str = ""

    class Hit(TypedDict):
        score: float

    class Color(enum.Enum):
        RED = "red"

    @dataclasses.dataclass
    class Other:
        n: int = 0

    cases: list[tuple[Any, Any]] = [
        (Doc, {"text": "a"}),
        (Doc | None, {"text": "b"}),
        (typing.Sequence[Hit], [{"score": "1.5"}]),
        (typing.Literal[Color.RED], Color.RED),
        (Color, "red"),
        (Doc | Other, {"n": 3}),  # two own classes: made afresh, not cached
        (datetime.datetime, "2026-11-26T00:00:00"),  # standard library: upstream's path
        (int | None, "7"),
    ]

    def outcome(get: Callable[[Any], Any], tp: Any, value: Any) -> Any:
        try:
            return get(tp)(value)
        except Exception as exc:  # 0.3.28 - 0.4.0 refuse a bare dataclass or TypedDict
            return type(exc)

    expected = [outcome(get_adapter, tp, value) for tp, value in cases]
    module._adapter_cache.clear()
    module._adapter_for.cache_clear()
    with langgraph_fixed.patched(strict=True):
        fixed = module._get_adapter
        for (tp, value), want in zip(cases, expected, strict=True):
            assert outcome(fixed, tp, value) == want, tp
        assert fixed(Doc | None) is fixed(Doc | None), "one adapter per type while it lives"
        assert fixed(Color) is fixed(Color)
        assert fixed(Doc | Other) is not fixed(Doc | Other)
        assert set(module._adapter_cache) == {datetime.datetime, int | None}
        # Doc, Hit and Color hold their adapters (those upstream could build)
        assert fixed.cache_info().currsize == 3
    ref = weakref.ref(Doc)
    del Doc, cases, expected, tp, value, want
    gc.collect()
    assert ref() is None, "a class goes with its adapters"


# --- langchain.agents.factory._get_schema_type_hints ---------------------------


def test_agent_schema_type_hints_leak_without_the_fix_and_not_with_it() -> None:
    leak_then_fixed(
        "agent_schema_type_hints",
        "langchain.agents.factory",
        "_get_schema_type_hints",
        agent_with_state_schema,
        expect=lambda n: 64 <= n <= 100,  # upstream's cache holds 100
    )


def test_agent_schema_type_hints_returns_what_upstream_returns() -> None:
    original = target("langchain.agents.factory", "_get_schema_type_hints")
    from langchain.agents import AgentState
    from langchain.agents.factory import _resolve_schemas

    class Extra(AgentState):
        tenant: str
        tree: "Tree"  # noqa: F821

    class Tree(TypedDict):  # recursive: its hints contain itself
        children: list["Tree"]  # noqa: F821

    globals()["Tree"] = Tree
    try:
        corpus = [AgentState, Extra, Tree]
        expected = [typing.get_type_hints(s, include_extras=True) for s in corpus]
        resolved = [typing.get_type_hints(s) for s in _resolve_schemas([AgentState, Extra])]
        with langgraph_fixed.patched(strict=True):
            fixed = target("langchain.agents.factory", "_get_schema_type_hints")
            assert fixed is not original
            for schema, want in zip(corpus, expected, strict=True):
                assert fixed(schema) == want
                assert fixed(schema) is fixed(schema)
            again = [typing.get_type_hints(s) for s in _resolve_schemas([AgentState, Extra])]
            assert again == resolved
        ref = weakref.ref(Tree)
        del globals()["Tree"], Tree, Extra, corpus, expected, resolved, again, schema, want
        for cleanup in typing._cleanups:  # type: ignore[attr-defined]
            cleanup()
        gc.collect()
        assert ref() is None, "a recursive schema is not kept alive by its own hints"
    finally:
        globals().pop("Tree", None)
