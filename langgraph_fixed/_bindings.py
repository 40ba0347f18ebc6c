"""Where an object is bound: the loaded modules' globals, read by name, by identity and
through wrappers.

The engine asks three questions of them: where is upstream's object bound (to
rebind it to the fix, and back), what does a binding wrap (another patcher's
wrapper, or the fix beneath one), and does anything still reach upstream's
object (for a status that tells the truth). Only module globals are looked at:
a closure or a container that holds upstream's object is out of reach.
"""

from __future__ import annotations

import functools
import sys
from types import FunctionType
from typing import Any

__all__ = ["chain", "plain", "reaching", "rebind", "references"]

#: The standard library never imports what a fix replaces: its modules are not searched.
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) - {"__main__"}
_LRU_TYPE = type(functools.lru_cache(maxsize=1)(lambda: None))
#: How many wrappers deep :func:`chain` follows.
_MAX_CHAIN = 8

#: Whether ``sys.getrefcount`` counts exactly (CPython 3.10 - 3.13 with the GIL), so
#: that a count can prove that the bindings found are all there are.
_EXACT_REFCOUNTS = (
    sys.implementation.name == "cpython"
    and (3, 10) <= sys.version_info[:2] <= (3, 13)
    and getattr(sys, "_is_gil_enabled", lambda: True)()
)
_OVERHEAD = 0


def references(obj: Any) -> int | None:
    """How many references to ``obj`` there are besides the caller's one local variable
    (None where reference counts are not exact)."""
    if not _EXACT_REFCOUNTS:
        return None
    return sys.getrefcount(obj) - _OVERHEAD


def _calibrate() -> int:
    """What a call of :func:`references` adds to the count itself (3 on Python 3.11+,
    4 on 3.10, which keeps the argument on the caller's stack too)."""
    probe = object()
    holder = [probe]  # the one reference besides the local variable
    counted = references(probe)
    del holder
    return 0 if counted is None else counted - 1


_OVERHEAD = _calibrate()


def plain(obj: Any) -> bool:
    """Whether ``obj`` is of a kind upstream binds at module level: a function, an
    ``lru_cache``-wrapped function or a class. Anything else bound where upstream
    defines one of those is someone's wrapper (``wrapt``, ``unittest.mock``, ...).
    ``type()`` is asked, not ``isinstance``: a proxy passes for what it wraps."""
    kind = type(obj)
    return kind is FunctionType or kind is _LRU_TYPE or issubclass(kind, type)


def chain(obj: Any) -> list[Any]:
    """``obj``, then what it wraps (``__wrapped__``, a mock's ``wraps``), and so on."""
    links = [obj]
    for _ in range(_MAX_CHAIN):
        try:
            inner = vars(obj).get("_mock_wraps") if _is_mock(obj) else obj.__wrapped__
        except Exception:  # no __wrapped__, or a proxy that raises: the end of the chain
            break
        if inner is None or any(inner is link for link in links):
            break
        links.append(inner)
        obj = inner
    return links


def _is_mock(obj: Any) -> bool:
    return any(klass.__module__ == "unittest.mock" for klass in type(obj).__mro__)


def _modules() -> list[tuple[str, dict[str, Any]]]:
    return [
        (module_name, namespace)
        for module_name, module in list(sys.modules.items())
        if type(namespace := getattr(module, "__dict__", None)) is dict
        and module_name.partition(".")[0] not in _STDLIB
    ]


def rebind(
    pairs: dict[int, tuple[Any, Any]], names: dict[int, tuple[str, int | None]] | None = None
) -> dict[int, list[str]]:
    """Rebind every loaded module global that *is* an old object to its new one.

    ``pairs`` maps ``id(old)`` to ``(old, new)``; returns, per ``id(old)``, the
    ``module.name`` places rebound. ``names`` may give, per ``id(old)``, the name
    ``old`` is defined under and how many references to it there were
    (:func:`references`): a first pass looks that name up in every module, and
    when the bindings it finds account for every reference, ``old`` is bound
    nowhere else, under no other name. Otherwise (an alias, a reference from
    anywhere else), every value of every module is compared with ``old``: one
    pass for all, at C speed.
    """
    rebound: dict[int, list[str]] = {key: [] for key in pairs}
    todo = dict(pairs)
    if names:
        found: dict[int, list[dict[str, Any]]] = {key: [] for key in names}
        lookups = list({name for name, _ in names.values()})
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", None)
            if type(namespace) is not dict:
                continue
            for name in lookups:
                pair = pairs.get(id(namespace.get(name)))
                if pair is not None and namespace[name] is pair[0]:
                    found[id(pair[0])].append(namespace)
        for key, (name, count) in names.items():
            if count is not None and len(found[key]) == count:
                for namespace in found[key]:
                    namespace[name] = pairs[key][1]
                    rebound[key].append(f"{namespace.get('__name__')}.{name}")
                del todo[key]
    if not todo:
        return rebound
    wanted = todo.keys()
    for module_name, namespace in _modules():
        try:
            if wanted.isdisjoint(map(id, namespace.values())):  # most modules
                continue
        except RuntimeError:  # the namespace changed meanwhile: look at it below
            pass
        for name, value in list(namespace.items()):
            pair = todo.get(id(value))
            if pair is not None and pair[0] is value:
                namespace[name] = pair[1]
                rebound[id(value)].append(f"{module_name}.{name}")
    return rebound


def reaching(original: Any, name: str) -> list[str]:
    """The module globals that still reach ``original``: bound to it under any name,
    or, under ``name``, to a wrapper of it."""
    places = []
    target = id(original)
    for module_name, namespace in _modules():
        try:
            direct = not {target}.isdisjoint(map(id, namespace.values()))
        except RuntimeError:
            direct = True  # changed meanwhile: look at every value below
        if direct:
            places += [f"{module_name}.{k}" for k, v in list(namespace.items()) if v is original]
        value = namespace.get(name)
        wrapper = value is not None and value is not original and not plain(value)
        if wrapper and any(link is original for link in chain(value)):
            places.append(f"{module_name}.{name}")
    return places
