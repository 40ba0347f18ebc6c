"""The engine on a made-up registry: no LangChain, a real module file, real imports.

A small library module with an ``lru_cache``-wrapped function stands for
upstream; a :class:`Fix` declared the way the real ones are stands for ours.
"""

from __future__ import annotations

import functools
import importlib
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from langgraph_fixed import FixNotApplied, FixState, LangGraphFixedWarning, Patcher
from langgraph_fixed._hooks import pending
from langgraph_fixed.fixes._base import Fix, Unrecognised, Versions
from langgraph_fixed.fixes._source import source_fingerprint

LIBRARY = '''
import functools


@functools.lru_cache(maxsize=4)
def analyse(obj):
    """Pins its last four arguments."""
    return [obj]


def caller(obj):
    return analyse(obj)
'''

#: a distribution every test environment has
INSTALLED = Versions("pytest")


class Replacement:
    def __init__(self, original: Any, tag: str) -> None:
        self.__langgraph_fixed__ = original
        self.__wrapped__ = original.__wrapped__
        self.tag = tag

    def __call__(self, obj: Any) -> list[Any]:
        return self.__wrapped__(obj)  # type: ignore[no-any-return]


class AnalyseFix(Fix[str]):
    name = "analyse"
    summary = "no cache at all"
    attribute = "analyse"
    applies_to = INSTALLED
    tested = INSTALLED
    lru = True
    callers = ("caller",)

    def __init__(self, module: str, fingerprints: dict[str, str] | None) -> None:
        self.module = module
        self.fingerprints = fingerprints

    def build(self, original: Any, recognised: str) -> Replacement:
        return Replacement(original, recognised)


@pytest.fixture
def library(tmp_path: Path) -> Iterator[str]:
    """The name of a fresh library module on ``sys.path``, not imported."""
    name = f"lgf_fake_library_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(LIBRARY)
    sys.path.insert(0, str(tmp_path))
    yield name
    sys.path.remove(str(tmp_path))
    sys.modules.pop(name, None)


def known(library: str) -> dict[str, str]:
    """The fingerprint of the library's uncached body, learnt from a throwaway import."""
    module = importlib.import_module(library)
    fingerprint = source_fingerprint(module.analyse.__wrapped__)
    del sys.modules[library]
    return {fingerprint: "variant-1"}


def test_a_fix_waits_for_its_module_and_is_applied_when_it_is_imported(library: str) -> None:
    patcher = Patcher([AnalyseFix(library, known(library))])
    report = patcher.apply()
    status = report.get("analyse")
    assert status.state is FixState.WAITING and status.waiting_for == library
    assert library not in sys.modules, "apply() imports nothing"
    assert report.ok and pending().get(library)

    module: Any = importlib.import_module(library)
    status = patcher.status().get("analyse")
    assert status.state is FixState.APPLIED, status
    assert isinstance(module.analyse, Replacement) and module.analyse.tag == "variant-1"
    assert patcher.get_original("analyse").cache_info().currsize == 0

    patcher.revert()
    assert hasattr(module.analyse, "cache_info") and not isinstance(module.analyse, Replacement)
    assert patcher.status().get("analyse").state is FixState.INACTIVE


def test_a_loaded_module_is_fixed_at_once_everywhere_it_is_bound(library: str) -> None:
    fingerprints = known(library)
    module: Any = importlib.import_module(library)
    original = module.analyse
    original(object())  # something pinned before apply()
    user = ModuleType("lgf_fake_user")
    user.renamed = original  # a user module holding it under another name
    sys.modules[user.__name__] = user
    try:
        patcher = Patcher([AnalyseFix(library, fingerprints)])
        status = patcher.apply(strict=True).get("analyse")
        assert status.state is FixState.APPLIED
        assert set(status.rebound) == {f"{library}.analyse", "lgf_fake_user.renamed"}
        assert user.renamed is module.analyse is not original
        assert original.cache_info().currsize == 0, "upstream's cache emptied"
        assert patcher.apply().get("analyse") == status, "idempotent"
        patcher.revert()
        assert user.renamed is original and module.analyse is original
    finally:
        del sys.modules[user.__name__]


def test_unknown_code_is_skipped_with_a_warning_and_strict_raises(library: str) -> None:
    importlib.import_module(library)
    patcher = Patcher([AnalyseFix(library, {"0000000000000000": "nope"})])
    with pytest.warns(LangGraphFixedWarning, match="unknown source fingerprint"):
        report = patcher.apply()
    assert report.get("analyse").state is FixState.SKIPPED and not report.ok
    with pytest.warns(LangGraphFixedWarning), pytest.raises(FixNotApplied, match="analyse"):
        patcher.apply(strict=True)
    assert not isinstance(sys.modules[library].analyse, Replacement)


def test_a_caller_that_no_longer_reads_the_global_is_unrecognised(library: str) -> None:
    fingerprints = known(library)
    module: Any = importlib.import_module(library)
    module.caller = functools.partial(print)  # no code object reading `analyse`
    with pytest.warns(LangGraphFixedWarning, match="caller no longer calls it"):
        status = Patcher([AnalyseFix(library, fingerprints)]).apply().get("analyse")
    assert status.state is FixState.SKIPPED


def test_an_uncached_target_is_not_needed_and_a_missing_one_skipped(library: str) -> None:
    fingerprints = known(library)
    module: Any = importlib.import_module(library)
    module.analyse = module.analyse.__wrapped__
    status = Patcher([AnalyseFix(library, fingerprints)]).apply(strict=True).get("analyse")
    assert status.state is FixState.NOT_NEEDED and "not cached" in status.reason
    del module.analyse
    with pytest.warns(LangGraphFixedWarning, match="does not exist"):
        status = Patcher([AnalyseFix(library, fingerprints)]).apply().get("analyse")
    assert status.state is FixState.SKIPPED


def test_outside_applies_to_is_not_needed_and_registers_no_hook(library: str) -> None:
    fix = AnalyseFix(library, known(library))
    fix.applies_to = Versions("pytest", before="0.0.1")
    status = Patcher([fix]).apply(strict=True).get("analyse")
    assert status.state is FixState.NOT_NEEDED and "outside <0.0.1" in status.reason
    assert library not in pending()
    fix.applies_to = Versions("lgf-no-such-distribution")
    status = Patcher([fix]).apply(strict=True).get("analyse")
    assert status.reason == "lgf-no-such-distribution is not installed"


def test_outside_the_tested_range_the_recognised_code_is_applied(library: str) -> None:
    fix = AnalyseFix(library, known(library))
    fix.tested = Versions("pytest", before="0.0.1")
    importlib.import_module(library)
    status = Patcher([fix]).apply(strict=True).get("analyse")
    assert status.state is FixState.APPLIED
    assert "outside <0.0.1, applied because the code is recognised" in status.reason


def test_a_check_that_raises_fails_the_fix_and_leaves_upstream(library: str) -> None:
    class Broken(AnalyseFix):
        def check(self, original: Any, module: ModuleType, variant: Any) -> str:
            raise Unrecognised("not this one") if variant is None else KeyError("boom")

    module: Any = importlib.import_module(library)
    original = module.analyse
    patcher = Patcher([Broken(library, {source_fingerprint(original.__wrapped__): "v"})])
    with pytest.warns(LangGraphFixedWarning, match="boom"):
        status = patcher.apply().get("analyse")
    assert status.state is FixState.FAILED and module.analyse is original


def test_patched_reverts_what_it_applied_including_what_waited(library: str) -> None:
    patcher = Patcher([AnalyseFix(library, known(library))])
    with patcher.patched() as report:
        assert report.get("analyse").state is FixState.WAITING
        module: Any = importlib.import_module(library)
        assert isinstance(module.analyse, Replacement)
    assert not isinstance(module.analyse, Replacement)
    assert patcher.status().get("analyse").state is FixState.INACTIVE


def test_revert_stops_the_waiting(library: str) -> None:
    patcher = Patcher([AnalyseFix(library, known(library))])
    patcher.apply()
    patcher.revert()
    assert library not in pending()
    module: Any = importlib.import_module(library)
    assert not isinstance(module.analyse, Replacement)


def test_a_registry_given_as_a_function_is_read_on_first_use() -> None:
    calls: list[int] = []

    def registry() -> list[Fix[Any]]:
        calls.append(1)
        return []

    patcher = Patcher(registry)
    assert calls == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert patcher.apply() == ()
    assert patcher.status() == () and calls == [1]


def test_reference_counts_are_what_the_rebinding_shortcut_assumes() -> None:
    """``references`` counts every reference but the caller's one local: when the
    bindings found by name account for them all, no other binding can exist."""
    from langgraph_fixed import _bindings

    obj = object()
    holders = [obj, obj]
    expected = 2 if _bindings._EXACT_REFCOUNTS else None
    assert _bindings.references(obj) == expected
    holders.pop()
    assert _bindings.references(obj) == (1 if expected else None)


def test_an_alias_or_a_stray_reference_makes_every_value_compared(library: str) -> None:
    from langgraph_fixed import _bindings

    module: Any = importlib.import_module(library)
    old, new = module.analyse, object()
    alias = ModuleType("lgf_fake_alias")
    alias.other_name = old
    sys.modules[alias.__name__] = alias
    try:
        # told there are 2 references (the library's and the alias's), a lookup by
        # name finds one: every value is then compared, and the alias is found
        rebound = _bindings.rebind({id(old): (old, new)}, {id(old): ("analyse", 2)})
        assert sorted(rebound[id(old)]) == sorted(
            [f"{library}.analyse", "lgf_fake_alias.other_name"]
        )
        assert module.analyse is new and alias.other_name is new
    finally:
        del sys.modules[alias.__name__]
