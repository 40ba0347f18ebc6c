"""The tested versions live in one place (tests/version_sets.toml); the rest agrees with it."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from langgraph_fixed.fixes import FIXES

ROOT = Path(__file__).resolve().parent.parent
tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads TOML")


def docs_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lgf_docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("fix", FIXES, ids=lambda f: f.name)
def test_each_fix_is_tested_exactly_on_the_sets_that_need_it(fix: object) -> None:
    """``tested`` is the span of the sets where the fix applies: no more, no less."""
    from langgraph_fixed.fixes._base import Fix

    assert isinstance(fix, Fix)
    sets = docs_hooks().version_sets()
    needing = sorted(
        {
            pins[fix.tested.dist]
            for pins in sets.values()
            if fix.applies_to.dist in pins
            and fix.applies_to.contains(pins[fix.applies_to.dist])
            and fix.tested.dist in pins
        },
        key=lambda v: tuple(int(p) for p in v.split(".")),
    )
    assert needing, f"{fix.name}: no version set has the leak it fixes"
    assert (fix.tested.since, fix.tested.through) == (needing[0], needing[-1]), (
        f"{fix.name}: tested {fix.tested}, the version sets that need it run {needing}"
    )
    assert fix.tested.before is None


def test_the_readme_table_is_the_one_the_version_sets_give() -> None:
    hooks = docs_hooks()
    readme = (ROOT / "README.md").read_text()
    assert hooks.readme_with_table(readme) == readme, "run `python docs/hooks.py`"


def test_dependencies_have_no_upper_bounds_and_start_at_the_oldest_tested() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    hooks = docs_hooks()
    pins = {}
    for requirement in project["dependencies"]:
        name, _op, version = re.match(
            r"([\w-]+)\s*(>=|==|<|<=|~=)?\s*([\d.]*)", requirement
        ).groups()
        assert "<" not in requirement and "==" not in requirement, requirement
        pins[name] = version
    for dist in ("langgraph", "langchain-core"):
        assert pins[dist] == hooks.tested_versions(dist)[0], dist
