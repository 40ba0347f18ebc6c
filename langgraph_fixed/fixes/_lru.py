"""Checks shared by the fixes that replace an ``lru_cache``-wrapped upstream function."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from langgraph_fixed.fixes.nonlocals import source_fingerprint


def cached_function_not_needed(original: Any, replacement: type, name: str) -> str | None:
    """Why ``original`` needs no fix (ours already, or not an lru cache), or None."""
    if isinstance(original, replacement):
        return "already replaced by langgraph-fixed"
    if not (hasattr(original, "cache_clear") and callable(getattr(original, "__wrapped__", None))):
        return f"upstream's {name} is not cached in this version"
    return None


def unknown_fingerprint(original: Any, known: Container[str]) -> tuple[str | None, str]:
    """(why the uncached body is not known, or None; its fingerprint, or '')."""
    try:
        fingerprint = source_fingerprint(original.__wrapped__)
    except Exception as exc:
        return f"its source cannot be read ({exc!r})", ""
    if fingerprint not in known:
        return f"unknown source fingerprint {fingerprint}", fingerprint
    return None, fingerprint
