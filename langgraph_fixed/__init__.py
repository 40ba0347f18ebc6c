"""Fixes for reference leaks in LangGraph and langchain-core caches.

Call :func:`apply` once at start-up::

    import langgraph_fixed
    langgraph_fixed.apply()

or use :func:`patched` as a context manager. :func:`status` reports each fix as
applied, waiting (for its module's import), not needed, skipped or failed,
with the reason and the versions.

Importing this package patches nothing and imports nothing from LangChain; the
names below are loaded on first use, so that the start-up hook (``.pth``) and
the pytest plugin stay cheap in processes that never use them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from langgraph_fixed._status import (
    FixNotApplied,
    FixState,
    LangGraphFixedWarning,
    PatchStatus,
    StatusReport,
)

__version__ = "0.2.0.dev0"

if TYPE_CHECKING:
    from langgraph_fixed._engine import (
        Patcher,
        apply,
        get_original,
        installed_versions,
        patched,
        revert,
        status,
    )
    from langgraph_fixed.diagnostics.leaks import Monitor, explain, track

_ENGINE = "langgraph_fixed._engine"
_LEAKS = "langgraph_fixed.diagnostics.leaks"
#: name -> the module it is loaded from on first use
_LAZY = {
    **dict.fromkeys(
        ("apply", "revert", "status", "patched", "get_original", "installed_versions", "Patcher"),
        _ENGINE,
    ),
    **dict.fromkeys(("Monitor", "explain", "track"), _LEAKS),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'langgraph_fixed' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # the next lookup is a plain global
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "FixNotApplied",
    "FixState",
    "LangGraphFixedWarning",
    "Monitor",
    "PatchStatus",
    "Patcher",
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
