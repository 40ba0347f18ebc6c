"""langsmith's serializer cache (the traced objects' pydantic classes, with tracing on).

The leak
    With LangSmith tracing on, every run's inputs and outputs are serialized by
    ``langsmith._internal._serde._serialize_json``, which asks
    ``_pydantic_json_dump(obj)``. That function keeps, per class of object
    serialized, the class's pydantic core serializer (or None) in a module-level
    ``dict`` keyed on the class, emptied only when it reaches 1,024 entries. A
    class made per request (a ``create_model`` answer, a per-tenant schema, a
    structured-output model built for the request) stays alive, with its
    validator, its serializer and everything the class reaches, for the next
    1,023 classes: measured 300 of 300 payloads kept after 300 traced requests,
    whether the endpoint accepts the uploads or refuses them. langsmith is a
    dependency of langchain-core, so every LangChain install has this cache;
    langsmith 0.11.0 - 0.15.1 (at least).

The fix
    The entry is stored in the class itself (see
    :mod:`langgraph_fixed.fixes._memo`): it goes with the class, and a
    serializer that references its class keeps nothing alive. The body is
    upstream's, statement by statement (the fingerprint pins it): the same
    serializer, the same fallback (``None``, remembered when the fast path
    raises), the same sentinel returned to ``_serialize_json``. A class that
    takes no attributes (a static C type, which lives as long as the process
    anyway) is remembered in upstream's own bounded dict, as before.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from langgraph_fixed.fixes._base import Fix, Unrecognised, Versions
from langgraph_fixed.fixes._memo import MISSING, ClassMemo
from langgraph_fixed.weakcache import CacheInfo

#: ``_pydantic_json_dump`` is the same in every release that has the cache:
#: langsmith 0.11.0 - 0.15.1 (read from each one's wheel).
KNOWN_FINGERPRINTS = {"49114120bb2bb378": None}

#: The attribute each class keeps its serializer (or None) under.
MEMO_ATTRIBUTE = "__langgraph_fixed_langsmith_serializer__"


class FixedPydanticJsonDump:
    """Drop-in for ``_pydantic_json_dump``: each class's serializer kept in the class."""

    def __init__(self, original: Callable[[Any], Any], module: ModuleType) -> None:
        self.__langgraph_fixed__ = original  # what it replaced (see fixes._base.MARK)
        self.__wrapped__ = original
        self._missing = module._MISSING  # what _serialize_json compares the result with
        self._base_model: type = module.BaseModel
        self._remember_upstream: Callable[[type, Any], None] = module._remember_pydantic_serializer
        self._memo: ClassMemo[Any] = ClassMemo(MEMO_ATTRIBUTE)
        self.__name__ = "_pydantic_json_dump"
        self.__qualname__ = "_pydantic_json_dump"
        self.__module__ = original.__module__
        self.__doc__ = original.__doc__

    def _remember(self, cls: type, serializer: Any) -> None:
        if not self._memo.put(cls, serializer):
            self._remember_upstream(cls, serializer)  # a class that takes no attribute

    def __call__(self, obj: Any) -> Any:
        cls = type(obj)
        serializer = self._memo.get(cls)
        if serializer is MISSING:
            self._memo.misses += 1
            serializer = None
            base = self._base_model
            if isinstance(obj, base) and cls.model_dump is base.model_dump:  # type: ignore[attr-defined]
                serializer = getattr(cls, "__pydantic_serializer__", None)
            self._remember(cls, serializer)
        else:
            self._memo.hits += 1
        if serializer is None:
            return self._missing
        try:
            return serializer.to_python(obj, mode="json", exclude_none=True, warnings=False)
        except Exception:
            self._remember(cls, None)
            return self._missing

    def cache_info(self) -> CacheInfo:
        """Hits, misses, and the number of live classes holding an entry."""
        return self._memo.cache_info()

    def cache_clear(self) -> None:
        self._memo.cache_clear()

    def __repr__(self) -> str:
        return "<langgraph_fixed _pydantic_json_dump (serializers stored in each class)>"


class LangsmithSerializerCacheFix(Fix[None]):
    name = "langsmith_serializers"
    summary = "traced objects' pydantic serializers stored in their class, not pinned"
    module = "langsmith._internal._serde"
    attribute = "_pydantic_json_dump"
    applies_to = Versions("langsmith", since="0.11.0")
    tested = Versions("langsmith", since="0.15.1", through="0.15.1")
    fingerprints = KNOWN_FINGERPRINTS
    callers = ("_serialize_json",)
    #: the bounded dict keyed on classes that ``_pydantic_json_dump`` fills
    caches = ("_pydantic_core_serializers",)

    def check(self, original: Any, module: ModuleType, variant: None) -> None:
        for name in ("_MISSING", "BaseModel", "_remember_pydantic_serializer"):
            if not hasattr(module, name):
                raise Unrecognised(f"{self.module}.{name} is missing")
        if not isinstance(getattr(module, "_pydantic_core_serializers", None), dict):
            raise Unrecognised("no module-level _pydantic_core_serializers dict")

    def build(self, original: Any, recognised: None) -> FixedPydanticJsonDump:
        return FixedPydanticJsonDump(original, sys.modules[self.module])
