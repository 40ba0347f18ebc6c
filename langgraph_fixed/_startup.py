"""Zero-code activation: apply the fixes in every Python process that asks for it.

The wheel installs ``langgraph_fixed_startup.pth`` into site-packages. Python
runs its single line at every interpreter start-up; the line does nothing
unless the environment variable ``LANGGRAPH_FIXED`` is set to ``1`` (or
``true``/``yes``/``on``). ``langgraph-fixed run -- <command>`` sets it, and
child processes (subprocess, multiprocessing spawn and forkserver, uvicorn and
gunicorn workers) inherit it, so each of them is fixed too.

Start-up stays cheap: this module imports only the post-import hooks. When
the first of LangChain's, LangGraph's or LangSmith's packages is imported, ``apply()`` runs
(in the hook, right after that package's own ``__init__``); it applies the
fixes whose modules are loaded and leaves the others waiting for their
modules' imports, so that each fix is in place before anything can use it.
"""

from __future__ import annotations

import os
import sys
import warnings
from types import ModuleType

from langgraph_fixed import _hooks

ENV_VAR = "LANGGRAPH_FIXED"
#: Every fix's module lives in one of these packages (a test checks the registry).
PACKAGES = ("langchain_core", "langgraph", "langchain", "langsmith")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_told = False


def requested(environ: dict[str, str] | None = None) -> bool:
    """Whether the environment asks for the fixes."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "")
    return value.strip().lower() in _TRUE


def from_environment() -> None:
    """What the start-up line runs: install the hook if ``LANGGRAPH_FIXED`` asks for
    it; say so on standard error (once) if its value means neither yes nor no."""
    global _told
    value = os.environ.get(ENV_VAR, "")
    if value.strip().lower() in _TRUE:
        install()
    elif value.strip().lower() not in _FALSE and not _told:
        _told = True
        sys.stderr.write(
            f"langgraph-fixed: {ENV_VAR}={value!r} is not understood, nothing is applied: "
            "1, true, yes or on apply the fixes; 0, false, no, off or empty do not\n"
        )


def _apply(package: ModuleType) -> None:
    try:
        from langgraph_fixed._engine import apply

        apply()
    except Exception as exc:  # never take the host process down at start-up
        warnings.warn(f"langgraph-fixed could not apply its fixes: {exc!r}", stacklevel=2)


def install() -> None:
    """Apply the fixes when LangChain or LangGraph is first imported (now, if it is)."""
    try:
        for package in PACKAGES:
            _hooks.when_imported(package, _apply)
    except Exception as exc:
        warnings.warn(f"langgraph-fixed could not install its hook: {exc!r}", stacklevel=2)
