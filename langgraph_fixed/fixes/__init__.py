"""The registry of fixes: one module per leak site, each defining one :class:`Fix`."""

from __future__ import annotations

from langgraph_fixed._core import Fix
from langgraph_fixed.fixes.json_schema import ModelJsonSchemaCacheFix
from langgraph_fixed.fixes.nonlocals import NonlocalsCacheFix
from langgraph_fixed.fixes.pydantic_models import model_factory_fixes
from langgraph_fixed.fixes.schema_adapter import SchemaAdapterCacheFix
from langgraph_fixed.fixes.schema_coercion import SchemaCoercionMapperFix
from langgraph_fixed.fixes.schema_type_hints import SchemaTypeHintsCacheFix

FIXES: tuple[Fix, ...] = (
    NonlocalsCacheFix(),
    ModelJsonSchemaCacheFix(),
    *model_factory_fixes(),
    SchemaCoercionMapperFix(),
    SchemaAdapterCacheFix(),
    SchemaTypeHintsCacheFix(),
)

__all__ = ["FIXES"]
