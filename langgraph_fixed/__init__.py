"""Fixes for reference leaks in LangGraph and langchain-core caches.

Call :func:`apply` once at start-up::

    import langgraph_fixed
    langgraph_fixed.apply()

or use :func:`patched` as a context manager. :func:`status` reports each fix as
applied, not needed, skipped or failed, with the reason and the versions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph_fixed._core import (
    FixNotApplied,
    FixState,
    LangGraphFixedWarning,
    PatchStatus,
    StatusReport,
    apply,
    get_original,
    installed_versions,
    patched,
    revert,
    status,
)
from langgraph_fixed._mirror import install_finder

__version__ = "0.1.0"

# Lets `import langgraph_fixed.<any langgraph module>` work; patches nothing by itself.
install_finder()

if TYPE_CHECKING:
    from langgraph_fixed.leaks import Monitor, explain, track

#: Leak diagnostics, imported on first use (``langgraph_fixed.leaks``).
_LAZY = frozenset({"Monitor", "explain", "track"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from langgraph_fixed import leaks

        return getattr(leaks, name)
    raise AttributeError(f"module 'langgraph_fixed' has no attribute {name!r}")


__all__ = [
    "FixNotApplied",
    "FixState",
    "LangGraphFixedWarning",
    "Monitor",
    "PatchStatus",
    "StatusReport",
    "__version__",
    "apply",
    "explain",
    "get_original",
    "installed_versions",
    "patched",
    "revert",
    "status",
    "track",
]
