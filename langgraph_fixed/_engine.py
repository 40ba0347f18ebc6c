"""The patching engine: applies a registry of fixes and knows no leak by name.

For each fix a :class:`Patcher` asks: is the installed release one with the
leak? Is the fix's module imported? (If not, it waits: the fix is applied
right after that module's first import, see :mod:`langgraph_fixed._hooks`;
nothing is imported here.) Is the attribute there, and is it the code the fix
knows? Then it builds the replacement, rebinds every loaded module global
that holds the original (by identity, under any name), lets the fix empty
upstream's caches, and records the original so that :meth:`Patcher.revert`
puts it back everywhere.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from langgraph_fixed import _hooks
from langgraph_fixed._status import (
    FixNotApplied,
    FixState,
    LangGraphFixedWarning,
    PatchStatus,
    StatusReport,
)
from langgraph_fixed.fixes._base import CacheSize, Fix, NotNeeded, Unrecognised, Versions
from langgraph_fixed.fixes._base import is_replacement as _is_replacement

__all__ = [
    "DEFAULT",
    "Patcher",
    "apply",
    "get_original",
    "installed_versions",
    "patched",
    "revert",
    "status",
]

#: Distributions whose versions ``installed_versions()`` (and the doctor) report.
REPORTED_DISTRIBUTIONS = (
    "langgraph",
    "langchain-core",
    "langgraph-prebuilt",
    "langgraph-checkpoint",
    "langchain",
    "pydantic",
)


def _version(dist: str) -> str | None:
    """The installed version of ``dist`` (None if absent), from its metadata's headers
    only: ``importlib.metadata.version`` parses the whole file, long description
    included, which costs more than the rest of ``apply()``."""
    import email.parser
    import importlib.metadata

    try:
        text = importlib.metadata.distribution(dist).read_text("METADATA") or ""
    except importlib.metadata.PackageNotFoundError:
        return None
    version = email.parser.HeaderParser().parsestr(text).get("Version")
    return version if isinstance(version, str) else importlib.metadata.version(dist)


def installed_versions() -> dict[str, str | None]:
    """Installed versions of the distributions that matter here (None if absent)."""
    versions: dict[str, str | None] = {"python": ".".join(map(str, sys.version_info[:3]))}
    versions.update((dist, _version(dist)) for dist in REPORTED_DISTRIBUTIONS)
    return versions


def _outside(releases: Versions, versions: dict[str, str | None]) -> str | None:
    """Why the installed release is not in ``releases`` (None if it is, or cannot tell)."""
    from packaging.version import InvalidVersion

    installed = versions.get(releases.dist)
    if installed is None:
        return f"{releases.dist} is not installed"
    try:
        inside = releases.contains(installed)
    except InvalidVersion:
        return None  # an odd local version: recognising the code decides
    return None if inside else f"{releases.dist} {installed} is outside {releases.specifier}"


#: The standard library never imports what a fix replaces: its modules are not searched.
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) - {"__main__"}

#: Whether ``sys.getrefcount`` counts exactly (CPython 3.10 - 3.13 with the GIL), so
#: that :func:`_rebind` can prove a lookup by name found every binding.
_EXACT_REFCOUNTS = (
    sys.implementation.name == "cpython"
    and (3, 10) <= sys.version_info[:2] <= (3, 13)
    and getattr(sys, "_is_gil_enabled", lambda: True)()
)
_OVERHEAD = 0


def _references(obj: Any) -> int | None:
    """How many references to ``obj`` there are besides the caller's one local variable
    (None where reference counts are not exact)."""
    if not _EXACT_REFCOUNTS:
        return None
    return sys.getrefcount(obj) - _OVERHEAD


def _calibrate() -> int:
    """What a call of :func:`_references` adds to the count itself (3 on Python 3.11+,
    4 on 3.10, which keeps the argument on the caller's stack too)."""
    probe = object()
    holder = [probe]  # the one reference besides the local variable
    counted = _references(probe)
    del holder
    return 0 if counted is None else counted - 1


_OVERHEAD = _calibrate()


def _rebind(
    pairs: dict[int, tuple[Any, Any]], names: dict[int, tuple[str, int | None]] | None = None
) -> dict[int, list[str]]:
    """Rebind every loaded module global that *is* an old object to its new one.

    ``pairs`` maps ``id(old)`` to ``(old, new)``; returns, per ``id(old)``, the
    ``module.name`` places rebound. ``names`` may give, per ``id(old)``, the name
    ``old`` is defined under and how many references to it there were
    (:func:`_references`): a first pass looks that name up in every module, and
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
        for key, (name, references) in names.items():
            if references is not None and len(found[key]) == references:
                for namespace in found[key]:
                    namespace[name] = pairs[key][1]
                    rebound[key].append(f"{namespace.get('__name__')}.{name}")
                del todo[key]
    if not todo:
        return rebound
    wanted = todo.keys()
    for module_name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if type(namespace) is not dict or module_name.partition(".")[0] in _STDLIB:
            continue
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


class _Active:
    __slots__ = ("fix", "original", "replacement", "status")

    def __init__(self, fix: Fix[Any], original: Any, replacement: Any, status: PatchStatus):
        self.fix = fix
        self.original = original
        self.replacement = replacement
        self.status = status


class Patcher:
    """Applies, reports and reverts one registry of fixes.

    ``fixes`` is the registry, or a function returning it (read on first use,
    so that creating a patcher imports nothing). The package's own patcher
    backs :func:`langgraph_fixed.apply` and friends; another one, on a made-up
    registry, is how the engine is tested.
    """

    def __init__(self, fixes: Sequence[Fix[Any]] | Callable[[], Sequence[Fix[Any]]]) -> None:
        self._registry = fixes
        self._fixes: tuple[Fix[Any], ...] | None = None
        self._versions: dict[str, str | None] | None = None
        self._lock = threading.RLock()
        self._active: dict[str, _Active] = {}
        self._waiting: dict[str, str] = {}  # fix name -> the module it waits for
        self._last: dict[str, PatchStatus] = {}

    @property
    def fixes(self) -> tuple[Fix[Any], ...]:
        if self._fixes is None:
            registry = self._registry
            self._fixes = tuple(registry() if callable(registry) else registry)
        return self._fixes

    def versions(self) -> dict[str, str | None]:
        """Python's version and the installed versions of the distributions the fixes name."""
        if self._versions is None:
            dists = dict.fromkeys(r.dist for f in self.fixes for r in (f.applies_to, f.tested))
            versions: dict[str, str | None] = {"python": ".".join(map(str, sys.version_info[:3]))}
            versions.update((dist, _version(dist)) for dist in dists)
            self._versions = versions
        return self._versions

    def targets(self) -> tuple[str, ...]:
        """The modules of the fixes whose range holds the installed release, loaded or not."""
        versions = self.versions()
        return tuple(
            dict.fromkeys(f.module for f in self.fixes if _outside(f.applies_to, versions) is None)
        )

    # --- judging and binding ---------------------------------------------------

    def _judge(self, fix: Fix[Any]) -> tuple[PatchStatus, Any, Any, int | None]:
        """(status, original, replacement, references to the original before it was
        judged); all but the status only for a fix to bind now."""
        versions = self.versions()

        def make(state: FixState, reason: str, waiting_for: str | None = None) -> PatchStatus:
            return PatchStatus(fix.name, state, reason, fix.target, versions, (), waiting_for)

        unmet = _outside(fix.applies_to, versions)
        if unmet is not None:
            return make(FixState.NOT_NEEDED, unmet), None, None, None
        module = sys.modules.get(fix.module)
        if module is None:
            reason = f"applied when {fix.module} is imported"
            return make(FixState.WAITING, reason, fix.module), None, None, None
        if not hasattr(module, fix.attribute):
            reason = f"{fix.target} does not exist here"
            return make(FixState.SKIPPED, reason), None, None, None
        original = getattr(module, fix.attribute)
        references = _references(original)  # before anything of ours holds it
        untested = _outside(fix.tested, versions)
        try:
            if _is_replacement(original):
                raise NotNeeded("already replaced by langgraph-fixed")
            recognised = fix.recognise(original)
            replacement = fix.build(original, recognised)
        except NotNeeded as exc:
            return make(FixState.NOT_NEEDED, str(exc)), None, None, None
        except Unrecognised as exc:
            where = f" ({untested}; tested: {fix.tested})" if untested else ""
            reason = f"{fix.target} is not the code this fix knows: {exc}{where}"
            return make(FixState.SKIPPED, reason), None, None, None
        except Exception as exc:  # a bug of ours must not take the application down
            reason = f"judging {fix.target} raised {exc!r}"
            return make(FixState.FAILED, reason), None, None, None
        note = f"; {untested}, applied because the code is recognised" if untested else ""
        status = make(FixState.APPLIED, f"{fix.summary}{note}")
        return status, original, replacement, references

    def _apply(self, fixes: Iterable[Fix[Any]]) -> set[str]:
        """Judge and bind ``fixes`` (the lock held); returns the modules to wait for."""
        to_bind: list[tuple[Fix[Any], PatchStatus, Any, Any, int | None]] = []
        for fix in fixes:
            if fix.name in self._active:
                continue
            judged = self._judge(fix)
            status = judged[0]
            self._last[fix.name] = status
            self._waiting.pop(fix.name, None)
            if status.state is FixState.WAITING:
                self._waiting[fix.name] = fix.module
            elif status.state is FixState.APPLIED:
                to_bind.append((fix, *judged))
        rebound = _rebind(  # one pass for all
            {id(o): (o, r) for _, _, o, r, _ in to_bind},
            {id(o): (f.attribute, n) for f, _, o, _, n in to_bind},
        )
        for fix, status, original, replacement, _ in to_bind:
            try:
                fix.after_apply(original)
            except Exception as exc:
                _rebind({id(replacement): (replacement, original)})
                reason = f"emptying upstream's cache raised {exc!r}"
                self._last[fix.name] = status._replace(state=FixState.FAILED, reason=reason)
                continue
            status = status._replace(rebound=tuple(rebound[id(original)]))
            self._active[fix.name] = _Active(fix, original, replacement, status)
            self._last[fix.name] = status
        return set(self._waiting.values())

    def _on_import(self, module: ModuleType) -> None:
        """A module some fixes wait for was imported: apply them."""
        with self._lock:
            names = {n for n, m in self._waiting.items() if m == module.__name__}
            self._apply(f for f in self.fixes if f.name in names)
            problems = [self._last[n] for n in names if self._last[n].problem]
        _warn(problems, stacklevel=3)

    def _revert(self, names: Iterable[str]) -> None:
        """Put the originals of ``names`` back everywhere and stop waiting (the lock held)."""
        names = set(names)
        actives = [a for n, a in self._active.items() if n in names]
        _rebind({id(a.replacement): (a.replacement, a.original) for a in actives})
        for name in names:
            self._active.pop(name, None)
            module = self._waiting.pop(name, None)
            if module is not None and module not in self._waiting.values():
                _hooks.cancel(module, self._on_import)
            last = self._last.get(name)
            if last is not None:
                self._last[name] = PatchStatus(
                    name, FixState.INACTIVE, "reverted", last.target, last.versions
                )

    # --- the public API ----------------------------------------------------------

    def apply(self, *, strict: bool = False) -> StatusReport:
        """Apply every fix this install needs; idempotent and thread-safe.

        A fix whose module is not imported yet is left ``waiting`` and applied
        right after that module's first import: ``apply()`` imports nothing.
        A fix that cannot be applied (an unknown release, unrecognised code)
        is skipped with a :class:`LangGraphFixedWarning` and the library keeps
        working, unpatched. With ``strict``, :class:`FixNotApplied` is raised
        instead, after the other fixes are applied; a waiting fix is judged
        when its module is imported, and then only warns.
        """
        with self._lock:
            watch = self._apply(self.fixes)
        for module in watch:
            _hooks.when_imported(module, self._on_import)
        report = self.status()
        _warn(report.problems, stacklevel=3)
        if strict and not report.ok:
            raise FixNotApplied(report)
        return report

    def revert(self) -> StatusReport:
        """Restore the exact original objects everywhere the fixes were bound."""
        with self._lock:
            self._revert([f.name for f in self.fixes])
            return self.status()

    def status(self) -> StatusReport:
        """The current state of every fix (``not applied`` before :meth:`apply`)."""
        with self._lock:
            statuses = []
            for fix in self.fixes:
                active = self._active.get(fix.name)
                last = self._last.get(fix.name)
                if active is not None:
                    statuses.append(active.status)
                elif last is not None:
                    statuses.append(last)
                else:
                    reason = "apply() not called"
                    statuses.append(PatchStatus(fix.name, FixState.INACTIVE, reason, fix.target))
            return StatusReport(statuses)

    @contextmanager
    def patched(self, *, strict: bool = False) -> Iterator[StatusReport]:
        """Apply the fixes for the duration of a block.

        Fixes that were already active (or waiting) when the block was entered
        stay so on exit; only those this block applied are reverted.
        """
        with self._lock:
            before = set(self._active) | set(self._waiting)
            report = self.apply(strict=strict)
            mine = (set(self._active) | set(self._waiting)) - before
        try:
            yield report
        finally:
            with self._lock:
                self._revert(mine)

    def get_original(self, name: str) -> Any:
        """The object the fix ``name`` replaced, while it is applied (``KeyError`` otherwise)."""
        with self._lock:
            return self._active[name].original

    def cache_sizes(self) -> tuple[CacheSize, ...]:
        """Live sizes of the caches every fix concerns, in the modules loaded now.

        Upstream's cache is read from the original object whether or not the fix
        replaced it; the replacement's only while applied.
        """
        sizes: list[CacheSize] = []
        with self._lock:
            for fix in self.fixes:
                active = self._active.get(fix.name)
                if active is not None:
                    original, replacement = active.original, active.replacement
                else:
                    module = sys.modules.get(fix.module)
                    if module is None or not hasattr(module, fix.attribute):
                        continue
                    original, replacement = getattr(module, fix.attribute), None
                try:
                    sizes.extend(fix.cache_sizes(original, replacement))
                except Exception:  # a report must never take the host down
                    continue
        return tuple(sizes)


def _warn(problems: Iterable[PatchStatus], stacklevel: int) -> None:
    for problem in problems:
        warnings.warn(
            f"langgraph-fixed: {problem.fix} {problem.state.value}: {problem.reason}",
            LangGraphFixedWarning,
            stacklevel=stacklevel,
        )


def _registry() -> Sequence[Fix[Any]]:
    from langgraph_fixed.fixes import FIXES

    return FIXES


#: The package's patcher, over the registry in :mod:`langgraph_fixed.fixes`.
DEFAULT = Patcher(_registry)
apply = DEFAULT.apply
revert = DEFAULT.revert
status = DEFAULT.status
patched = DEFAULT.patched
get_original = DEFAULT.get_original
