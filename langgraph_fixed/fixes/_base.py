"""The contract every fix fulfils, and the checks they share.

A fix is mostly data: the module attribute it replaces, the releases that have
the leak (``applies_to``) and those it was tested on (``tested``), the
fingerprints of the upstream code it knows, the functions that must look the
target up as a module global, and the upstream caches it takes the place of.
:meth:`Fix.recognise` runs the shared checks on that data, then the fix's own
:meth:`Fix.check`, and returns what :meth:`Fix.build` needs; nothing is kept
on the (shared) fix instance. The engine (:mod:`langgraph_fixed._engine`)
does the rest: versions, rebinding, recording, reverting.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Mapping, MutableMapping, MutableSet
from types import ModuleType
from typing import Any, Generic, NamedTuple, TypeVar, cast

from langgraph_fixed.fixes._source import source_fingerprint

__all__ = [
    "MARK",
    "CacheSize",
    "Fix",
    "NotNeeded",
    "Unrecognised",
    "Versions",
    "dress",
    "reads_global",
    "replaced",
    "state_of",
]

R = TypeVar("R")
F = TypeVar("F", bound=Any)

#: The attribute every replacement carries, holding the object it replaced: how
#: the engine tells a fix of ours from upstream's code and finds the original
#: again (after a revert that a monkeypatch undid, say).
MARK = "__langgraph_fixed__"


def replaced(obj: Any) -> Any:
    """What ``obj`` replaced, if it is one of our replacements; else None (read
    statically: a mock or a proxy answers nothing)."""
    try:
        return inspect.getattr_static(obj, MARK, None)
    except Exception:  # an object whose type lookup itself fails
        return None


def dress(function: F, original: Any, state: Any) -> F:
    """Make ``function`` the replacement of ``original`` and return it.

    A replacement on a hot path is a plain function: calling one costs less
    than calling an instance with ``__call__`` (about 0.07 us on CPython 3.11,
    as much as a whole ``lru_cache`` hit). It takes ``original``'s name,
    module and doc, ``__wrapped__`` is upstream's uncached function, :data:`MARK`
    is ``original``, ``state`` (the object holding its caches) is ``state``,
    and ``cache_info`` / ``cache_clear`` / ``cache_parameters`` are ``state``'s.
    """
    for name in ("__name__", "__qualname__", "__module__", "__doc__"):
        setattr(function, name, getattr(original, name))
    function.__wrapped__ = original.__wrapped__
    setattr(function, MARK, original)
    function.state = state
    function.cache_info = state.cache_info
    function.cache_clear = state.cache_clear
    function.cache_parameters = state.cache_parameters
    return function


def state_of(obj: Any) -> Any:
    """The ``state`` of a replacement made by :func:`dress`, else None."""
    if replaced(obj) is None:
        return None
    return inspect.getattr_static(obj, "state", None)


class NotNeeded(Exception):
    """The installed code does not have the leak; the message says why."""


class Unrecognised(Exception):
    """The installed code is not the code this fix knows; the message says how."""


class Versions(NamedTuple):
    """Releases of one distribution: from ``since`` on, up to ``through`` (included)
    or ``before`` (excluded); a bound left out is open."""

    dist: str
    since: str | None = None
    through: str | None = None
    before: str | None = None

    @property
    def specifier(self) -> str:
        """The range as a PEP 440 specifier (``>=0.3.9,<0.4.8``)."""
        parts = []
        if self.since is not None:
            parts.append(f">={self.since}")
        if self.through is not None:
            parts.append(f"<={self.through}")
        if self.before is not None:
            parts.append(f"<{self.before}")
        return ",".join(parts)

    def contains(self, version: str) -> bool:
        """Whether ``version`` is in the range (``InvalidVersion`` if it does not parse)."""
        # imported here: the package must import without packaging's modules loaded
        from packaging.version import Version

        v = Version(version)
        if self.since is not None and v < Version(self.since):
            return False
        if self.through is not None and v > Version(self.through):
            return False
        return not (self.before is not None and v >= Version(self.before))

    def __str__(self) -> str:
        return f"{self.dist}{self.specifier}"


class CacheSize(NamedTuple):
    """How full one cache is now, as its ``cache_info()`` (or ``len()``) says.

    ``kind`` is ``"upstream"`` for the library's own cache (whether or not a fix
    replaced the function that uses it) and ``"fix"`` for a replacement's cache.
    """

    name: str
    kind: str
    currentsize: int
    maxsize: int | None
    fix: str | None = None
    hits: int | None = None
    misses: int | None = None
    note: str | None = None

    @classmethod
    def of(cls, obj: Any, name: str, kind: str, fix: str | None = None) -> CacheSize | None:
        """From ``obj.cache_info()``, or ``len(obj)`` for a dict or set; else None."""
        cache_info = getattr(obj, "cache_info", None)
        if callable(cache_info):
            hits, misses, maxsize, currsize = cache_info()
            return cls(name, kind, currsize, maxsize, fix, hits, misses)
        if isinstance(obj, (MutableMapping, MutableSet)):
            return cls(name, kind, len(obj), None, fix)
        return None


def reads_global(module: ModuleType, qualname: str, name: str) -> bool:
    """Whether the function ``module.<qualname>`` reads ``name`` (as a global) when it runs."""
    obj: Any = module
    for part in qualname.split("."):
        obj = inspect.getattr_static(obj, part, None)
    obj = getattr(obj, "__func__", obj)  # a staticmethod or classmethod
    code = getattr(obj, "__code__", None)
    return code is not None and name in code.co_names


class Fix(Generic[R]):
    """One leak site: what it replaces, where it applies, how it recognises the code.

    Subclasses set the class attributes and implement :meth:`build`; they
    override :meth:`check` for checks of their own, and :meth:`cache_sizes`
    when a cache is not ``lru_cache``-like.
    """

    #: Short, stable name used in reports.
    name: str = ""
    #: One line for humans.
    summary: str = ""
    #: Module defining the attribute to replace, and the attribute.
    module: str = ""
    attribute: str = ""
    #: The releases that have the leak; elsewhere the fix is "not needed".
    applies_to: Versions
    #: The releases this fix is tested on (the nox version sets). Outside them
    #: the fix is applied only if :meth:`recognise` accepts the code.
    tested: Versions
    #: Upstream's caches this fix takes the place of, other than ``attribute``
    #: itself, as qualified names in ``module`` (``"Class._cache"``); emptied
    #: once the fix is bound.
    caches: tuple[str, ...] = ()
    #: Whether the target is an ``functools.lru_cache``-wrapped function: a
    #: target without a cache is "not needed"; the uncached ``__wrapped__`` is
    #: fingerprinted; the cache is emptied once the fix is bound.
    lru: bool = False
    #: Known fingerprints (:func:`source_fingerprint`) of the code this fix
    #: mirrors, each with what :meth:`check` receives for that variant; None:
    #: the fix checks the code's structure itself.
    fingerprints: Mapping[str, Any] | None = None
    #: What is fingerprinted, if not the function itself: a name in the
    #: target class's own namespace (``"__new__"``).
    fingerprinted: str = ""
    #: Functions of ``module`` (qualified names) that must look the target up
    #: as a module global when they run, or the rebinding would not reach them.
    callers: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        return f"{self.module}.{self.attribute}"

    @property
    def covers(self) -> tuple[str, ...]:
        """Qualified names in ``module`` of every upstream cache this fix deals with."""
        return (self.attribute, *self.caches)

    def recognise(self, original: Any) -> R:
        """What :meth:`build` needs from ``original``.

        Raises :class:`NotNeeded` when the installed code has no leak and
        :class:`Unrecognised` when it is not the code this fix knows.
        """
        module = sys.modules[self.module]
        if self.lru and not (
            hasattr(original, "cache_clear") and callable(getattr(original, "__wrapped__", None))
        ):
            raise NotNeeded(f"upstream's {self.attribute} is not cached in this version")
        variant = None
        if self.fingerprints is not None:
            variant = self.fingerprints[self._fingerprint(original)]
        for caller in self.callers:
            if not reads_global(module, caller, self.attribute):
                raise Unrecognised(f"{caller} no longer calls it through the module global")
        return self.check(original, module, variant)

    def _fingerprint(self, original: Any) -> str:
        """The fingerprint of what this fix reads, if it is known (else ``Unrecognised``)."""
        what = "" if not self.fingerprinted else f" of {self.fingerprinted}"
        try:
            if self.fingerprinted:
                code = vars(original)[self.fingerprinted]
            else:
                code = original.__wrapped__ if self.lru else original
            assert self.fingerprints is not None
            fingerprint = source_fingerprint(code, self.fingerprints)
        except Exception as exc:
            raise Unrecognised(f"its source cannot be read ({exc!r})") from None
        if fingerprint not in self.fingerprints:
            raise Unrecognised(f"unknown source fingerprint{what} {fingerprint}")
        return fingerprint

    def check(self, original: Any, module: ModuleType, variant: Any) -> R:
        """The fix's own checks; returns what :meth:`build` needs (by default ``variant``,
        the value :attr:`fingerprints` gives for the installed code)."""
        return cast("R", variant)

    def build(self, original: Any, recognised: R) -> Any:
        """The replacement object for ``original``."""
        raise NotImplementedError

    def _resolve(self, original: Any, qualname: str) -> Any:
        """``module.<qualname>``, reading the target itself as ``original``; None if missing."""
        first, _, rest = qualname.partition(".")
        obj = (
            original if first == self.attribute else getattr(sys.modules[self.module], first, None)
        )
        for part in rest.split(".") if rest else ():
            obj = getattr(obj, part, None)
        return obj

    def after_apply(self, original: Any) -> None:
        """Empty upstream's caches: what they pinned before the fix would stay pinned for ever."""
        for qualname in self.covers:
            cache = self._resolve(original, qualname)
            if callable(getattr(cache, "cache_info", None)) and hasattr(cache, "cache_clear"):
                cache.cache_clear()
            elif isinstance(cache, (MutableMapping, MutableSet)):
                cache.clear()

    def cache_sizes(self, original: Any, replacement: Any | None) -> list[CacheSize]:
        """Live sizes of upstream's caches and, while bound, of the replacement's."""
        sizes = []
        for qualname in self.covers:
            name = f"{self.module}.{qualname}"
            sizes.append(
                CacheSize.of(self._resolve(original, qualname), name, "upstream", self.name)
            )
        if replacement is not None:
            sizes.append(CacheSize.of(replacement, self.target, "fix", self.name))
        return [size for size in sizes if size is not None]
