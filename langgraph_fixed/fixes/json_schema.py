"""langchain-core's ``_model_json_schema`` cache (tools' args-schema JSON schemas).

The leak
    ``langchain_core.tools.structured._model_json_schema(args_schema,
    _rebuild_token)`` is wrapped in ``functools.lru_cache(maxsize=256)``. It
    runs whenever a ``StructuredTool`` is dumped to JSON (``model_dump(mode=
    "json")``, LangSmith's serializer when a run's inputs hold tools). The key
    is the args-schema class and its pydantic validator, so the classes of the
    last 256 tools dumped stay alive, with everything they reach: a class
    written per request (its validators, its default factories and what they
    close over), or the class ``@tool`` generates for a closure made per
    request. langchain-core 1.6.1 - 1.8.4 (at least).

The fix
    The JSON schema is stored in the args-schema class itself, with the
    validator it was computed for (see :mod:`langgraph_fixed.fixes._memo`): the
    entry goes with the class. A weak-key cache could not do it: the validator
    references its class (so a value holding it keeps the key alive), and
    comparing validators by ``id()`` instead is wrong, since pydantic reuses the
    address of a replaced validator in 99 of 100 double ``model_rebuild()``
    calls. A rebuilt class (a new validator) is recomputed, as upstream does.
    The value is what upstream's uncached function returns; keys that are not
    classes go to upstream's own cache; a class that takes no attributes (a
    static C type) is not cached.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

from langgraph_fixed.fixes._base import Fix, Unrecognised, Versions
from langgraph_fixed.fixes._memo import class_stored_cache

#: Fingerprints (``source_fingerprint``) of the uncached body this fix expects:
#: identical in langchain-core 1.6.1, 1.6.13, 1.7.0, 1.8.0, 1.8.3 and 1.8.4.
KNOWN_FINGERPRINTS = {"7adcf935e472aa3e": None}

#: The attribute the entry is stored under in each args-schema class.
MEMO_ATTRIBUTE = "__langgraph_fixed_json_schema__"


class ModelJsonSchemaCacheFix(Fix[None]):
    name = "model_json_schema"
    summary = "tool args-schema JSON schemas stored in their class, not pinned"
    module = "langchain_core.tools.structured"
    attribute = "_model_json_schema"
    applies_to = Versions("langchain-core", since="1.6.1")
    tested = Versions("langchain-core", since="1.8.3", through="1.8.3")
    lru = True
    fingerprints = KNOWN_FINGERPRINTS
    callers = ("_serialize_args_schema",)

    def check(self, original: Any, module: ModuleType, variant: None) -> None:
        params = list(inspect.signature(original.__wrapped__).parameters)
        if params != ["args_schema", "_rebuild_token"]:
            raise Unrecognised(f"unexpected parameters {params}")

    def build(self, original: Any, recognised: None) -> Callable[..., Any]:
        return class_stored_cache(original, MEMO_ATTRIBUTE)
