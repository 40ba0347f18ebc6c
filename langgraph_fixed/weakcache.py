"""Caches that never keep their keys alive.

``functools.lru_cache`` holds strong references to every key and every result.
When the key is a user object (a closure, a bound method, a class made per
request) the cache pins that object and everything it reaches until the entry
is evicted, and ``gc.collect()`` cannot help because these are live references.

The primitives here hold keys by *identity* through weak references: an entry
disappears as soon as its key is garbage-collected. They keep the ``functools``
cache API (``cache_info()``, ``cache_clear()``, ``cache_parameters()``,
``__wrapped__``) so code written against ``lru_cache`` keeps working.

One rule is the caller's to keep: a cached *value* must not reach back to its
key. A weak key whose value references it strongly is kept alive by the cache
itself, this time without any size bound. Cache what you derive from the key
(names, flags, parsed structure), not the key or objects that point at it.
"""

from __future__ import annotations

import functools
import itertools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar, cast

__all__ = [
    "CacheInfo",
    "WeakKeyCache",
    "WeakKeyCachedFunction",
    "weak_key_cache",
]

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")
R = TypeVar("R")

_NOT_FOUND = object()

CacheInfo = functools._CacheInfo
"""The same named tuple ``functools.lru_cache`` returns: hits, misses, maxsize, currsize."""


class _KeyRef(weakref.ref):  # type: ignore[type-arg]
    """A weak reference that remembers the id its entry is stored under."""

    __slots__ = ("key_id",)

    key_id: int


class WeakKeyCache(Generic[K, V]):
    """A thread-safe cache keyed on object identity that holds its keys weakly.

    - keys are compared by identity (``is``), never by ``==``: two equal but
      distinct objects get separate entries, which is what a cache of facts
      about a particular object (a code object, a class) needs;
    - an entry is dropped when its key is garbage-collected;
    - with ``maxsize`` set, the least recently used entry is evicted once the
      cache is full (``None`` means unbounded, bounded only by live keys);
    - values are held strongly and must not reference their key (see the
      module docstring);
    - an unbounded cache can be read with no lock and no Python frame, by
      ``id(key)`` (:meth:`identity_index`), for a caller's own hot path.

    Keys that cannot be weakly referenced (``int``, ``str``, ``tuple``, ...)
    are never stored: :meth:`get_or_compute` computes the value each time and
    counts a miss.
    """

    def __init__(self, maxsize: int | None = None) -> None:
        if maxsize is not None and maxsize < 0:
            maxsize = 0
        self._maxsize = maxsize
        self._entries: OrderedDict[int, tuple[_KeyRef, V]] = OrderedDict()
        # The value of every live key by id(key), for reads that take no lock
        # (see identity_index). A key's entry leaves it in the key's weak
        # reference callback, which CPython runs while the dying key still
        # holds its memory, so an id found here is always its live key's id.
        self._index: dict[int, V] = {}
        self._lock = threading.Lock()
        # Weak-reference callbacks may run in any thread, at any allocation,
        # including while this thread holds the lock; they only queue here and
        # the queue is drained under the lock by the next operation.
        self._dead: list[_KeyRef] = []
        # hits are counted by a C counter, cheap enough for a caller's hot
        # path and exact across threads; cache_clear() moves the zero
        self._hit_count = itertools.count()
        self._hits_before_clear = 0
        self._misses = 0

    @property
    def maxsize(self) -> int | None:
        return self._maxsize

    def _on_key_dead(self, ref: _KeyRef) -> None:
        self._index.pop(ref.key_id, None)
        self._dead.append(ref)

    def _drain(self) -> None:
        dead = self._dead
        while dead:
            ref = dead.pop()
            entry = self._entries.get(ref.key_id)
            if entry is not None and entry[0] is ref:
                del self._entries[ref.key_id]

    def _lookup(self, key: K) -> Any:
        """The cached value, or ``_NOT_FOUND``; counts a hit or a miss."""
        key_id = id(key)
        with self._lock:
            if self._dead:
                self._drain()
            entry = self._entries.get(key_id)
            if entry is not None and entry[0]() is key:
                next(self._hit_count)
                if self._maxsize is not None:
                    self._entries.move_to_end(key_id)
                return entry[1]
            self._misses += 1
            return _NOT_FOUND

    def get(self, key: K) -> V | None:
        """The cached value for ``key``, or ``None``; counts a hit or a miss."""
        value = self._lookup(key)
        return None if value is _NOT_FOUND else cast("V", value)

    def put(self, key: K, value: V) -> bool:
        """Store ``value`` for ``key``; False if ``key`` cannot be weakly referenced."""
        if self._maxsize == 0:
            return False
        try:
            ref = _KeyRef(key, self._on_key_dead)
        except TypeError:
            return False
        ref.key_id = id(key)
        with self._lock:
            self._drain()
            self._entries[ref.key_id] = (ref, value)
            self._entries.move_to_end(ref.key_id)
            self._index[ref.key_id] = value
            if self._maxsize is not None:
                while len(self._entries) > self._maxsize:
                    evicted, _ = self._entries.popitem(last=False)
                    self._index.pop(evicted, None)
        return True

    def hit(self, key: K, default: D) -> V | D:
        """The value cached for ``key`` if there is one (a hit, counted), else
        ``default`` with nothing counted: the hot path of a caller that handles
        the miss itself (through :meth:`get_or_compute`, which counts it).

        An unbounded cache has no recency to update, so a hit takes no lock (a
        single dict read).
        """
        if self._maxsize is None:
            value = self._index.get(id(key), _NOT_FOUND)
            if value is _NOT_FOUND:
                return default
            next(self._hit_count)
            return cast("V", value)
        with self._lock:
            entry = self._entries.get(id(key))
            if entry is None or entry[0]() is not key:
                return default
            self._entries.move_to_end(id(key))
        next(self._hit_count)
        return entry[1]

    def identity_index(self) -> tuple[Mapping[int, V], Iterator[int]]:
        """For a caller's own hot path: the live entries by ``id(key)``, and the
        hit counter (``next(counter)`` counts one hit).

        Reading ``index[id(key)]`` and calling ``next(counter)`` run no Python
        frame and take no lock: an unbounded cache only (a bounded one has a
        recency to update on every hit). The mapping is the cache's own, to
        read and never to change; the key must be alive while its id is looked
        up, as it is when the caller holds it.
        """
        if self._maxsize is not None:
            raise ValueError("identity_index() is for unbounded caches only")
        return self._index, self._hit_count

    def get_or_compute(self, key: K, compute: Callable[..., V], *args: Any) -> V:
        """The cached value for ``key``, computing ``compute(*args)`` on a miss.

        ``compute`` runs outside the lock, so two threads missing the same key
        at once may both compute it; the last one stored wins. Exceptions from
        ``compute`` propagate and nothing is stored.
        """
        value = self.hit(key, _NOT_FOUND)
        if value is _NOT_FOUND:
            value = self._lookup(key)  # under the lock: counts the hit or the miss
            if value is _NOT_FOUND:
                value = compute(*args)
                self.put(key, value)
        return cast("V", value)

    def __len__(self) -> int:
        with self._lock:
            self._drain()
            return sum(1 for ref, _ in self._entries.values() if ref() is not None)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            entry = self._entries.get(id(key))
            return entry is not None and entry[0]() is key

    def cache_info(self) -> CacheInfo:
        """Hits, misses, maxsize and the number of live entries."""
        with self._lock:
            self._drain()
            hits = _advanced(self._hit_count) - self._hits_before_clear
            return CacheInfo(hits, self._misses, self._maxsize, len(self._entries))

    def cache_clear(self) -> None:
        """Drop every entry and reset the statistics."""
        with self._lock:
            self._entries.clear()
            self._index.clear()
            self._dead.clear()
            self._hits_before_clear = _advanced(self._hit_count)
            self._misses = 0


def _advanced(counter: itertools.count[int]) -> int:
    """How often ``counter`` (started at 0, step 1) was advanced, without advancing
    it: its ``repr`` is ``count(n)``."""
    return int(repr(counter)[len("count(") : -1])


class WeakKeyCachedFunction(Generic[R]):
    """A one-argument function whose results are cached by :class:`WeakKeyCache`.

    Made by :func:`weak_key_cache`. The cache key is ``key(arg)`` (the argument
    itself by default); the argument is only held while the function runs.
    """

    def __init__(
        self,
        func: Callable[[Any], R],
        *,
        maxsize: int | None,
        key: Callable[[Any], object] | None,
    ) -> None:
        self.__wrapped__ = func
        self._key = key
        self._cache: WeakKeyCache[object, R] = WeakKeyCache(maxsize)
        functools.update_wrapper(self, func)

    def __call__(self, arg: Any) -> R:
        cache_key = arg if self._key is None else self._key(arg)
        return self._cache.get_or_compute(cache_key, self.__wrapped__, arg)

    def cache_info(self) -> CacheInfo:
        return self._cache.cache_info()

    def cache_clear(self) -> None:
        self._cache.cache_clear()

    def cache_parameters(self) -> dict[str, Any]:
        return {"maxsize": self._cache.maxsize, "typed": False, "weak_keys": True}

    def __repr__(self) -> str:
        return f"<weak_key_cache of {self.__wrapped__!r}>"


def weak_key_cache(
    maxsize: int | None = 256,
    *,
    key: Callable[[Any], object] | None = None,
) -> Callable[[Callable[[Any], R]], WeakKeyCachedFunction[R]]:
    """Decorate a one-argument function with a cache that holds keys weakly.

    A drop-in for ``@functools.lru_cache(maxsize=...)`` on functions that take
    one object and derive facts from it::

        @weak_key_cache(maxsize=1024, key=lambda fn: fn.__code__)
        def parameter_names(fn):
            return tuple(inspect.signature(fn).parameters)

    ``key`` maps the argument to the object the cache is keyed on (held weakly,
    compared by identity). Keying on something longer-lived than the argument
    (a function's code object rather than each closure of it) makes every new
    closure of the same ``def`` a hit, while keeping none of them alive.
    """

    def decorate(func: Callable[[Any], R]) -> WeakKeyCachedFunction[R]:
        return WeakKeyCachedFunction(func, maxsize=maxsize, key=key)

    return decorate
