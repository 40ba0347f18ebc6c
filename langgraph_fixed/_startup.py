"""Zero-code activation: apply the fixes in every Python process that asks for it.

The wheel installs ``langgraph_fixed_startup.pth`` into site-packages. Python
runs its single line at every interpreter start-up; the line does nothing
unless the environment variable ``LANGGRAPH_FIXED`` is set to ``1`` (or
``true``/``yes``/``on``). ``langgraph-fixed run -- <command>`` sets it, and
child processes (subprocess, multiprocessing spawn and forkserver, uvicorn and
gunicorn workers) inherit it, so each of them is fixed too.

Start-up stays cheap: nothing from LangChain is imported here. If
``langchain_core.runnables.utils`` is already loaded the fixes are applied at
once; otherwise an import hook applies them right after that module is first
imported, before anything can build a graph. Fixes whose target module is not
loaded yet then are applied right after that module is imported in turn (never
imported by us from inside another import).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

ENV_VAR = "LANGGRAPH_FIXED"
TRIGGER = "langchain_core.runnables.utils"
_TRUE = frozenset({"1", "true", "yes", "on"})


def requested(environ: dict[str, str] | None = None) -> bool:
    """Whether the environment asks for the fixes."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "")
    return value.strip().lower() in _TRUE


def _apply() -> None:
    """Apply the fixes whose targets are loaded; watch the imports of the others."""
    try:
        from langgraph_fixed import FixState, apply

        report = apply(loaded_only=True)
        waiting = {
            s.target.rsplit(".", 1)[0]
            for s in report
            if s.state is FixState.INACTIVE and s.reason.startswith("waiting for")
        }
        if waiting:
            _hook().watch(waiting)
    except Exception as exc:  # never take the host process down at start-up
        warnings.warn(f"langgraph-fixed could not apply its fixes: {exc!r}", stacklevel=2)


class _ApplyAfterExec(importlib.abc.Loader):
    """Wraps the real loader of the trigger module; applies the fixes after it ran."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _apply()

    def __getattr__(self, name: str) -> object:  # get_source, get_filename, ...
        return getattr(self._loader, name)


class ApplyOnImport(importlib.abc.MetaPathFinder):
    """Applies the fixes right after any watched module is first imported (once each)."""

    def __init__(self, names: set[str]) -> None:
        self._names = set(names)

    def watch(self, names: set[str]) -> None:
        self._names |= {n for n in names if n not in sys.modules}

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self._names:
            return None
        self._names.discard(fullname)
        if self in sys.meta_path:  # find the real spec without ourselves
            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(fullname)
            finally:
                sys.meta_path.insert(0, self)
        else:
            spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _ApplyAfterExec(spec.loader)
        return spec


def _hook() -> ApplyOnImport:
    """The installed hook (installing one if needed)."""
    for finder in sys.meta_path:
        if isinstance(finder, ApplyOnImport):
            return finder
    hook = ApplyOnImport(set())
    sys.meta_path.insert(0, hook)
    return hook


def install() -> None:
    """Apply now if LangChain is loaded, else as soon as it is; safe to call twice."""
    try:
        if TRIGGER in sys.modules:
            _apply()
        else:
            _hook().watch({TRIGGER})
    except Exception as exc:
        warnings.warn(f"langgraph-fixed could not install its hook: {exc!r}", stacklevel=2)
