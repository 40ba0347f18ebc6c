"""Drop-in imports: ``langgraph_fixed.<name>`` is ``langgraph.<name>`` with the fixes applied.

Each top-level langgraph module has a file here (``langgraph_fixed/graph/``,
``langgraph_fixed/types.py``, ...) that calls :func:`mirror`: it checks that
the langgraph module exists (before anything is applied), applies the fixes,
then fills the mirror with the very objects of the langgraph module
(``langgraph_fixed.graph.StateGraph is langgraph.graph.StateGraph``) and
forwards any other attribute to it.

Deeper names (``langgraph_fixed.graph.message``) are made on import by
:class:`MirrorFinder`, put on ``sys.meta_path`` by the first mirror imported.
It answers only below a mirror, and only where ``langgraph.<rest>`` exists:
``langgraph_fixed.graph.nope`` and a typo such as ``langgraph_fixed.leak``
fail with the usual ``ModuleNotFoundError`` naming themselves, and nothing is
applied.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

PREFIX = "langgraph_fixed."
#: Set on every mirror module: the finder answers below these only.
MARK = "__langgraph_fixed_mirror__"
_lock = threading.Lock()


def target_name(name: str) -> str:
    """``langgraph_fixed.graph.message`` -> ``langgraph.graph.message``."""
    return "langgraph." + name[len(PREFIX) :]


def _spec(name: str) -> importlib.machinery.ModuleSpec | None:
    try:
        return importlib.util.find_spec(name)
    except ImportError:  # a parent that is not a package, or fails to import
        return None


def _activate() -> None:
    """Apply the fixes unless they were applied already: what any mirror does first.

    Importing many mirrors costs one ``apply()``; a fix that was skipped is
    not retried (nor warned about) at every mirror.
    """
    from langgraph_fixed._engine import apply, status
    from langgraph_fixed._status import FixState

    if any(s.state is FixState.INACTIVE for s in status()):
        apply()


def mirror(name: str) -> ModuleType:
    """Make the module called ``name`` a mirror of its langgraph module; return the latter."""
    target = target_name(name)
    if _spec(target) is None:
        raise ModuleNotFoundError(
            f"No module named {name!r} (the installed langgraph has no {target})", name=name
        )
    install_finder()
    _activate()
    upstream = importlib.import_module(target)
    module = sys.modules[name]
    namespace = vars(module)
    for key, value in vars(upstream).items():
        if key.startswith("__") and key not in ("__all__", "__doc__"):
            continue
        namespace.setdefault(key, value)

    def __getattr__(attribute: str) -> Any:  # PEP 562: whatever was not copied
        if attribute.startswith("__"):  # __path__, __file__, ...: the mirror's own, or none
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        return getattr(upstream, attribute)

    namespace["__getattr__"] = __getattr__
    namespace[MARK] = True
    if hasattr(upstream, "__path__") and "__path__" not in namespace:
        module.__path__ = []  # a package: its submodules resolve through MirrorFinder
    return upstream


class _MirrorLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        mirror(module.__name__)


class MirrorFinder(importlib.abc.MetaPathFinder):
    """Answers for ``langgraph_fixed.<mirror>.<rest>`` where ``langgraph.<mirror>.<rest>``
    exists, and for nothing else."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(PREFIX):
            return None
        parent = sys.modules.get(fullname.rpartition(".")[0])
        if not getattr(parent, MARK, False):
            return None
        upstream = _spec(target_name(fullname))
        if upstream is None:
            return None
        is_package = upstream.submodule_search_locations is not None
        return importlib.machinery.ModuleSpec(fullname, _MirrorLoader(), is_package=is_package)


def install_finder() -> None:
    """Put :class:`MirrorFinder` last on ``sys.meta_path`` (once)."""
    with _lock:
        if not any(isinstance(f, MirrorFinder) for f in sys.meta_path):
            sys.meta_path.append(MirrorFinder())
