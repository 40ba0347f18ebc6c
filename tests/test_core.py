"""apply() / revert() / status() / patched(): rebinding, recognition, reporting, threads."""

from __future__ import annotations

import gc
import sys
import threading
import types
import weakref
from collections.abc import Iterator
from typing import Any

import langchain_core.runnables.base  # noqa: F401 - imported before apply(), as in real use
import pytest

import langgraph_fixed
from langgraph_fixed import FixNotApplied, FixState, LangGraphFixedWarning
from langgraph_fixed.fixes import nonlocals as nonlocals_fix
from langgraph_fixed.fixes._base import Versions

NAME = "get_function_nonlocals"
#: a range no installed langchain-core is in
OLD_CORE = Versions("langchain-core", before="0.0.1")


def upstream() -> Any:
    from langchain_core.runnables import utils

    return utils.get_function_nonlocals


def importers() -> list[str]:
    """Modules that bind langchain-core's function under its own name on this install."""
    names = ["langchain_core.runnables.utils", "langchain_core.runnables.base"]
    # langgraph 0.3.0 - 0.3.15 import it there; 0.3.16 - 0.5.x define their own
    # uncached copy under the same name, which is not an importer
    bound = getattr(sys.modules.get("langgraph.pregel.utils"), NAME, None)
    if bound is not None and getattr(bound, "__module__", None) != "langgraph.pregel.utils":
        names.append("langgraph.pregel.utils")
    return names


@pytest.fixture
def user_module() -> Iterator[types.ModuleType]:
    """A user module that imported the function by name, under another name too."""
    module = types.ModuleType("lgf_user_module")
    exec(
        "from langchain_core.runnables.utils import get_function_nonlocals\n"
        "from langchain_core.runnables.utils import get_function_nonlocals as gfn\n",
        module.__dict__,
    )
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def test_status_before_apply() -> None:
    status = langgraph_fixed.status().get(NAME)
    assert status.state is FixState.INACTIVE
    assert status.target == "langchain_core.runnables.utils.get_function_nonlocals"


def test_apply_rebinds_every_importer_and_revert_restores_the_exact_original(
    user_module: types.ModuleType,
) -> None:
    original = upstream()
    assert hasattr(original, "cache_info")
    report = langgraph_fixed.apply()
    status = report.get(NAME)
    assert status.state is FixState.APPLIED, status
    assert status.versions["langchain-core"]
    replacement = upstream()
    assert replacement is not original
    assert langgraph_fixed.get_original(NAME) is original
    for name in importers():
        assert getattr(sys.modules[name], NAME) is replacement, name
        assert f"{name}.{NAME}" in status.rebound
    assert user_module.get_function_nonlocals is replacement
    assert user_module.gfn is replacement
    assert replacement.__wrapped__ is original.__wrapped__

    langgraph_fixed.revert()
    for name in importers():
        assert getattr(sys.modules[name], NAME) is original, name
    assert user_module.gfn is original
    assert langgraph_fixed.status().get(NAME).state is FixState.INACTIVE
    with pytest.raises(KeyError):
        langgraph_fixed.get_original(NAME)


def test_modules_imported_after_apply_see_the_fix_and_are_reverted_too() -> None:
    langgraph_fixed.apply()
    late = types.ModuleType("lgf_late_module")
    exec("from langchain_core.runnables.utils import get_function_nonlocals\n", late.__dict__)
    sys.modules[late.__name__] = late
    try:
        assert late.get_function_nonlocals is upstream()
        assert nonlocals_fix.is_replacement(late.get_function_nonlocals)
        langgraph_fixed.revert()
        assert late.get_function_nonlocals is upstream()
        assert hasattr(late.get_function_nonlocals, "cache_info")
        assert not nonlocals_fix.is_replacement(late.get_function_nonlocals)
    finally:
        del sys.modules[late.__name__]


def test_apply_is_idempotent() -> None:
    first = langgraph_fixed.apply()
    replacement = upstream()
    second = langgraph_fixed.apply()
    assert upstream() is replacement
    assert first.get(NAME) == second.get(NAME)
    langgraph_fixed.revert()
    assert langgraph_fixed.revert().get(NAME).state is FixState.INACTIVE  # twice is fine


def test_patched_reverts_only_what_it_applied() -> None:
    original = upstream()
    with langgraph_fixed.patched() as report:
        assert report.get(NAME).active
        assert upstream() is not original
    assert upstream() is original

    langgraph_fixed.apply()
    replacement = upstream()
    with langgraph_fixed.patched():
        assert upstream() is replacement
    assert upstream() is replacement, "an outer apply() must survive the block"


def test_unrecognised_code_is_skipped_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nonlocals_fix.NonlocalsCacheFix, "fingerprints", {})
    original = upstream()
    with pytest.warns(LangGraphFixedWarning, match="not the code this fix knows"):
        report = langgraph_fixed.apply()
    status = report.get(NAME)
    assert status.state is FixState.SKIPPED
    assert "unknown source fingerprint" in status.reason
    assert not report.ok
    assert upstream() is original
    with pytest.warns(LangGraphFixedWarning), pytest.raises(FixNotApplied, match=NAME):
        langgraph_fixed.apply(strict=True)
    assert upstream() is original


def test_untested_version_is_applied_when_the_code_is_recognised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(nonlocals_fix.NonlocalsCacheFix, "tested", OLD_CORE)
    status = langgraph_fixed.apply(strict=True).get(NAME)
    assert status.state is FixState.APPLIED
    assert "outside <0.0.1" in status.reason and "recognised" in status.reason


def test_unrecognised_and_untested_names_the_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nonlocals_fix.NonlocalsCacheFix, "fingerprints", {})
    monkeypatch.setattr(nonlocals_fix.NonlocalsCacheFix, "tested", OLD_CORE)
    with pytest.warns(LangGraphFixedWarning) as caught:
        status = langgraph_fixed.apply().get(NAME)
    assert status.state is FixState.SKIPPED
    message = str(caught[0].message)
    assert "langchain_core.runnables.utils.get_function_nonlocals" in message
    assert status.versions["langchain-core"] in message and "<0.0.1" in message


def test_upstream_without_a_cache_is_not_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_core.runnables import utils

    monkeypatch.setattr(utils, NAME, utils.get_function_nonlocals.__wrapped__)
    status = langgraph_fixed.apply(strict=True).get(NAME)
    assert status.state is FixState.NOT_NEEDED
    assert "not cached" in status.reason


def test_versions_outside_applies_to_are_not_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nonlocals_fix.NonlocalsCacheFix, "applies_to", OLD_CORE)
    original = upstream()
    status = langgraph_fixed.apply(strict=True).get(NAME)
    assert status.state is FixState.NOT_NEEDED
    assert upstream() is original


def test_missing_target_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_core.runnables import utils

    monkeypatch.delattr(utils, NAME)
    with pytest.warns(LangGraphFixedWarning, match="does not exist"):
        status = langgraph_fixed.apply().get(NAME)
    assert status.state is FixState.SKIPPED


def test_a_fix_that_fails_to_build_leaves_upstream_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(self: Any, original: Any, recognised: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(nonlocals_fix.NonlocalsCacheFix, "build", boom)
    original = upstream()
    with pytest.warns(LangGraphFixedWarning, match="boom"):
        status = langgraph_fixed.apply().get(NAME)
    assert status.state is FixState.FAILED
    assert upstream() is original
    assert langgraph_fixed.status().get(NAME).state is FixState.FAILED


class _Thing:
    inner: Any = None
    attr: Any = None

    def method(self) -> Any:
        return self.inner, _MODULE_GLOBAL.attr


_MODULE_GLOBAL = _Thing()


def _survivors(get_function_nonlocals: Any) -> list[str]:
    """Analyse a bound method and a closure, drop them, and name what is still alive."""
    thing = _Thing()
    thing.inner = _Thing()
    _MODULE_GLOBAL.attr = _Thing()

    def make(captured: Any) -> Any:
        def node(state: Any) -> Any:
            return captured.inner, _MODULE_GLOBAL.attr

        return node

    node = make(thing)
    for func in (thing.method, node):
        assert get_function_nonlocals(func) == get_function_nonlocals.__wrapped__(func)
    assert get_function_nonlocals(node) == [_MODULE_GLOBAL.attr, thing.inner]
    objects = {
        "the bound method's __self__": thing,
        "a closure value": thing.inner,
        "the closure": node,
        "a global's value": _MODULE_GLOBAL.attr,
    }
    refs = {name: weakref.ref(obj) for name, obj in objects.items()}
    del thing, node, objects, func
    _MODULE_GLOBAL.attr = None
    gc.collect()
    return [name for name, ref in refs.items() if ref() is not None]


def test_the_replacement_keeps_nothing_alive() -> None:
    """Callable, __self__, closure values and global values all die once dropped."""
    assert _survivors(upstream()) == [
        "the bound method's __self__",
        "a closure value",
        "the closure",
        "a global's value",
    ]
    upstream().cache_clear()
    langgraph_fixed.apply(strict=True)
    assert _survivors(upstream()) == []


def test_the_analysis_cache_does_not_grow_with_closures(fixed_nonlocals: Any) -> None:
    fixed_nonlocals.cache_clear()

    def make(i: int) -> Any:
        return lambda state: i

    for i in range(1000):
        fixed_nonlocals(make(i))
    assert fixed_nonlocals.cache_info().currsize == 1


def test_the_analysis_cache_entry_dies_with_its_code(fixed_nonlocals: Any) -> None:
    fixed_nonlocals.cache_clear()
    namespace: dict[str, Any] = {}
    source = "def generated(x):\n    return x\n"
    code = compile(source, "<lgf-generated>", "exec")
    exec(code, namespace)
    import linecache

    linecache.cache["<lgf-generated>"] = (
        len(source),
        None,
        source.splitlines(True),
        "<lgf-generated>",
    )
    try:
        assert fixed_nonlocals(namespace["generated"]) == []
        assert fixed_nonlocals.cache_info().currsize == 1
        del namespace, code
        gc.collect()
        assert fixed_nonlocals.cache_info().currsize == 0
    finally:
        linecache.cache.pop("<lgf-generated>", None)


def test_threads_analyse_while_others_apply_and_revert() -> None:
    from tests.corpus import CORPUS

    errors: list[BaseException] = []
    stop = threading.Event()
    callables = [f for f in CORPUS.values() if f is not None]

    def analyse() -> None:
        from langchain_core.runnables import utils

        try:
            while not stop.is_set():
                for func in callables:
                    current = utils.get_function_nonlocals
                    try:
                        got = current(func)
                    except ValueError:
                        continue  # an empty closure cell: upstream raises it too
                    except TypeError:
                        # upstream's lru_cache cannot hash some callables; ours can take them
                        assert not nonlocals_fix.is_replacement(current)
                        continue
                    expected = current.__wrapped__(func)
                    assert len(got) == len(expected)
        except BaseException as exc:
            errors.append(exc)

    def toggle() -> None:
        try:
            for _ in range(30):
                langgraph_fixed.apply(strict=True)
                langgraph_fixed.revert()
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=analyse) for _ in range(4)]
    togglers = [threading.Thread(target=toggle) for _ in range(2)]
    for t in workers + togglers:
        t.start()
    for t in togglers:
        t.join()
    stop.set()
    for t in workers:
        t.join()
    assert errors == []
    assert not langgraph_fixed.status().get(NAME).active
    assert hasattr(upstream(), "cache_info") and not nonlocals_fix.is_replacement(upstream())
