"""The registry of fixes: one module per leak site, each defining its :class:`Fix`.

Each module's docstring tells that leak's whole story ("The leak / The fix").
Importing the registry imports nothing from LangChain, LangGraph or pydantic.
"""

from __future__ import annotations

from typing import Any

from langgraph_fixed.fixes._base import Fix
from langgraph_fixed.fixes.json_schema import ModelJsonSchemaCacheFix
from langgraph_fixed.fixes.langsmith_serializers import LangsmithSerializerCacheFix
from langgraph_fixed.fixes.model_factories import model_factory_fixes
from langgraph_fixed.fixes.nonlocals import NonlocalsCacheFix
from langgraph_fixed.fixes.schema_adapter import SchemaAdapterCacheFix
from langgraph_fixed.fixes.schema_coercion import SchemaCoercionMapperFix
from langgraph_fixed.fixes.schema_type_hints import SchemaTypeHintsCacheFix

FIXES: tuple[Fix[Any], ...] = (
    NonlocalsCacheFix(),
    ModelJsonSchemaCacheFix(),
    *model_factory_fixes(),
    SchemaCoercionMapperFix(),
    SchemaAdapterCacheFix(),
    SchemaTypeHintsCacheFix(),
    LangsmithSerializerCacheFix(),
)

__all__ = ["FIXES", "Fix"]
