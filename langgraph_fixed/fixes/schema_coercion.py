"""LangGraph's ``SchemaCoercionMapper`` cache (pydantic state schemas, 0.3.9 - 0.4.7).

The leak
    ``langgraph.graph.schema_utils.SchemaCoercionMapper(schema)`` returns one
    mapper per (schema, depth) from a ``WeakKeyDictionary`` keyed on the schema
    class. The mapper stores the schema (``self.schema``, ``self._construct``),
    so the value keeps its own weak key alive: the entry is never dropped. Every
    pydantic state schema a ``StateGraph`` is compiled with (and every pydantic
    class nested in it) stays alive for the life of the process, with what it
    reaches. Unbounded: 300 graphs built per request on a per-request schema keep
    300 schemas. langgraph 0.3.9 - 0.4.7 (removed in 0.4.8).

The fix
    The replacement is a subclass whose ``__new__`` keeps upstream's contract
    (one instance per schema and depth) but holds the instances *weakly*: a
    mapper is shared while something (a compiled graph, a parent mapper) uses
    it, and goes with the last user, and the schema with it. Everything else,
    ``__init__`` and the coercion itself, is upstream's code. Every module that
    imported the class by name (``langgraph.graph.state``) gets the subclass.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from types import ModuleType
from typing import Any

from langgraph_fixed.fixes._base import CacheSize, Fix, Unrecognised, Versions
from langgraph_fixed.fixes._source import init_guard

#: Fingerprints of upstream's ``SchemaCoercionMapper.__new__`` (read from every
#: release that has it): 0.3.9 - 0.3.15 (a class attribute ``_cache``, keyword
#: ``max_depth=5``), 0.3.16 - 0.3.27 (a module ``_cache``, ``type_hints``), and
#: 0.3.28 - 0.4.7 (keyword-only ``max_depth=12``, ``setdefault``). All key one
#: instance on (schema, max_depth).
KNOWN_FINGERPRINTS = {
    "7d018aecbd1b2962": None,
    "5ff9dcd0f0e2be38": None,
    "7a7cf3b0e0b0be04": None,
}

#: Where the replacement class keeps its instances (schema -> {depth: mapper}).
INSTANCES = "_langgraph_fixed_instances"


def build_weak_mapper_class(original: type) -> type:
    """A subclass of upstream's mapper class that shares live instances only."""
    signature = inspect.signature(original.__new__)
    instances: weakref.WeakKeyDictionary[Any, weakref.WeakValueDictionary[Any, Any]] = (
        weakref.WeakKeyDictionary()
    )
    lock = threading.Lock()

    default_depth = signature.parameters["max_depth"].default

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs:  # SchemaCoercionMapper(schema): the common call
            schema, max_depth = args[0], default_depth
        else:
            bound = signature.bind(cls, *args, **kwargs)
            bound.apply_defaults()
            schema = bound.arguments["schema"]
            max_depth = bound.arguments["max_depth"]
        with lock:
            by_depth = instances.get(schema)
            if by_depth is None:
                by_depth = instances[schema] = weakref.WeakValueDictionary()
            inst = by_depth.get(max_depth)
            if inst is None:
                inst = object.__new__(cls)
                by_depth[max_depth] = inst
        return inst

    namespace = {
        "__new__": __new__,
        "__module__": original.__module__,
        "__qualname__": original.__qualname__,
        "__doc__": original.__doc__,
        "__langgraph_fixed__": original,
        INSTANCES: instances,
    }
    return type(original.__name__, (original,), namespace)


class SchemaCoercionMapperFix(Fix[None]):
    name = "schema_coercion_mapper"
    summary = "pydantic state-schema mappers shared while used, not pinned forever"
    module = "langgraph.graph.schema_utils"
    attribute = "SchemaCoercionMapper"
    applies_to = Versions("langgraph", since="0.3.9", before="0.4.8")
    tested = Versions("langgraph", since="0.3.15", through="0.4.7")
    fingerprints = KNOWN_FINGERPRINTS
    fingerprinted = "__new__"
    # the WeakKeyDictionary: a class attribute up to 0.3.15, a module global after
    caches = ("SchemaCoercionMapper._cache", "_cache")

    def check(self, original: Any, module: ModuleType, variant: None) -> None:
        try:
            guard = init_guard(original.__dict__["__init__"])
        except Exception as exc:
            raise Unrecognised(f"its source cannot be read ({exc!r})") from None
        if guard is None:
            raise Unrecognised("__init__ does not return early on an initialised instance")
        params = inspect.signature(original.__new__).parameters
        if "schema" not in params or "max_depth" not in params:
            raise Unrecognised(f"unexpected __new__ parameters {list(params)}")

    def build(self, original: Any, recognised: None) -> type:
        return build_weak_mapper_class(original)

    def cache_sizes(self, original: Any, replacement: Any | None) -> list[CacheSize]:
        """Schemas in upstream's ``_cache`` and schemas with a live mapper in the replacement."""
        sizes = super().cache_sizes(original, None)
        instances = vars(replacement).get(INSTANCES) if replacement is not None else None
        if isinstance(instances, weakref.WeakKeyDictionary):
            sizes.append(CacheSize(self.target, "fix", len(instances), None, self.name))
        return sizes
