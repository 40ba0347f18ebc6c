"""LangGraph's type-adapter cache for pydantic state-schema fields (0.3.28 - 0.4.7).

The leak
    ``SchemaCoercionMapper`` coerces a field whose type is not a pydantic model,
    a container or a union (a dataclass, a ``TypedDict``, any other class) with
    ``langgraph.graph.schema_utils._get_adapter(field_type)``. That function
    keeps every adapter in a module-level ``dict`` keyed on the type, with no
    bound, in front of an ``lru_cache(2048)`` (``_adapter_for``). The adapter
    (a pydantic ``TypeAdapter``'s ``validate_python``) references its type. A
    state schema built per request with a field of a class made per request
    (defined in the function that builds the graph) keeps that class for the
    life of the process, and everything the class reaches: its methods'
    closures, its defaults, its class attributes. Measured: 50 graphs built on
    a per-request dataclass field, 50 classes (and their payloads) alive after
    ``gc.collect()``, with every other fix applied.

The fix
    The adapter is stored in the namespace of the class the field type is
    about (:class:`ClassMemo`): for ``Doc`` and for ``Doc | None`` alike, in
    ``Doc``. The class and its adapters go together; the cache never keeps the
    class. A type that involves no class of the application's own (``int``,
    ``datetime``, ``Literal["a"]``: standard-library and builtin classes live
    as long as the process anyway) keeps upstream's path and its caches. A
    type that involves two or more of the application's classes (``A | B``)
    has no single class to live in: its adapter is made afresh each time a
    mapper is built for it, and cached nowhere.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any, get_args, get_origin

from langgraph_fixed.fixes._base import Fix, Unrecognised, Versions
from langgraph_fixed.fixes._memo import MISSING, ClassMemo
from langgraph_fixed.weakcache import CacheInfo

#: ``_get_adapter`` is the same in every release that has it (0.3.28 - 0.4.7).
KNOWN_FINGERPRINTS = {"10b1a55eefcd7aee": None}

#: The attribute each class keeps its adapters under: {type expression: adapter}.
MEMO_ATTRIBUTE = "__langgraph_fixed_type_adapters__"

# CPython type flags: a class defined in Python is a heap type; some heap types
# (3.10+) are immutable. Neither static nor immutable types accept attributes.
_HEAPTYPE = 1 << 9
_IMMUTABLETYPE = 1 << 8

#: Top-level modules whose classes live as long as the process.
_STATIC_MODULES = frozenset(getattr(sys, "stdlib_module_names", ())) | {"builtins"}

#: How many parts of a type expression are looked at before giving up on it.
_MAX_PARTS = 64

#: More than one class of the application's in the type: nowhere to keep it.
_SEVERAL = object()


def _own_class(cls: type) -> bool:
    """A class of the application's (or a library's), that can hold an entry."""
    flags = cls.__flags__
    if not flags & _HEAPTYPE or flags & _IMMUTABLETYPE:
        return False
    module = getattr(cls, "__module__", None)
    return not (isinstance(module, str) and module.partition(".")[0] in _STATIC_MODULES)


def _owner(tp: Any) -> Any:
    """The one class of the application's that ``tp`` involves, None, or _SEVERAL.

    Walks a type expression (``Doc``, ``Doc | None``, ``Sequence[Doc]``,
    ``Literal[Color.RED]``) through ``get_origin`` / ``get_args``; a value in
    it (a ``Literal`` member) counts by its class.
    """
    owner: type | None = None
    stack = [tp]
    for _ in range(_MAX_PARTS):
        if not stack:
            return owner
        part = stack.pop()
        origin = get_origin(part)
        if origin is not None:  # before isinstance: list[int] "is" a type on 3.10
            stack.append(origin)
            stack.extend(get_args(part))
            continue
        cls = part if isinstance(part, type) else type(part)
        if _own_class(cls) and cls is not owner:
            if owner is not None:
                return _SEVERAL
            owner = cls
    return _SEVERAL  # too big to tell: treated as not shareable


class FixedGetAdapter:
    """Drop-in for ``_get_adapter``: adapters kept in the class their type is about."""

    def __init__(self, original: Callable[[Any], Any], compute: Callable[[Any], Any]) -> None:
        self.__langgraph_fixed__ = original  # what it replaced (see fixes._base.MARK)
        self._original = original
        self._compute = compute
        self._memo: ClassMemo[dict[Any, Callable[[Any], Any]]] = ClassMemo(MEMO_ATTRIBUTE)
        self.__wrapped__ = original
        self.__name__ = "_get_adapter"
        self.__qualname__ = "_get_adapter"
        self.__module__ = original.__module__
        self.__doc__ = original.__doc__

    def __call__(self, tp: Any) -> Callable[[Any], Any]:
        try:
            owner = _owner(tp)
            hash(tp)
        except Exception:  # an odd or unhashable type: upstream's answer (or error)
            owner = None
        if owner is None:
            return self._original(tp)  # type: ignore[no-any-return]
        memo = self._memo
        if owner is _SEVERAL:
            memo.misses += 1
            return self._compute(tp)  # type: ignore[no-any-return]
        adapters = memo.get(owner)
        if adapters is not MISSING:
            adapter = adapters.get(tp)
            if adapter is not None:
                memo.hits += 1
                return adapter
        memo.misses += 1
        adapter = self._compute(tp)
        if adapters is MISSING:
            adapters = {}
            if not memo.put(owner, adapters):  # a class refusing it: not cached
                return adapter  # type: ignore[no-any-return]
        adapters[tp] = adapter
        return adapter  # type: ignore[no-any-return]

    def cache_info(self) -> CacheInfo:
        """Hits, misses, and the number of live classes holding an adapter."""
        return self._memo.cache_info()

    def cache_clear(self) -> None:
        self._memo.cache_clear()

    def __repr__(self) -> str:
        return "<langgraph_fixed _get_adapter (adapters stored in each field type's class)>"


Adapt = Callable[[Any], Any]


class SchemaAdapterCacheFix(Fix[Adapt]):
    name = "schema_type_adapter"
    summary = "type adapters of state-schema fields stored in their class, not pinned"
    module = "langgraph.graph.schema_utils"
    attribute = "_get_adapter"
    applies_to = Versions("langgraph", since="0.3.28", before="0.4.8")
    tested = Versions("langgraph", since="0.3.34", through="0.4.7")
    fingerprints = KNOWN_FINGERPRINTS
    # the coercer must look the function up as a module global, at call time
    callers = ("SchemaCoercionMapper._build_coercer",)
    #: the unbounded dict and the lru cache behind it that ``_get_adapter`` fills
    caches = ("_adapter_cache", "_adapter_for")

    def check(self, original: Any, module: ModuleType, variant: None) -> Adapt:
        """Upstream's uncached adapter factory (``_adapter_for.__wrapped__``)."""
        adapter_for = getattr(module, "_adapter_for", None)
        compute = getattr(adapter_for, "__wrapped__", None)
        if not (callable(compute) and hasattr(adapter_for, "cache_clear")):
            raise Unrecognised("_adapter_for is not an lru-cached function")
        if list(inspect.signature(compute).parameters) != ["tp"]:
            raise Unrecognised("_adapter_for does not take one type")
        if not isinstance(getattr(module, "_adapter_cache", None), dict):
            raise Unrecognised("no module-level _adapter_cache")
        return compute  # type: ignore[no-any-return]

    def build(self, original: Any, recognised: Adapt) -> FixedGetAdapter:
        return FixedGetAdapter(original, recognised)
