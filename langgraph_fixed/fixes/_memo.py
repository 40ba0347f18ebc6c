"""A cache entry stored in the class it describes, so that it lives and dies with it.

``functools.lru_cache`` keyed on a class keeps the class alive (up to its
bound). A weak-key cache does not, unless the value reaches back to the class:
then the cache keeps the value, the value keeps the class, and the entry is
never dropped. Some values can't help reaching back: pydantic's validator (the
token that tells a rebuilt class from the old one) references its class, and
``get_type_hints`` of a recursive schema contains the schema itself.

Storing the value in the class's own namespace gives ephemeron semantics: the
entry is reachable only through the class, so the class and the entry are
collected together, whatever the value references. The class is never kept
alive by the cache. The attribute is private (a dunder name nothing else
reads), written with ``type.__setattr__`` and read from the class's own
``__dict__`` (so a subclass never sees its base's entry).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from langgraph_fixed.fixes._base import dress
from langgraph_fixed.weakcache import CacheInfo

V = TypeVar("V")

MISSING: Any = object()


class ClassMemo(Generic[V]):
    """Per-class values kept in each class's namespace under ``attribute``.

    ``currsize`` in :meth:`cache_info` counts the live classes holding an entry;
    :meth:`cache_clear` removes the entries from every live class.
    """

    def __init__(self, attribute: str) -> None:
        self.attribute = attribute
        self._holders: weakref.WeakSet[type] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, cls: type) -> V:
        """The value stored in ``cls`` itself, or :data:`MISSING`."""
        return cls.__dict__.get(self.attribute, MISSING)  # type: ignore[no-any-return]

    def put(self, cls: type, value: V) -> bool:
        """Store ``value`` in ``cls``; False if the class does not accept attributes."""
        try:
            type.__setattr__(cls, self.attribute, value)
        except (TypeError, AttributeError):  # a static (C) type, or an immutable one
            return False
        with self._lock:
            self._holders.add(cls)
        return True

    def cache_info(self, maxsize: int | None = None) -> CacheInfo:
        with self._lock:
            return CacheInfo(self.hits, self.misses, maxsize, len(self._holders))

    def cache_clear(self) -> None:
        with self._lock:
            holders = list(self._holders)
            self._holders.clear()
            self.hits = 0
            self.misses = 0
        for cls in holders:
            if self.attribute in cls.__dict__:
                with contextlib.suppress(TypeError, AttributeError):
                    type.__delattr__(cls, self.attribute)


class ClassStoredCache:
    """The state of a drop-in for an ``lru_cache``-wrapped function whose first
    argument is a class (made by :func:`class_stored_cache`).

    Each result is stored in that class (:class:`ClassMemo`) with the other
    arguments it was computed for; a call whose other arguments are equal to
    them (as ``lru_cache`` compares its keys) is a hit, so a rebuilt class (a
    new validator) is computed again. A first argument that is not a class goes
    to upstream's cached function, as does nothing else.
    """

    def __init__(self, original: Any, attribute: str) -> None:
        self.original = original
        self.memo: ClassMemo[tuple[tuple[Any, ...], Any]] = ClassMemo(attribute)

    def cache_info(self) -> CacheInfo:
        """Hits, misses, and the number of live classes holding an entry."""
        return self.memo.cache_info()

    def cache_clear(self) -> None:
        self.memo.cache_clear()
        self.original.cache_clear()

    def cache_parameters(self) -> dict[str, Any]:
        return {"maxsize": None, "typed": False, "stored_in_class": True}


def class_stored_cache(original: Any, attribute: str) -> Callable[..., Any]:
    """The drop-in for ``original`` storing each result in its first argument's class."""
    state = ClassStoredCache(original, attribute)
    memo = state.memo
    compute = original.__wrapped__

    def cached(cls: Any, *args: Any) -> Any:
        if not isinstance(cls, type):
            return original(cls, *args)
        entry = cls.__dict__.get(attribute, MISSING)  # memo.get(cls), inlined: the hot path
        if entry is not MISSING:
            stored, value = entry
            if stored == args:
                memo.hits += 1
                return value
        memo.misses += 1
        value = compute(cls, *args)
        memo.put(cls, (args, value))  # a class refusing it: not cached
        return value

    return dress(cached, original, state)
