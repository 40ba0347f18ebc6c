"""The registry of fixes: one module per leak site, each defining one :class:`Fix`."""

from __future__ import annotations

from langgraph_fixed._core import Fix
from langgraph_fixed.fixes.nonlocals import NonlocalsCacheFix

FIXES: tuple[Fix, ...] = (NonlocalsCacheFix(),)

__all__ = ["FIXES"]
