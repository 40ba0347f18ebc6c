"""langchain's ``_get_schema_type_hints`` cache (``create_agent`` state schemas).

The leak
    ``langchain.agents.factory._get_schema_type_hints(schema)`` is wrapped in
    ``functools.lru_cache(maxsize=100)``. ``create_agent`` calls it for every
    state schema it merges: its ``state_schema=`` argument and each
    middleware's ``state_schema``. A schema class made per request (a
    ``TypedDict`` extending ``AgentState`` with a field for the request, a
    middleware built per tenant) stays alive, with what it reaches (reducers
    in ``Annotated`` metadata and what they close over), for the next 100
    schemas. langchain 1.2.16 - 1.5.x.

The fix
    The type hints are stored in the schema class itself (see
    :mod:`langgraph_fixed.fixes._memo`), so the entry goes with the class.
    A weak-key cache would not do: the hints of a recursive schema contain the
    schema itself, and would keep it alive for ever. The value is upstream's
    uncached ``get_type_hints(schema, include_extras=True)``; a key that is not
    a class goes to upstream's own cache.
"""

from __future__ import annotations

import sys
from typing import Any

from langgraph_fixed._core import Fix
from langgraph_fixed.fixes._lru import cached_function_not_needed, unknown_fingerprint
from langgraph_fixed.fixes._memo import ClassStoredCache

#: Fingerprint of the uncached body (``return get_type_hints(schema,
#: include_extras=True)``): the same in langchain 1.2.16 - 1.5.0.
KNOWN_FINGERPRINTS = frozenset({"04b5b5720f6ae187"})

MEMO_ATTRIBUTE = "__langgraph_fixed_type_hints__"


class FixedSchemaTypeHints(ClassStoredCache):
    """Drop-in for ``_get_schema_type_hints`` that stores each result in its class."""

    def __init__(self, original: Any) -> None:
        super().__init__(original, MEMO_ATTRIBUTE)


class SchemaTypeHintsCacheFix(Fix):
    name = "agent_schema_type_hints"
    summary = "create_agent state-schema hints stored in their class, not pinned"
    module = "langchain.agents.factory"
    attribute = "_get_schema_type_hints"
    applies_to = ("langchain>=1.2.16",)
    tested = ("langchain>=1.5.0,<=1.5.0",)

    def needed(self, original: Any) -> str | None:
        return cached_function_not_needed(original, FixedSchemaTypeHints, "_get_schema_type_hints")

    def recognise(self, original: Any) -> str | None:
        unknown, _ = unknown_fingerprint(original, KNOWN_FINGERPRINTS)
        if unknown is not None:
            return unknown
        caller = getattr(sys.modules[self.module], "_resolve_schemas", None)
        code = getattr(caller, "__code__", None)
        if code is None or self.attribute not in code.co_names:
            return "_resolve_schemas no longer calls it through the module global"
        return None

    def build(self, original: Any) -> FixedSchemaTypeHints:
        return FixedSchemaTypeHints(original)

    def after_apply(self, original: Any) -> None:
        original.cache_clear()
