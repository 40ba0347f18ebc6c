"""Fixes for reference leaks in LangGraph and langchain-core caches.

Call :func:`apply` once at start-up::

    import langgraph_fixed
    langgraph_fixed.apply()

or use :func:`patched` as a context manager. :func:`status` reports each fix as
applied, not needed, skipped or failed, with the reason and the versions.
"""

from __future__ import annotations

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

__all__ = [
    "FixNotApplied",
    "FixState",
    "LangGraphFixedWarning",
    "PatchStatus",
    "StatusReport",
    "__version__",
    "apply",
    "get_original",
    "installed_versions",
    "patched",
    "revert",
    "status",
]
