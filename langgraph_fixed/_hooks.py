"""Post-import hooks: run a callback right after a module is first imported.

The model is wrapt's ``when_imported``: a registry of callbacks per module
name, and one finder, first on ``sys.meta_path``, that answers only for
registered names. It asks the finders after it for the real spec, wraps the
real loader so that the callbacks run right after the module's code has run
(inside the import, so no other thread can see the module unfixed), and puts
the real loader back on the module. A per-thread guard keeps a finder that
calls ``importlib.util.find_spec`` from coming back to us; no thread ever
takes the finder off ``sys.meta_path``, so two threads importing at once are
both served.

Used by the engine (a fix whose module is not imported yet is applied when it
is) and by the start-up path (``LANGGRAPH_FIXED=1`` / ``langgraph-fixed run``).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from langgraph_fixed._status import LangGraphFixedWarning

__all__ = ["cancel", "pending", "when_imported"]

Callback = Callable[[ModuleType], object]

_lock = threading.Lock()
_callbacks: dict[str, list[Callback]] = {}
_finding = threading.local()


def when_imported(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once module ``name`` is imported: now, if it is already.

    Registering the same callback for the same name again does nothing. An
    exception from a callback is turned into a :class:`LangGraphFixedWarning`:
    it never breaks the import.
    """
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            callbacks = _callbacks.setdefault(name, [])
            if callback not in callbacks:
                callbacks.append(callback)
            if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
                sys.meta_path.insert(0, _Finder())
            return
    _run(name, module, [callback])


def cancel(name: str, callback: Callback) -> None:
    """Forget ``callback`` for ``name`` if it has not run yet."""
    with _lock:
        callbacks = _callbacks.get(name, [])
        if callback in callbacks:
            callbacks.remove(callback)
        if not callbacks:
            _callbacks.pop(name, None)


def pending() -> dict[str, int]:
    """Module name -> how many callbacks wait for its import."""
    with _lock:
        return {name: len(callbacks) for name, callbacks in _callbacks.items()}


def _run(name: str, module: ModuleType, callbacks: list[Callback]) -> None:
    for callback in callbacks:
        try:
            callback(module)
        except Exception as exc:  # never break the application's import
            warnings.warn(
                f"langgraph-fixed: a hook run after importing {name} raised {exc!r}",
                LangGraphFixedWarning,
                stacklevel=2,
            )


def _imported(name: str, module: ModuleType) -> None:
    with _lock:
        callbacks = _callbacks.pop(name, [])
    _run(name, sys.modules.get(name, module), callbacks)


class _Loader(importlib.abc.Loader):
    """The real loader, and the callbacks right after it has run the module."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        if self.loader is None:  # a namespace package on Python 3.10
            return None
        return self.loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        spec = module.__spec__
        if self.loader is not None:
            # the module (and tools that read __loader__) see the real loader
            module.__loader__ = self.loader
            if spec is not None:
                spec.loader = self.loader
            self.loader.exec_module(module)
        _imported(spec.name if spec is not None else module.__name__, module)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ...
        return getattr(self.loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Answers for registered module names only, with the spec the other finders give."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _callbacks:  # the common case: one dict lookup
            return None
        finding: set[str] = _finding.__dict__.setdefault("names", set())
        if fullname in finding:  # another finder asked the import system again
            return None
        finding.add(fullname)
        try:
            spec: importlib.machinery.ModuleSpec | None = None
            for finder in list(sys.meta_path):
                find = getattr(finder, "find_spec", None)
                if finder is self or find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        finally:
            finding.discard(fullname)
        if spec is None:
            return None
        if spec.loader is None and spec.submodule_search_locations is None:
            return spec  # nothing to load: the import fails as it would have
        if spec.loader is not None and not hasattr(spec.loader, "exec_module"):
            return spec  # a legacy loader: not hooked
        # (a loader of None is a namespace package on Python 3.10: nothing to run)
        spec.loader = _Loader(spec.loader)
        return spec
