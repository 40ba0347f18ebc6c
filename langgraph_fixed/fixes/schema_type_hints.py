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

from collections.abc import Callable
from typing import Any

from langgraph_fixed.fixes._base import Fix, Versions
from langgraph_fixed.fixes._memo import class_stored_cache

#: Fingerprint of the uncached body (``return get_type_hints(schema,
#: include_extras=True)``): the same in langchain 1.2.16 - 1.5.2.
KNOWN_FINGERPRINTS = {"04b5b5720f6ae187": None}

MEMO_ATTRIBUTE = "__langgraph_fixed_type_hints__"


class SchemaTypeHintsCacheFix(Fix[None]):
    name = "agent_schema_type_hints"
    summary = "create_agent state-schema hints stored in their class, not pinned"
    module = "langchain.agents.factory"
    attribute = "_get_schema_type_hints"
    applies_to = Versions("langchain", since="1.2.16")
    tested = Versions("langchain", since="1.5.2", through="1.5.2")
    lru = True
    fingerprints = KNOWN_FINGERPRINTS
    callers = ("_resolve_schemas",)

    def build(self, original: Any, recognised: None) -> Callable[..., Any]:
        return class_stored_cache(original, MEMO_ATTRIBUTE)
