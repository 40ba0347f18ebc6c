"""Every cache we know of, live: the fixes' caches and those known to be safe.

:data:`KNOWN_SAFE` lists the caches judged safe (by experiment or by reading),
with why; ``langgraph-fixed scan`` uses it to tell a known cache from a new
one, and the docs' census table is generated from it. :func:`live_cache_sizes`
reads how full every known cache is in this process, for the doctor or for a
service's monitoring; :func:`upstream_caches_cleared` empties upstream's
caches around a measurement.
"""

from __future__ import annotations

import fnmatch
import importlib
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langgraph_fixed import _engine
from langgraph_fixed.fixes._base import CacheSize

__all__ = [
    "KNOWN_SAFE",
    "import_targets",
    "known_safe",
    "known_safe_cache_sizes",
    "live_cache_sizes",
    "upstream_caches_cleared",
]

_SHARED_FUNCTIONS = (
    "stores only functions found under their qualified name in their module, never closures"
)

#: Caches judged safe by experiment or by reading (the docs' "checked and safe"
#: rows): ``module:qualname`` (``fnmatch`` patterns allowed) -> why.
KNOWN_SAFE: dict[str, str] = {
    "langchain_core.language_models.llms:_log_error_once": "keyed on message strings, at most 128",
    "langchain_core.runnables.configurable:_enums_for_spec": (
        "a WeakValueDictionary: the entry goes with its Enum class (measured 0 of 300)"
    ),
    "langgraph._internal._fields:ANNOTATED_KEYS_CACHE": (
        "a WeakKeyDictionary whose values are tuples of strings"
    ),
    "langgraph.utils.fields:ANNOTATED_KEYS_CACHE": (
        "a WeakKeyDictionary whose values are tuples of strings (langgraph 0.5)"
    ),
    "langgraph.pregel._call:CACHE": _SHARED_FUNCTIONS,
    "langgraph.pregel.call:CACHE": _SHARED_FUNCTIONS,
    "langchain_core.utils.mustache:g_token_cache": (
        "template strings to tokens, no user objects; grows with distinct template texts"
    ),
    "langchain_core.load.load:_default_class_paths_cache": "three fixed keys",
    "langchain_core.tracers.langchain:_LOGGED": "method names and module-level exception classes",
    "langgraph.checkpoint.serde.jsonplus:_warned_*": "pairs of strings",
    "langchain_core.language_models.base:get_tokenizer": "no arguments: one entry",
    "langchain_core.language_models.base:_get_tokenizer_module": "no arguments: one entry",
    "langchain_core.language_models.base:_get_langchain_version": "no arguments: one entry",
    "langchain_core.env:get_runtime_environment": "no arguments: one entry",
    "langchain_core.callbacks.manager:_executor": "no arguments: one entry",
    "langchain_core.runnables.utils:asyncio_accepts_context": "no arguments: one entry",
    "langgraph.store.base.embed:_get_init_embeddings": "no arguments: one entry",
    "langgraph.store.memory:_check_numpy": "no arguments: one entry",
    "langchain.chat_models.base:_get_chat_model_creator": "keyed on provider strings",
    "langchain.embeddings.base:_get_embeddings_class_creator": "keyed on provider strings",
    "langchain_core.language_models.llms:_background_tasks": (
        "not a cache: on_retry callback tasks, each discarded when done"
    ),
    "langsmith._models:DISCRIMINATOR_CACHE": (
        "a WeakKeyDictionary over the unions of langsmith's own API models"
    ),
    "langsmith.client:_parse_url": "keyed on endpoint URL strings",
    "langsmith._openapi_client._models:DISCRIMINATOR_CACHE": (
        "a WeakKeyDictionary over the unions of langsmith's own API models"
    ),
    "langsmith.integrations.claude_agent_sdk._hooks:_active_tool_runs": (
        "Claude Agent SDK integration only: a tool run from its start to its end hook, "
        "keyed on tool-use ids (clear_active_tool_runs() drops the orphans)"
    ),
    "langsmith.run_helpers:_cached_attachment_args": (
        "Signatures of @traceable functions (langsmith 0.3 - 0.10); a signature holds its "
        "defaults and annotations"
    ),
    "langsmith.run_helpers:_attachment_args": (
        "Signatures of @traceable functions (langsmith 0.1 - 0.2), as its later "
        "_cached_attachment_args: up to 1,000, a signature holds its defaults and annotations"
    ),
    "langsmith._testing:_param_dict": (
        "LangSmith's pytest integration only: test identifiers and parameter names "
        "(strings) to counters"
    ),
    "langsmith.utils:get_env_var": "keyed on environment variable names and namespaces",
    "langsmith.run_helpers:_attachment_args_cache": (
        "a WeakKeyDictionary keyed on @traceable functions; the value is their Signature, "
        "which reaches the function only through a default value that holds it"
    ),
    "langsmith.run_helpers:_cached_attachment_args_by_signature": (
        "Signatures of @traceable callables that have no function object (rare); "
        "a signature holds its defaults and annotations, up to 1,000"
    ),
    "langsmith.utils:get_tracer_project": "keyed on a flag: two entries at most",
    "langchain_core.messages.block_translators:PROVIDER_TRANSLATORS": (
        "a registry filled at import: one entry per provider name, replaced on re-registration"
    ),
}


def known_safe(module: str, qualname: str) -> str | None:
    """Why ``module:qualname`` is known to be safe, or None."""
    location = f"{module}:{qualname}"
    reason = KNOWN_SAFE.get(location)
    if reason is not None:
        return reason
    for pattern, why in KNOWN_SAFE.items():
        if "*" in pattern and fnmatch.fnmatchcase(location, pattern):
            return why
    return None


def _import_quietly(name: str) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    except Exception:  # not installed in this version, or broken: nothing to report
        return None


def import_targets() -> None:
    """Import the module of every fix the installed versions need.

    ``apply()`` never imports them; a fix waiting for its module is applied by
    the import. The doctor and the test plugins call this to judge every fix now.
    """
    for module in _engine.DEFAULT.targets():
        if module not in sys.modules:
            _import_quietly(module)


def _resolve(module_name: str, qualname: str, import_modules: bool) -> Any:
    module = sys.modules.get(module_name)
    if module is None and import_modules:
        module = _import_quietly(module_name)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def known_safe_cache_sizes(*, import_modules: bool = False) -> tuple[CacheSize, ...]:
    """Live sizes of the :data:`KNOWN_SAFE` caches present in this process.

    Read with ``cache_info()``, or ``len()`` for a container; modules not
    imported yet are left out unless ``import_modules``.
    """
    sizes = []
    for location, why in KNOWN_SAFE.items():
        if "*" in location:
            continue
        module, qualname = location.split(":")
        obj = _resolve(module, qualname, import_modules)
        size = CacheSize.of(obj, f"{module}.{qualname}", "upstream")
        if size is not None:
            sizes.append(size._replace(note=why))
    return tuple(sizes)


def live_cache_sizes(*, import_modules: bool = False) -> tuple[CacheSize, ...]:
    """Every known cache's live size in this process: the fixes' caches, then the safe ones.

    Call it inside a running service to export the sizes to monitoring; it
    imports nothing unless ``import_modules``, and changes nothing.
    """
    if import_modules:  # all imports first: a waiting fix is applied on its module's import
        import_targets()
        for location in KNOWN_SAFE:
            module = location.split(":")[0]
            if "*" not in location and module not in sys.modules:
                _import_quietly(module)
    return _engine.DEFAULT.cache_sizes() + known_safe_cache_sizes()


def _clear_upstream_caches() -> None:
    patcher = _engine.DEFAULT
    for fix in patcher.fixes:
        module = sys.modules.get(fix.module)
        if module is None:
            continue
        try:
            original = patcher.get_original(fix.name)
        except KeyError:
            original = getattr(module, fix.attribute, None)
        if original is not None:
            fix.after_apply(original)


@contextmanager
def upstream_caches_cleared() -> Iterator[None]:
    """Empty every upstream cache the fixes cover, before and after a block.

    Whichever object is bound now (upstream's or ours), upstream's caches are
    what pin payloads, so measurements start and end clean.
    """
    _clear_upstream_caches()
    try:
        yield
    finally:
        _clear_upstream_caches()
