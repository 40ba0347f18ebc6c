"""The public weak cache primitives: identity keys, weak keys, bounds, stats, threads."""

from __future__ import annotations

import functools
import gc
import inspect
import threading
import weakref
from typing import Any

import pytest

from langgraph_fixed.weakcache import CacheInfo, WeakKeyCache, weak_key_cache


class Key:
    def __init__(self, name: str = "") -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:  # every Key is "equal": identity must win
        return isinstance(other, Key)

    def __hash__(self) -> int:
        return 0


def test_keys_are_compared_by_identity_not_equality() -> None:
    cache: WeakKeyCache[Key, str] = WeakKeyCache()
    a, b = Key("a"), Key("b")
    assert cache.get_or_compute(a, lambda: "A") == "A"
    assert cache.get_or_compute(b, lambda: "B") == "B"
    assert cache.get(a) == "A" and cache.get(b) == "B"
    assert a in cache and Key() not in cache


def test_entries_die_with_their_keys() -> None:
    cache: WeakKeyCache[Key, str] = WeakKeyCache()
    keys = [Key(str(i)) for i in range(100)]
    for key in keys:
        cache.put(key, key.name)
    assert len(cache) == 100
    ref = weakref.ref(keys[0])
    del keys, key
    gc.collect()
    assert ref() is None
    assert len(cache) == 0
    assert cache.cache_info().currsize == 0


def test_lru_cache_pins_what_the_weak_cache_lets_go() -> None:
    """The failure this module exists for, side by side."""

    class Request:  # hashable by identity, like a closure or a bound method's self
        name = "request"

    def analyse(key: Request) -> str:
        return key.name

    strong = functools.lru_cache(maxsize=256)(analyse)
    weak = weak_key_cache(maxsize=256)(analyse)
    strong_refs, weak_refs = [], []
    for _ in range(10):
        a, b = Request(), Request()
        strong(a)
        weak(b)
        strong_refs.append(weakref.ref(a))
        weak_refs.append(weakref.ref(b))
    del a, b
    gc.collect()
    assert sum(r() is not None for r in strong_refs) == 10
    assert sum(r() is not None for r in weak_refs) == 0


def test_maxsize_evicts_least_recently_used() -> None:
    cache: WeakKeyCache[Key, int] = WeakKeyCache(maxsize=2)
    a, b, c = Key(), Key(), Key()
    cache.put(a, 1)
    cache.put(b, 2)
    assert cache.get(a) == 1  # a is now the most recent
    cache.put(c, 3)
    assert b not in cache and a in cache and c in cache
    assert cache.cache_info() == CacheInfo(hits=1, misses=0, maxsize=2, currsize=2)


def test_hit_counts_hits_only_and_keeps_recency_when_bounded() -> None:
    cache: WeakKeyCache[Key, int] = WeakKeyCache(maxsize=2)
    a, b, c = Key(), Key(), Key()
    missing = object()
    assert cache.hit(a, missing) is missing  # a miss: nothing counted, nothing stored
    assert cache.cache_info() == CacheInfo(hits=0, misses=0, maxsize=2, currsize=0)
    cache.put(a, 1)
    cache.put(b, 2)
    assert cache.hit(a, missing) == 1  # a is now the most recent
    assert cache.hit(Key(), missing) is missing  # an equal key is another key
    cache.put(c, 3)
    assert b not in cache and a in cache and c in cache
    assert cache.cache_info() == CacheInfo(hits=1, misses=0, maxsize=2, currsize=2)
    unbounded: WeakKeyCache[Key, int] = WeakKeyCache()
    unbounded.put(a, 1)
    assert [unbounded.hit(a, missing) for _ in range(3)] == [1, 1, 1]
    assert unbounded.get_or_compute(b, lambda: 2) == 2
    assert unbounded.cache_info() == CacheInfo(hits=3, misses=1, maxsize=None, currsize=2)


def test_the_identity_index_follows_the_cache() -> None:
    """What a caller's hot path reads: live keys only, with no other call in between."""
    cache: WeakKeyCache[Key, str] = WeakKeyCache()
    index, hits = cache.identity_index()
    a, b = Key("a"), Key("b")
    cache.put(a, "A")
    cache.put(b, "B")
    assert dict(index) == {id(a): "A", id(b): "B"}
    next(hits)
    next(hits)
    assert cache.cache_info() == CacheInfo(hits=2, misses=0, maxsize=None, currsize=2)
    b_id = id(b)
    del b  # gone from the index at once: no cache operation runs in between
    assert b_id not in index and dict(index) == {id(a): "A"}
    cache.cache_clear()
    assert dict(index) == {} and cache.cache_info() == CacheInfo(0, 0, None, 0)
    next(hits)  # the counter survives cache_clear() and counts from its new zero
    assert cache.cache_info().hits == 1
    bounded: WeakKeyCache[Key, str] = WeakKeyCache(maxsize=2)
    with pytest.raises(ValueError, match="unbounded"):
        bounded.identity_index()


def test_the_identity_index_drops_what_the_bound_evicts() -> None:
    cache: WeakKeyCache[Key, int] = WeakKeyCache(maxsize=1)
    a, b = Key(), Key()
    cache.put(a, 1)
    cache.put(b, 2)  # evicts a
    assert cache.hit(a, None) is None and cache.hit(b, None) == 2
    assert cache._index == {id(b): 2}


def test_maxsize_zero_stores_nothing() -> None:
    cache: WeakKeyCache[Key, int] = WeakKeyCache(maxsize=0)
    key = Key()
    assert cache.get_or_compute(key, lambda: 1) == 1
    assert key not in cache


def test_unweakrefable_keys_are_computed_every_time() -> None:
    calls: list[int] = []

    @weak_key_cache(maxsize=None)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert square(3) == 9 and square(3) == 9
    assert calls == [3, 3]
    assert square.cache_info() == CacheInfo(hits=0, misses=2, maxsize=None, currsize=0)


def test_functools_api_and_key_function() -> None:
    def parameter_names(fn: Any) -> tuple[str, ...]:
        return tuple(inspect.signature(fn).parameters)

    cached = weak_key_cache(maxsize=8, key=lambda fn: fn.__code__)(parameter_names)
    assert cached.__wrapped__ is parameter_names
    assert cached.__name__ == "parameter_names"

    def make(i: int) -> Any:
        def f(a: int, b: int) -> int:
            return a + b + i

        return f

    for i in range(20):
        assert cached(make(i)) == ("a", "b")
    assert cached.cache_info() == CacheInfo(hits=19, misses=1, maxsize=8, currsize=1)
    assert cached.cache_parameters()["maxsize"] == 8
    cached.cache_clear()
    assert cached.cache_info() == CacheInfo(hits=0, misses=0, maxsize=8, currsize=0)


def test_exceptions_are_not_cached() -> None:
    calls: list[object] = []

    @weak_key_cache()
    def fails_once(key: Key) -> str:
        calls.append(key)
        if len(calls) == 1:
            raise ValueError("first")
        return "ok"

    key = Key()
    with pytest.raises(ValueError, match="first"):
        fails_once(key)
    assert fails_once(key) == "ok"
    assert fails_once(key) == "ok"
    assert len(calls) == 2


def test_a_reused_id_never_returns_a_dead_keys_value() -> None:
    cache: WeakKeyCache[Key, str] = WeakKeyCache()
    for i in range(2000):  # ids of dead keys get reused by new ones
        key = Key(str(i))
        assert cache.get_or_compute(key, lambda k=key: k.name) == str(i)  # type: ignore[misc]
        del key


def test_many_threads_at_once() -> None:
    cache: WeakKeyCache[Key, str] = WeakKeyCache(maxsize=64)
    shared = [Key(str(i)) for i in range(32)]
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(3000):
                key = shared[(i * seed) % len(shared)]
                assert cache.get_or_compute(key, lambda k=key: k.name) == key.name  # type: ignore[misc]
                fresh = Key("fresh")
                assert cache.get_or_compute(fresh, lambda: "fresh") == "fresh"
                if i % 500 == 0:
                    gc.collect()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in (1, 3, 5, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    info = cache.cache_info()
    assert info.hits + info.misses == 4 * 3000 * 2
    assert info.currsize <= 64
