"""The model-factory caches: ``_create_model_cached`` / ``_create_root_model_cached``.

The leak
    langchain-core (``langchain_core.utils.pydantic``, 0.3.0 - 1.8.4) and
    LangGraph (``langgraph.utils.pydantic`` 0.4.1 - 0.5.x,
    ``langgraph._internal._pydantic`` from 0.6.0) each wrap two functions that
    build pydantic models in ``functools.lru_cache(maxsize=256)``. The key is
    the field definitions: each field's type and default. They build the
    input/output/config schemas of runnables and graphs (``get_input_schema()``,
    ``get_input_jsonschema()``, ``get_graph()``, ``config_schema()``,
    ``RunnableParallel``'s schemas, ``as_tool()``). When a field's type is a
    class made per request (a per-request answer model used in a state, a
    context schema, a ``TypedDict`` input), the last 256 such keys stay alive,
    with the generated model class and everything the user class reaches.

The fix
    A key made only of long-lived objects (builtins, classes and functions
    importable from their module, typing constructs and frozen values made of
    those, and models this cache built from such keys) goes to upstream's own
    ``lru_cache``: same entries, same objects as upstream (a C ``lru_cache`` of
    the same bound in front keeps them too, so a hit costs what upstream's own
    hit costs). Any other
    key is looked up in a table that holds the generated model *weakly*: while
    the model is alive, the same key returns the same class object, as
    upstream's cache does; once the model is collected, the entry goes, and
    with it the key (whose objects the model referenced anyway: they go at the
    next collection). Nothing is kept alive that the model itself does not
    keep alive. An unhashable key raises ``TypeError`` as ``lru_cache`` does
    (the callers then build the model uncached), and a miss runs upstream's
    own uncached function. "Importable" is judged at the call: an object that a
    module global happens to hold at that moment counts as long-lived, and is
    held as upstream would hold it (its lru bound, 256).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import sys
import threading
import typing
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any, ClassVar, ForwardRef, TypeVar

from langgraph_fixed.fixes._base import CacheSize, Fix, Unrecognised, Versions, dress, state_of
from langgraph_fixed.fixes._source import single_return_call
from langgraph_fixed.weakcache import CacheInfo

#: How deep the long-lived check follows nested typing constructs and values.
MAX_DEPTH = 16
#: How many argument values found long-lived are remembered (then forgotten at once).
LONG_LIVED_MEMO_SIZE = 256  # as upstream's own bound

_PRIMITIVES = (type(None), bool, int, float, complex, str, bytes, type(Ellipsis))
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: classes defined in Python code
_MISSING: Any = object()


class _Pydantic:
    __slots__ = ("field_info", "field_slots", "get_args", "get_origin", "undefined")

    def __init__(self) -> None:
        from pydantic.fields import FieldInfo
        from pydantic_core import PydanticUndefined

        self.field_info: type = FieldInfo
        self.undefined: Any = PydanticUndefined
        self.field_slots = tuple(
            slot for klass in FieldInfo.__mro__ for slot in getattr(klass, "__slots__", ())
        )
        # typing's own: typing_extensions' forms are typing's on Python 3.10+
        self.get_origin: Callable[[Any], Any] = typing.get_origin
        self.get_args: Callable[[Any], tuple[Any, ...]] = typing.get_args


@functools.cache
def _pydantic() -> _Pydantic:
    """What the checks need from pydantic, imported on first use: by then the target
    module has imported pydantic (importing this module must not)."""
    return _Pydantic()


#: Models built by upstream's cache from long-lived keys: long-lived themselves
#: (upstream's cache holds them), so keys made of them stay in upstream's cache.
_LONG_LIVED_MODELS: weakref.WeakSet[type] = weakref.WeakSet()
#: Argument values (field definitions, types) already found long-lived, compared
#: by ``==`` as upstream's cache compares them; holding them keeps nothing alive
#: that was not long-lived already.
_LONG_LIVED_MEMO: set[Any] = set()

#: Separates the positional arguments from the keyword items in a call's key.
_KEYWORDS = object()
#: Classes and functions already found short-lived (held weakly): a per-request
#: class asked about again is answered without searching its module.
_SHORT_LIVED: weakref.WeakSet[Any] = weakref.WeakSet()


def _importable(obj: Any) -> bool:
    """Whether ``obj`` is held by its module's namespace (so lives as long as the module).

    Looked up by qualified name first; failing that (a decorator that returned
    an inner function, a module-level sentinel instance), by identity among the
    module's globals.
    """
    module_name = getattr(obj, "__module__", None)
    module = sys.modules.get(module_name) if isinstance(module_name, str) else None
    if module is None:
        return False
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(name, str):
        name = getattr(obj, "_name", None)  # typing's special forms
    if isinstance(name, str) and "<" not in name:
        target: Any = module
        for part in name.split("."):
            namespace = getattr(target, "__dict__", None)
            if not isinstance(namespace, (dict, type(type.__dict__))):
                break
            target = namespace.get(part, _MISSING)
            if target is _MISSING:
                break
        else:
            if target is obj:
                return True
    return any(value is obj for value in vars(module).values())


def _importable_weakly_remembered(obj: Any) -> bool:
    """``_importable`` for classes and functions, remembering (weakly) the ones that are not."""
    try:
        if obj in _SHORT_LIVED:
            return False
    except TypeError:  # unhashable or not weakly referenceable
        return _importable(obj)
    if _importable(obj):
        return True
    with contextlib.suppress(TypeError):
        _SHORT_LIVED.add(obj)
    return False


def long_lived(obj: Any, depth: int = 0) -> bool:
    """Whether ``obj`` cannot be (or reach) an object made per request.

    Conservative: an unknown kind of object is treated as short-lived, which
    only costs the shared lru cache entry, never correctness.
    """
    pydantic = _pydantic()
    if isinstance(obj, _PRIMITIVES) or obj is pydantic.undefined:
        return True
    if depth > MAX_DEPTH:
        return False
    origin = pydantic.get_origin(obj)
    if origin is not None:  # list[X], X | None, Annotated[X, ...], Literal[...]
        return long_lived(origin, depth + 1) and all(
            long_lived(arg, depth + 1) for arg in pydantic.get_args(obj)
        )
    if isinstance(obj, type):
        if not obj.__flags__ & _HEAPTYPE or obj in _LONG_LIVED_MODELS:
            return True
        return _importable_weakly_remembered(obj)
    if isinstance(obj, (tuple, list, set, frozenset)):
        return all(long_lived(item, depth + 1) for item in obj)
    if isinstance(obj, dict):
        return all(long_lived(k, depth + 1) and long_lived(v, depth + 1) for k, v in obj.items())
    if isinstance(obj, pydantic.field_info):  # e.g. the discriminator in AnyMessage's Annotated
        return all(long_lived(getattr(obj, slot, None), depth + 1) for slot in pydantic.field_slots)
    if isinstance(obj, enum.Enum):
        return long_lived(type(obj), depth + 1)
    if isinstance(obj, ForwardRef):
        value = getattr(obj, "__forward_value__", None)
        return value is None or long_lived(value, depth + 1)
    if isinstance(obj, TypeVar):
        return _importable(obj)
    if callable(obj):
        return _importable_weakly_remembered(obj)
    params = getattr(type(obj), "__dataclass_params__", None)
    if params is not None and params.frozen:  # annotated_types' Gt(0), pydantic's validators
        return _importable(type(obj)) and all(
            long_lived(getattr(obj, f.name, None), depth + 1) for f in dataclasses.fields(obj)
        )
    return _importable(obj)  # typing's special forms (Union, Literal, ...)


def _long_lived_argument(value: Any) -> bool:
    """``long_lived`` for one argument, remembered when true (a set lookup on a hit)."""
    if isinstance(value, _PRIMITIVES):
        return True
    try:
        if value in _LONG_LIVED_MEMO:
            return True
    except TypeError:  # unhashable: upstream's cache raises TypeError for it anyway
        return False
    if not long_lived(value):
        return False
    if len(_LONG_LIVED_MEMO) >= LONG_LIVED_MEMO_SIZE:
        _LONG_LIVED_MEMO.clear()
    _LONG_LIVED_MEMO.add(value)
    return True


def all_long_lived(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a call's key is made only of long-lived objects."""
    return all(map(_long_lived_argument, args)) and all(map(_long_lived_argument, kwargs.values()))


class LiveModels:
    """Models by key, held weakly: an entry lasts as long as its model."""

    def __init__(self) -> None:
        self._models: weakref.WeakValueDictionary[Any, Any] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_build(self, key: Any, build: Callable[[], Any]) -> Any:
        hash(key)  # unhashable: TypeError, as from lru_cache, before building
        with self._lock:
            model = self._models.get(key)
        if model is not None:
            self.hits += 1
            return model
        self.misses += 1
        model = build()
        try:
            with self._lock:
                return self._models.setdefault(key, model)
        except TypeError:  # not weakly referenceable: not cached
            return model

    def __len__(self) -> int:
        return len(self._models)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            self.hits = 0
            self.misses = 0


class _ShortLived(Exception):
    """Carries the model built for a short-lived key out of the front cache,
    which stores nothing for a call that raises."""

    def __init__(self, model: Any) -> None:
        self.model = model


class FixedModelFactory:
    """The state of a drop-in for an ``lru_cache``-wrapped model factory that
    pins no user object (made by :func:`fixed_model_factory`).

    In front is a C ``lru_cache`` with upstream's bound, over :meth:`_decide`:
    a long-lived key gets upstream's model, which the front keeps as upstream's
    cache keeps it, so a hit costs what upstream's own hit costs; a short-lived
    key gets its model from the weak table and leaves by :class:`_ShortLived`,
    so the front stores nothing for it. ``cache_info()`` adds upstream's entries
    (long-lived keys) and the live models built for the other keys.
    """

    def __init__(self, original: Any) -> None:
        self.original = original
        self.live = LiveModels()
        bound = original.cache_parameters().get("maxsize") or LONG_LIVED_MEMO_SIZE
        self.front = functools.lru_cache(maxsize=bound)(self._decide)

    def _decide(self, *args: Any, **kwargs: Any) -> Any:
        if all_long_lived(args, kwargs):
            model = self.original(*args, **kwargs)
            if isinstance(model, type) and model not in _LONG_LIVED_MODELS:
                _LONG_LIVED_MODELS.add(model)
            return model
        key = (args, _KEYWORDS, *kwargs.items()) if kwargs else args  # as lru_cache's own key
        build = self.original.__wrapped__
        raise _ShortLived(self.live.get_or_build(key, lambda: build(*args, **kwargs)))

    def cache_info(self) -> CacheInfo:
        upstream = self.original.cache_info()
        return CacheInfo(
            upstream.hits + self.front.cache_info().hits + self.live.hits,
            upstream.misses + self.live.misses,
            upstream.maxsize,
            upstream.currsize + len(self.live),
        )

    def live_cache_info(self) -> CacheInfo:
        """The entries held here (weakly) alone: the models built for per-request keys."""
        return CacheInfo(self.live.hits, self.live.misses, None, len(self.live))

    def cache_clear(self) -> None:
        self.live.clear()
        self.front.cache_clear()
        self.original.cache_clear()

    def cache_parameters(self) -> dict[str, Any]:
        return {**self.original.cache_parameters(), "short_lived_keys": "weak"}


def fixed_model_factory(original: Any) -> Callable[..., Any]:
    """The drop-in for the model factory ``original``."""
    state = FixedModelFactory(original)
    front = state.front

    def model_factory(*args: Any, **kwargs: Any) -> Any:
        try:
            return front(*args, **kwargs)
        except _ShortLived as short:
            return short.model

    return dress(model_factory, original, state)


class ModelFactoryCacheFix(Fix[None]):
    """One cached model factory; the registry holds one instance per target."""

    summary = "models for per-request field types held weakly, others as upstream"
    lru = True

    #: what each factory's body must call (it builds a model and nothing else)
    BUILDERS: ClassVar[dict[str, str]] = {
        "_create_model_cached": "_create_model_base",
        "_create_root_model_cached": "_create_root_model",
    }

    def __init__(
        self, name: str, module: str, attribute: str, applies_to: Versions, tested: Versions
    ) -> None:
        self.name = name
        self.module = module
        self.attribute = attribute
        self.applies_to = applies_to
        self.tested = tested

    def check(self, original: Any, module: ModuleType, variant: None) -> None:
        if original.cache_parameters().get("typed"):
            raise Unrecognised("a typed lru_cache")
        try:
            called = single_return_call(original.__wrapped__)
        except Exception as exc:
            raise Unrecognised(f"its source cannot be read ({exc!r})") from None
        expected = self.BUILDERS.get(self.attribute)
        if called is None or called != expected:
            raise Unrecognised(f"its body is not a single `return {expected}(...)`")
        if not callable(getattr(module, expected, None)):
            raise Unrecognised(f"{expected} is missing")

    def build(self, original: Any, recognised: None) -> Callable[..., Any]:
        return fixed_model_factory(original)

    def cache_sizes(self, original: Any, replacement: Any | None) -> list[CacheSize]:
        """Upstream's lru cache (long-lived keys go there, fixed or not) and, apart, the
        models the replacement holds weakly for the other keys."""
        sizes = super().cache_sizes(original, None)
        state = state_of(replacement)
        if isinstance(state, FixedModelFactory):
            hits, misses, maxsize, currsize = state.live_cache_info()
            sizes.append(CacheSize(self.target, "fix", currsize, maxsize, self.name, hits, misses))
        return sizes


def model_factory_fixes() -> tuple[ModelFactoryCacheFix, ...]:
    """The fixes for every place these factories live, by version."""
    core = "langchain_core.utils.pydantic"
    core_req = Versions("langchain-core", since="0.3.0")
    core_tested = Versions("langchain-core", since="0.3.22", through="1.8.3")
    # langgraph 0.4.1 - 0.5.x kept the same functions in langgraph.utils.pydantic
    lg_old = "langgraph.utils.pydantic"
    lg_old_req = Versions("langgraph", since="0.4.1", before="0.6.0")
    lg_old_tested = Versions("langgraph", since="0.4.7", through="0.5.4")
    lg_new = "langgraph._internal._pydantic"
    lg_new_req = Versions("langgraph", since="0.6.0")
    lg_new_tested = Versions("langgraph", since="0.6.11", through="1.2.24")
    model, root = "_create_model_cached", "_create_root_model_cached"
    return (
        ModelFactoryCacheFix("core_create_model", core, model, core_req, core_tested),
        ModelFactoryCacheFix("core_create_root_model", core, root, core_req, core_tested),
        ModelFactoryCacheFix("langgraph_create_model", lg_new, model, lg_new_req, lg_new_tested),
        ModelFactoryCacheFix(
            "langgraph_create_root_model", lg_new, root, lg_new_req, lg_new_tested
        ),
        ModelFactoryCacheFix("lg04_create_model", lg_old, model, lg_old_req, lg_old_tested),
        ModelFactoryCacheFix("lg04_create_root_model", lg_old, root, lg_old_req, lg_old_tested),
    )
