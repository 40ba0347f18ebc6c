"""The patching engine: applies a registry of fixes and knows no leak by name.

For each fix a :class:`Patcher` asks: is the installed release one with the
leak? Is the fix's module imported? (If not, it waits: the fix is applied
right after that module's first import, see :mod:`langgraph_fixed._hooks`;
nothing is imported here.) What is bound there: upstream's code it knows, a
fix of ours, or someone else's wrapper? Then it builds the replacement,
rebinds every loaded module global that holds the original (by identity, under
any name, see :mod:`langgraph_fixed._bindings`), lets the fix empty upstream's
caches, and records the original so that :meth:`Patcher.revert` puts it back.

A status is read from the modules, not from a ledger: ``applied`` means the
fix is bound where upstream defines the target and no module global still
reaches upstream's object; otherwise the status says where it does.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from langgraph_fixed import _bindings, _hooks
from langgraph_fixed._status import (
    FixNotApplied,
    FixState,
    LangGraphFixedWarning,
    PatchStatus,
    StatusReport,
)
from langgraph_fixed.fixes._base import CacheSize, Fix, NotNeeded, Unrecognised, Versions, replaced

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
    """The installed version of ``dist`` (None if absent), read from its metadata's
    ``Version`` header: ``importlib.metadata.version`` (and ``email``'s header
    parser) go through the whole file, long description included, which costs
    more than judging every fix (1.8 ms for pydantic's)."""
    import importlib.metadata
    import re

    try:
        text = importlib.metadata.distribution(dist).read_text("METADATA") or ""
    except importlib.metadata.PackageNotFoundError:
        return None
    headers = text.partition("\n\n")[0]
    found = re.search(r"^Version:[ \t]*(\S+)[ \t]*$", headers, re.MULTILINE)
    return found.group(1) if found else importlib.metadata.version(dist)


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


def _kind(obj: Any) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


class _Active:
    """A fix bound by this patcher: what it replaced, with what, and how it stood."""

    __slots__ = ("baseline", "fix", "original", "replacement", "status")

    def __init__(self, fix: Fix[Any], original: Any, replacement: Any, status: PatchStatus):
        self.fix = fix
        self.original = original
        self.replacement = replacement
        self.status = status
        #: references to the original once every binding was the fix's: as long as the
        #: count stays there, nothing new can reach it (see _verify)
        self.baseline: int | None = None


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
        #: who wants the fixes: apply() until revert(), and each open patched() block
        self._applied = False
        self._blocks = 0

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
        bound = getattr(module, fix.attribute)
        ours = next((link for link in _bindings.chain(bound) if replaced(link) is not None), None)
        if ours is not None:  # a fix left bound (a revert undone by a monkeypatch, say)
            original = replaced(ours)
            beneath = "" if ours is bound else f", beneath a {_kind(bound)}"
            reason = f"{fix.summary}; adopted: the fix was already bound{beneath}"
            return make(FixState.APPLIED, reason), original, ours, _bindings.references(original)
        if not _bindings.plain(bound):
            reason = (
                f"{fix.target} is a {_kind(bound)} (another patcher's wrapper), not upstream's "
                "code: the fix does not replace it, nor what it wraps. Apply langgraph-fixed "
                "before that patcher wraps the target: it then wraps the fix"
            )
            return make(FixState.SKIPPED, reason), None, None, None
        original = bound
        del bound
        references = _bindings.references(original)  # before anything of ours holds it
        untested = _outside(fix.tested, versions)
        try:
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
            active = self._active.get(fix.name)
            if active is not None:
                self._repair(active)
                continue
            judged = self._judge(fix)
            status = judged[0]
            self._last[fix.name] = status
            self._waiting.pop(fix.name, None)
            if status.state is FixState.WAITING:
                self._waiting[fix.name] = fix.module
            elif status.state is FixState.APPLIED:
                to_bind.append((fix, *judged))
        rebound = _bindings.rebind(  # one pass for all
            {id(o): (o, r) for _, _, o, r, _ in to_bind},
            {id(o): (f.attribute, n) for f, _, o, _, n in to_bind},
        )
        for fix, status, original, replacement, _ in to_bind:
            try:
                fix.after_apply(original)
            except Exception as exc:
                _bindings.rebind({id(replacement): (replacement, original)})
                reason = f"emptying upstream's cache raised {exc!r}"
                self._last[fix.name] = status._replace(state=FixState.FAILED, reason=reason)
                continue
            status = status._replace(rebound=tuple(rebound[id(original)]))
            self._active[fix.name] = _Active(fix, original, replacement, status)
            self._last[fix.name] = status
        return set(self._waiting.values())

    def _measure(self) -> None:
        """Count the references to each new original, now that every binding is the fix's
        and nothing else of ours holds it (the lock held)."""
        for active in self._active.values():
            if active.baseline is None:
                original = active.original
                active.baseline = _bindings.references(original)

    def _verify(self, active: _Active) -> PatchStatus:
        """The fix's status as the modules show it now (the lock held)."""
        fix, status = active.fix, active.status
        module = sys.modules.get(fix.module)
        bound = getattr(module, fix.attribute, None)
        if not any(link is active.replacement for link in _bindings.chain(bound)):
            reason = f"{fix.target} is a {_kind(bound)} now, not the fix"
            return status._replace(state=FixState.PARTIAL, reason=reason, leaks=(fix.target,))
        original = active.original
        count = _bindings.references(original)
        if count is not None and count == active.baseline:
            return status  # nothing new holds upstream's object
        leaks = tuple(_bindings.reaching(original, fix.attribute))
        if not leaks:
            return status
        reason = f"still bound to upstream's cached code: {', '.join(leaks)}"
        return status._replace(state=FixState.PARTIAL, reason=reason, leaks=leaks)

    def _repair(self, active: _Active) -> None:
        """Rebind what reaches upstream's object again to the fix (an applied fix
        that something undid), where it can (the lock held)."""
        if self._verify(active).state is FixState.APPLIED:
            return
        original, replacement = active.original, active.replacement
        _bindings.rebind({id(original): (original, replacement)})
        module = sys.modules.get(active.fix.module)
        if module is not None and getattr(module, active.fix.attribute, None) is original:
            setattr(module, active.fix.attribute, replacement)
        active.baseline = None  # measured again by _apply

    def _on_import(self, module: ModuleType) -> None:
        """A module some fixes wait for was imported: apply them."""
        with self._lock:
            names = {n for n, m in self._waiting.items() if m == module.__name__}
            self._apply(f for f in self.fixes if f.name in names)
            self._measure()
            problems = [s for s in self._statuses() if s.fix in names and s.problem]
        _warn(problems, stacklevel=3)

    def _revert(self) -> None:
        """Put the originals back everywhere and stop waiting (the lock held): those this
        patcher bound, and any fix of ours still bound where a target is defined."""
        pairs = {id(a.replacement): (a.replacement, a.original) for a in self._active.values()}
        for fix in self.fixes:
            module = sys.modules.get(fix.module)
            for link in _bindings.chain(getattr(module, fix.attribute, None)):
                original = replaced(link)
                if original is not None:
                    pairs[id(link)] = (link, original)
        _bindings.rebind(pairs)
        for module_name in set(self._waiting.values()):
            _hooks.cancel(module_name, self._on_import)
        reverted = set(self._active) | set(self._waiting)
        self._active.clear()
        self._waiting.clear()
        for name in reverted:
            last = self._last[name]
            self._last[name] = PatchStatus(
                name, FixState.INACTIVE, "reverted", last.target, last.versions
            )

    def _statuses(self) -> StatusReport:
        statuses = []
        for fix in self.fixes:
            active = self._active.get(fix.name)
            last = self._last.get(fix.name)
            if active is not None:
                statuses.append(self._verify(active))
                continue
            if last is None:
                last = PatchStatus(fix.name, FixState.INACTIVE, "apply() not called", fix.target)
            if last.state is FixState.INACTIVE and self._stray(fix):
                reason = f"{last.reason}; {fix.target} still holds a fix of ours, which "
                reason += "nothing here recorded (apply() adopts it, revert() undoes it)"
                last = last._replace(reason=reason)
            statuses.append(last)
        return StatusReport(statuses)

    @staticmethod
    def _stray(fix: Fix[Any]) -> bool:
        """Whether a fix of ours is bound at ``fix``'s target (left by a revert undone)."""
        bound = getattr(sys.modules.get(fix.module), fix.attribute, None)
        return any(replaced(link) is not None for link in _bindings.chain(bound))

    def _apply_all(self, strict: bool) -> StatusReport:
        with self._lock:
            watch = self._apply(self.fixes)
            self._measure()
        for module in watch:
            _hooks.when_imported(module, self._on_import)
        with self._lock:
            report = self._statuses()
        _warn(report.problems, stacklevel=4)
        if strict and not report.ok:
            raise FixNotApplied(report)
        return report

    # --- the public API ----------------------------------------------------------

    def apply(self, *, strict: bool = False) -> StatusReport:
        """Apply every fix this install needs; idempotent and thread-safe.

        A fix whose module is not imported yet is left ``waiting`` and applied
        right after that module's first import: ``apply()`` imports nothing.
        A fix that cannot be applied (an unknown release, unrecognised code,
        another patcher's wrapper on the target) is skipped with a
        :class:`LangGraphFixedWarning` and the library keeps working, unpatched.
        An applied fix that something undid (a module bound to upstream's code
        again) is bound again. With ``strict``, :class:`FixNotApplied` is raised
        when a fix is skipped, failed or partial, after the others are applied;
        a waiting fix is judged when its module is imported, and then only
        warns. The fixes stay applied until :meth:`revert`, whatever
        :meth:`patched` blocks open and close meanwhile.
        """
        with self._lock:
            self._applied = True
        return self._apply_all(strict)

    def revert(self) -> StatusReport:
        """Restore the exact original objects everywhere the fixes were bound.

        Undoes :meth:`apply` and every open :meth:`patched` block at once (their
        exits then do nothing more).
        """
        with self._lock:
            self._applied = False
            self._blocks = 0
            self._revert()
            return self._statuses()

    def status(self) -> StatusReport:
        """The state of every fix, read from the loaded modules now.

        ``applied`` only while the fix is bound where upstream defines the
        target and no module global reaches upstream's object (under any
        name, or under the target's name through a wrapper); ``partial``
        otherwise, naming where it does (``PatchStatus.leaks``).
        """
        with self._lock:
            return self._statuses()

    @contextmanager
    def patched(self, *, strict: bool = False) -> Iterator[StatusReport]:
        """Apply the fixes for the duration of a block.

        The blocks are counted, across threads and tasks: the fixes are reverted
        when the last open block exits, unless :meth:`apply` was called (its fixes
        stay until :meth:`revert`). A block whose ``strict`` apply raises counts
        as closed: nothing is left applied on its behalf.
        """
        with self._lock:
            self._blocks += 1
        try:
            yield self._apply_all(strict)
        finally:
            with self._lock:
                if self._blocks > 0:
                    self._blocks -= 1
                    if self._blocks == 0 and not self._applied:
                        self._revert()

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
