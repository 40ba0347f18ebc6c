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

import ast
import inspect
import sys
import textwrap
import threading
import weakref
from typing import Any

from langgraph_fixed._core import CacheSize, Fix
from langgraph_fixed.fixes.nonlocals import source_fingerprint

#: Fingerprints of upstream's ``SchemaCoercionMapper.__new__`` (read from every
#: release that has it): 0.3.9 - 0.3.15 (a class attribute ``_cache``, keyword
#: ``max_depth=5``), 0.3.16 - 0.3.27 (a module ``_cache``, ``type_hints``), and
#: 0.3.28 - 0.4.7 (keyword-only ``max_depth=12``, ``setdefault``). All key one
#: instance on (schema, max_depth).
KNOWN_FINGERPRINTS = frozenset({"7d018aecbd1b2962", "5ff9dcd0f0e2be38", "7a7cf3b0e0b0be04"})


def _init_guard(init: Any) -> str | None:
    """The attribute upstream's ``__init__`` checks to run only once, if it does."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef):
        return None
    body = [
        stmt
        for stmt in node.body
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
    ]
    first = body[0] if body else None
    if not (
        isinstance(first, ast.If)
        and isinstance(first.test, ast.Call)
        and isinstance(first.test.func, ast.Name)
        and first.test.func.id == "hasattr"
        and len(first.test.args) == 2
        and isinstance(first.test.args[1], ast.Constant)
        and len(first.body) == 1
        and isinstance(first.body[0], ast.Return)
    ):
        return None
    return str(first.test.args[1].value)


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
        "_langgraph_fixed_instances": instances,
    }
    return type(original.__name__, (original,), namespace)


class SchemaCoercionMapperFix(Fix):
    name = "schema_coercion_mapper"
    summary = "pydantic state-schema mappers shared while used, not pinned forever"
    module = "langgraph.graph.schema_utils"
    attribute = "SchemaCoercionMapper"
    applies_to = ("langgraph>=0.3.9,<0.4.8",)
    #: the matrix runs 0.3.15, 0.3.34 and 0.4.7 (one release per known fingerprint)
    tested = ("langgraph>=0.3.15,<=0.4.7",)
    # the WeakKeyDictionary: a class attribute up to 0.3.15, a module global after
    caches = ("SchemaCoercionMapper._cache", "_cache")

    def needed(self, original: Any) -> str | None:
        if "_langgraph_fixed_instances" in getattr(original, "__dict__", {}):
            return "already replaced by langgraph-fixed"
        return None

    def recognise(self, original: Any) -> str | None:
        if not isinstance(original, type):
            return "not a class"
        try:
            fingerprint = source_fingerprint(original.__dict__["__new__"])
            guard = _init_guard(original.__dict__["__init__"])
        except Exception as exc:
            return f"its source cannot be read ({exc!r})"
        if fingerprint not in KNOWN_FINGERPRINTS:
            return f"unknown source fingerprint of __new__ {fingerprint}"
        if guard is None:
            return "__init__ does not return early on an initialised instance"
        params = inspect.signature(original.__new__).parameters
        if "schema" not in params or "max_depth" not in params:
            return f"unexpected __new__ parameters {list(params)}"
        return None

    def build(self, original: Any) -> type:
        return build_weak_mapper_class(original)

    def _upstream_cache(self, original: Any) -> tuple[str, weakref.WeakKeyDictionary[Any, Any]]:
        """Upstream's ``_cache`` and its name; ``KeyError`` if this version has none."""
        for owner, prefix in ((original, f"{self.target}."), (sys.modules[self.module], "")):
            cache = vars(owner).get("_cache")
            if isinstance(cache, weakref.WeakKeyDictionary):
                return f"{prefix or self.module + '.'}_cache", cache
        raise KeyError("_cache")

    def after_apply(self, original: Any) -> None:
        # Whatever upstream's cache pinned so far would stay pinned for ever.
        for owner in (original, sys.modules[self.module]):
            cache = vars(owner).get("_cache")
            if isinstance(cache, weakref.WeakKeyDictionary):
                cache.clear()

    def cache_sizes(self, original: Any, replacement: Any | None) -> list[CacheSize]:
        """Schemas in upstream's ``_cache`` and schemas with a live mapper in the replacement."""
        sizes = []
        try:
            name, cache = self._upstream_cache(original)
        except KeyError:
            pass
        else:
            sizes.append(CacheSize(name, "upstream", len(cache), None, self.name))
        instances = vars(replacement).get("_langgraph_fixed_instances") if replacement else None
        if isinstance(instances, weakref.WeakKeyDictionary):
            sizes.append(CacheSize(self.target, "fix", len(instances), None, self.name))
        return sizes
