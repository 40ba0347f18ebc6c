"""Drop-in imports: ``langgraph_fixed.<name>`` is ``langgraph.<name>`` with the fixes applied.

Importing a mirror applies the fixes first, then fills the mirror with the very
objects of the langgraph module (``langgraph_fixed.graph.StateGraph is
langgraph.graph.StateGraph``) and forwards any other attribute to it.

The most used modules have real files in this package (so type checkers see
their names); every other ``langgraph_fixed.<a>.<b>`` is made on import by
:class:`MirrorFinder`, which sits last on ``sys.meta_path`` and so only answers
for names nothing else found. A name langgraph does not have fails with the
usual ``ModuleNotFoundError`` naming the langgraph module.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

PREFIX = "langgraph_fixed."
_lock = threading.Lock()


def target_name(name: str) -> str:
    """``langgraph_fixed.graph.message`` -> ``langgraph.graph.message``."""
    return "langgraph." + name[len(PREFIX) :]


def activate() -> None:
    """Apply the fixes unless every one was already judged: what any mirror does first.

    Cheap when the fixes are in place, so importing many mirrors costs one
    ``apply()``; a fix that was skipped is not retried (nor warned about) again.
    """
    from langgraph_fixed._core import FixState, apply, status

    if any(s.state is FixState.INACTIVE for s in status()):
        apply()


def mirror(name: str) -> ModuleType:
    """Make the module called ``name`` a mirror of its langgraph module; return the latter."""
    activate()
    target = importlib.import_module(target_name(name))
    module = sys.modules[name]
    namespace = vars(module)
    for key, value in vars(target).items():
        if key.startswith("__") and key not in ("__all__", "__doc__"):
            continue
        namespace.setdefault(key, value)

    def __getattr__(attribute: str) -> Any:  # PEP 562: whatever was not copied
        return getattr(target, attribute)

    namespace["__getattr__"] = __getattr__
    if hasattr(target, "__path__") and not hasattr(module, "__path__"):
        module.__path__ = []  # a package: its submodules resolve through MirrorFinder
    return target


class _MirrorLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        mirror(module.__name__)


class MirrorFinder(importlib.abc.MetaPathFinder):
    """Answers for ``langgraph_fixed.<anything>`` that no file of this package provides."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(PREFIX):
            return None
        # Every langgraph name may be a package; a mirror of a plain module gets
        # an empty __path__, so importing below it still fails naming langgraph.
        return importlib.machinery.ModuleSpec(fullname, _MirrorLoader(), is_package=True)


def install_finder() -> None:
    """Put :class:`MirrorFinder` last on ``sys.meta_path`` (once)."""
    with _lock:
        if not any(isinstance(f, MirrorFinder) for f in sys.meta_path):
            sys.meta_path.append(MirrorFinder())
