"""The patching core: walks the registry of fixes, knows nothing about any one leak.

Each fix (see :mod:`langgraph_fixed.fixes`) names a module attribute to replace,
the distribution and versions it applies to, how to recognise the code it
expects, and how to build the replacement. The core imports the target, runs
those checks, rebinds the attribute in its defining module and in every loaded
module that imported it by name, records the original, and reports the outcome.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import importlib.metadata
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CacheSize",
    "Fix",
    "FixNotApplied",
    "FixState",
    "LangGraphFixedWarning",
    "PatchStatus",
    "StatusReport",
    "apply",
    "fix_cache_sizes",
    "get_original",
    "installed_versions",
    "patched",
    "revert",
    "status",
]

#: Distributions whose versions every status report carries.
REPORTED_DISTRIBUTIONS = (
    "langgraph",
    "langchain-core",
    "langgraph-prebuilt",
    "langgraph-checkpoint",
    "langchain",
    "pydantic",
)


class LangGraphFixedWarning(UserWarning):
    """A fix could not be applied; the library still works, unpatched."""


class FixNotApplied(RuntimeError):
    """Raised by ``apply(strict=True)`` when a needed fix is not active."""

    def __init__(self, report: StatusReport) -> None:
        self.report = report
        problems = "; ".join(f"{s.fix}: {s.state.value} ({s.reason})" for s in report.problems)
        super().__init__(f"langgraph-fixed could not apply every needed fix: {problems}")


class FixState(enum.Enum):
    """What happened to one fix."""

    APPLIED = "applied"
    NOT_NEEDED = "not needed"
    SKIPPED = "skipped"
    FAILED = "failed"
    INACTIVE = "not applied"


@dataclass(frozen=True)
class PatchStatus:
    """The state of one fix, with the reason and the versions it was judged on."""

    fix: str
    state: FixState
    reason: str
    target: str
    versions: dict[str, str | None] = field(default_factory=dict)
    rebound: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.state is FixState.APPLIED

    @property
    def problem(self) -> bool:
        """True when the fix is needed here but is not active."""
        return self.state in (FixState.SKIPPED, FixState.FAILED)


class StatusReport(tuple[PatchStatus, ...]):
    """The status of every registered fix, in registry order."""

    def __new__(cls, statuses: Sequence[PatchStatus] = ()) -> StatusReport:
        return super().__new__(cls, statuses)

    def get(self, fix: str) -> PatchStatus:
        """The status of the fix called ``fix`` (``KeyError`` if there is none)."""
        for item in self:
            if item.fix == fix:
                return item
        raise KeyError(fix)

    @property
    def problems(self) -> tuple[PatchStatus, ...]:
        return tuple(s for s in self if s.problem)

    @property
    def ok(self) -> bool:
        """True when no needed fix is left inactive by a skip or a failure."""
        return not self.problems

    def format(self) -> str:
        rows = [f"{s.fix:<28} {s.state.value:<12} {s.reason}" for s in self]
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class CacheSize:
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
        """From ``obj.cache_info()``; None if ``obj`` has no such method."""
        cache_info = getattr(obj, "cache_info", None)
        if not callable(cache_info):
            return None
        hits, misses, maxsize, currsize = cache_info()
        return cls(name, kind, currsize, maxsize, fix, hits, misses)


class Fix:
    """One leak site: what it replaces, where it applies, how it recognises the code.

    Subclasses set the class attributes and implement :meth:`recognise` and
    :meth:`build`; they may override :meth:`needed` and :meth:`after_apply`.
    """

    #: Short, stable name used in reports.
    name: str = ""
    #: One line for humans.
    summary: str = ""
    #: Module defining the attribute to replace, and the attribute.
    module: str = ""
    attribute: str = ""
    #: Requirement strings the installed distributions must satisfy for the
    #: leak to exist; otherwise the fix is "not needed".
    applies_to: tuple[str, ...] = ()
    #: Requirement strings describing the versions this fix was tested on.
    #: Outside them the fix is applied only if :meth:`recognise` accepts the code.
    tested: tuple[str, ...] = ()
    #: Upstream's caches this fix takes the place of, other than ``attribute``
    #: itself, as qualified names in ``module`` (``"Class._cache"``).
    caches: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        return f"{self.module}.{self.attribute}"

    @property
    def covers(self) -> tuple[str, ...]:
        """Qualified names in ``module`` of every upstream cache this fix deals with."""
        return (self.attribute, *self.caches)

    def cache_sizes(self, original: Any, replacement: Any | None) -> list[CacheSize]:
        """Live sizes of upstream's cache (``original``) and the replacement's, if bound.

        The default reads ``cache_info()`` of each; a fix whose cache is not an
        ``lru_cache``-like function overrides this.
        """
        sizes = [
            CacheSize.of(original, self.target, "upstream", self.name),
            CacheSize.of(replacement, self.target, "fix", self.name),
        ]
        return [size for size in sizes if size is not None]

    def needed(self, original: Any) -> str | None:
        """A reason why the installed code does not leak, or None if it does."""
        return None

    def recognise(self, original: Any) -> str | None:
        """A reason why ``original`` is not the code this fix expects, or None."""
        raise NotImplementedError

    def build(self, original: Any) -> Any:
        """The replacement object for ``original``."""
        raise NotImplementedError

    def after_apply(self, original: Any) -> None:
        """Called once the replacement is bound (e.g. to empty the leaky cache)."""


@dataclass
class _Active:
    fix: Fix
    original: Any
    replacement: Any
    status: PatchStatus


_lock = threading.RLock()
_active: dict[str, _Active] = {}
_last: dict[str, PatchStatus] = {}


def installed_versions() -> dict[str, str | None]:
    """Installed versions of the distributions that matter here (None if absent)."""
    versions: dict[str, str | None] = {
        "python": ".".join(map(str, sys.version_info[:3])),
    }
    for dist in REPORTED_DISTRIBUTIONS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def _unmet(requirements: Sequence[str], versions: dict[str, str | None]) -> str | None:
    """The first requirement the installed versions do not meet, explained; else None."""
    # imported here: packaging's parser is a noticeable share of start-up
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:  # a bug in a fix declaration
            return f"invalid requirement {text!r}: {exc}"
        if req.name not in versions:  # looked up once per apply(): a miss scans sys.path
            try:
                versions[req.name] = importlib.metadata.version(req.name)
            except importlib.metadata.PackageNotFoundError:
                versions[req.name] = None
        installed = versions[req.name]
        if installed is None:
            return f"{req.name} is not installed"
        try:
            version = Version(installed)
        except InvalidVersion:
            return f"{req.name} has an unparsable version {installed!r}"
        if not req.specifier.contains(version, prereleases=True):
            return f"{req.name} {installed} is outside {req.specifier}"
    return None


def _registry() -> tuple[Fix, ...]:
    from langgraph_fixed.fixes import FIXES

    return FIXES


def _rebind(replacements: dict[int, tuple[Any, Any]]) -> dict[int, list[str]]:
    """Rebind, by identity, every loaded module global that is an old object to its new one.

    ``replacements`` maps ``id(old)`` to ``(old, new)``; one pass over the
    namespaces of ``sys.modules`` serves every pair. Returns, per ``id(old)``,
    the ``module.name`` places rebound.
    """
    rebound: dict[int, list[str]] = {key: [] for key in replacements}
    if not replacements:
        return rebound
    for mod_name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if type(namespace) is not dict:
            continue
        hits = [
            (name, key)
            for name, value in list(namespace.items())
            if (key := id(value)) in replacements and replacements[key][0] is value
        ]
        for name, key in hits:
            namespace[name] = replacements[key][1]
            rebound[key].append(f"{mod_name}.{name}")
    return rebound


def _swap(old: Any, new: Any) -> tuple[str, ...]:
    return tuple(_rebind({id(old): (old, new)})[id(old)])


def _judge(fix: Fix, versions: dict[str, str | None]) -> tuple[PatchStatus, Any]:
    """Decide what to do with one fix; returns (status, original or None)."""

    def make(state: FixState, reason: str) -> PatchStatus:
        return PatchStatus(fix.name, state, reason, fix.target, versions)

    unmet = _unmet(fix.applies_to, versions)
    if unmet is not None:
        return make(FixState.NOT_NEEDED, unmet), None
    try:
        module = importlib.import_module(fix.module)
    except Exception as exc:  # an import error in a dependency must not take the host down
        return make(FixState.SKIPPED, f"cannot import {fix.module}: {exc!r}"), None
    if not hasattr(module, fix.attribute):
        return make(FixState.SKIPPED, f"{fix.target} does not exist in this version"), None
    original = getattr(module, fix.attribute)
    try:
        not_needed = fix.needed(original)
        if not_needed is not None:
            return make(FixState.NOT_NEEDED, not_needed), None
        unrecognised = fix.recognise(original)
    except Exception as exc:
        return make(FixState.FAILED, f"checking {fix.target} raised {exc!r}"), None
    untested = _unmet(fix.tested, versions)
    if unrecognised is not None:
        where = f" ({untested}; tested: {', '.join(fix.tested)})" if untested else ""
        reason = f"{fix.target} is not the code this fix knows: {unrecognised}{where}"
        return make(FixState.SKIPPED, reason), None
    note = f"; {untested}, applied because the code is recognised" if untested else ""
    return make(FixState.APPLIED, f"{fix.summary}{note}"), original


def _revert_one(name: str) -> None:
    active = _active.pop(name, None)
    if active is None:
        return
    _swap(active.replacement, active.original)
    _last[name] = PatchStatus(
        name, FixState.INACTIVE, "reverted", active.fix.target, active.status.versions
    )


def apply(*, strict: bool = False, loaded_only: bool = False) -> StatusReport:
    """Apply every fix that is needed on this install; idempotent and thread-safe.

    Unrecognised or missing targets are skipped with a
    :class:`LangGraphFixedWarning` and never raise, unless ``strict`` is true,
    in which case :class:`FixNotApplied` is raised after the others are applied.

    With ``loaded_only``, a fix whose target module is not imported yet is left
    waiting (``not applied``) instead of importing it: what the start-up hook
    uses, since importing a target from inside another module's import can
    meet a half-initialised package.
    """
    versions = installed_versions()
    with _lock:
        statuses: dict[str, PatchStatus] = {}
        pending: list[tuple[Fix, PatchStatus, Any, Any]] = []
        for fix in _registry():
            active = _active.get(fix.name)
            if active is not None:
                statuses[fix.name] = active.status
                continue
            waiting = loaded_only and fix.module not in sys.modules
            if waiting and _unmet(fix.applies_to, versions) is None:
                reason = f"waiting for {fix.module} to be imported"
                statuses[fix.name] = PatchStatus(
                    fix.name, FixState.INACTIVE, reason, fix.target, versions
                )
                continue
            status, original = _judge(fix, versions)
            if status.state is FixState.APPLIED:
                try:
                    pending.append((fix, status, original, fix.build(original)))
                    continue
                except Exception as exc:
                    reason = f"building the fix raised {exc!r}"
                    status = PatchStatus(fix.name, FixState.FAILED, reason, fix.target, versions)
            statuses[fix.name] = status
        # one pass over every loaded module for all the fixes being applied
        rebound = _rebind({id(original): (original, new) for _, _, original, new in pending})
        for fix, status, original, replacement in pending:
            try:
                fix.after_apply(original)
            except Exception as exc:
                _swap(replacement, original)
                reason = f"finishing the fix raised {exc!r}"
                statuses[fix.name] = PatchStatus(
                    fix.name, FixState.FAILED, reason, fix.target, versions
                )
                continue
            status = dataclasses.replace(status, rebound=tuple(rebound[id(original)]))
            _active[fix.name] = _Active(fix, original, replacement, status)
            statuses[fix.name] = status
        _last.update(statuses)
        report = StatusReport([statuses[fix.name] for fix in _registry()])
    for problem in report.problems:
        warnings.warn(
            f"langgraph-fixed: {problem.fix} {problem.state.value}: {problem.reason}",
            LangGraphFixedWarning,
            stacklevel=2,
        )
    if strict and not report.ok:
        raise FixNotApplied(report)
    return report


def revert() -> StatusReport:
    """Restore the exact original objects everywhere the fixes were bound."""
    with _lock:
        actives = list(_active.values())
        _rebind({id(a.replacement): (a.replacement, a.original) for a in actives})
        for active in actives:
            del _active[active.fix.name]
            _last[active.fix.name] = PatchStatus(
                active.fix.name,
                FixState.INACTIVE,
                "reverted",
                active.fix.target,
                active.status.versions,
            )
        for name, last in list(_last.items()):  # skipped or failed: nothing to undo
            if last.state is not FixState.INACTIVE:
                _last[name] = PatchStatus(
                    name, FixState.INACTIVE, "reverted", last.target, last.versions
                )
        return status()


def status() -> StatusReport:
    """The current state of every fix (``not applied`` before :func:`apply`)."""
    with _lock:
        statuses = []
        for fix in _registry():
            active = _active.get(fix.name)
            if active is not None:
                statuses.append(active.status)
            elif fix.name in _last:
                statuses.append(_last[fix.name])
            else:
                statuses.append(
                    PatchStatus(fix.name, FixState.INACTIVE, "apply() not called", fix.target)
                )
        return StatusReport(statuses)


def fix_cache_sizes(*, import_modules: bool = False) -> tuple[CacheSize, ...]:
    """Live sizes, in this process, of the caches every fix concerns.

    Upstream's cache is read from the original object whether or not the fix
    replaced it; the replacement's only while applied. A fix whose target
    module is not imported is left out, unless ``import_modules`` (then only
    where the installed versions have the leak).
    """
    if import_modules:
        # first, so that a start-up hook applying a fix on import has done so
        versions = installed_versions()
        for fix in _registry():
            if fix.module not in sys.modules and _unmet(fix.applies_to, versions) is None:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        importlib.import_module(fix.module)
                except Exception:
                    continue
    sizes: list[CacheSize] = []
    with _lock:
        for fix in _registry():
            active = _active.get(fix.name)
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


def get_original(name: str) -> Any:
    """The object a fix replaced, while it is applied (``KeyError`` otherwise)."""
    with _lock:
        return _active[name].original


@contextmanager
def patched(*, strict: bool = False) -> Iterator[StatusReport]:
    """Apply the fixes for the duration of a block.

    Fixes that were already active when the block was entered stay active on
    exit; only those this block applied are reverted.
    """
    with _lock:
        before = set(_active)
        report = apply(strict=strict)
        mine = set(_active) - before
    try:
        yield report
    finally:
        with _lock:
            for name in mine:
                _revert_one(name)
