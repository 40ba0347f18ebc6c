"""What importing and applying cost the application: no import of anything it has not imported.

Each check runs in a fresh interpreter, so that what is imported is what the
application would see.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from langgraph_fixed import _startup
from langgraph_fixed.fixes import FIXES

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("langchain", "langgraph.", "pydantic")


def python(code: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_apply_after_langgraph_imports_nothing_but_our_own_modules() -> None:
    out = python(
        """
import json, sys
import langgraph.graph, langchain_core.runnables
before = set(sys.modules)
import langgraph_fixed
report = langgraph_fixed.apply()
new = sorted(set(sys.modules) - before)
print(json.dumps({"new": [m for m in new if not m.startswith("langgraph_fixed")],
                  "ours": len(new),
                  "applied": report.get("get_function_nonlocals").state.value}))
"""
    )
    assert out["new"] == [], "apply() imported modules the application had not"
    assert out["applied"] == "applied"


def test_apply_before_langgraph_imports_none_of_it_and_the_imports_apply_the_fixes() -> None:
    out = python(
        """
import json, sys
import langgraph_fixed
states = {s.fix: s.state.value for s in langgraph_fixed.apply()}
heavy = sorted(m for m in sys.modules if m.startswith(("langchain", "langgraph.", "pydantic")))
import langgraph.graph
from langchain_core.runnables import base, utils
print(json.dumps({"heavy": heavy, "before": states["get_function_nonlocals"],
    "after": langgraph_fixed.status().get("get_function_nonlocals").state.value,
    "bound": base.get_function_nonlocals.state.__class__.__name__}))
"""
    )
    assert out == {
        "heavy": [],
        "before": "waiting",
        "after": "applied",
        "bound": "NonlocalsAnalyser",
    }


def test_importing_the_package_and_the_pytest_plugin_imports_nothing_heavy() -> None:
    out = python(
        """
import json, sys
before = set(sys.modules)
import langgraph_fixed, langgraph_fixed.testing.leakcheck, langgraph_fixed._startup
new = sorted(set(sys.modules) - before)
print(json.dumps({"new": new}))
"""
    )
    new = [str(m) for m in out["new"]]  # type: ignore[attr-defined]
    assert not [m for m in new if m.startswith(HEAVY) or m == "langgraph"], new
    ours = {m for m in new if m.startswith("langgraph_fixed")}
    assert ours == {
        "langgraph_fixed",
        "langgraph_fixed._status",
        "langgraph_fixed._hooks",
        "langgraph_fixed._startup",
        "langgraph_fixed.testing",
        "langgraph_fixed.testing.leakcheck",
    }, "the engine, the fixes and the diagnostics load on first use only"


def test_every_fix_lives_in_a_package_the_start_up_hook_watches() -> None:
    for fix in FIXES:
        assert fix.module.partition(".")[0] in _startup.PACKAGES, fix.name


def test_the_package_never_imports_typing_extensions_itself() -> None:
    """Not a declared dependency (pydantic's): apply() and the doctor's modules do
    without it; only the scenarios that build a TypedDict ask for it, when they run."""
    out = python(
        """
import json, sys
import langgraph.graph, langchain_core.runnables, langchain_core.utils.pydantic
sys.modules["typing_extensions"] = None  # any import of it from now on fails
import langgraph_fixed
report = langgraph_fixed.apply(strict=True)
from langgraph_fixed.fixes import model_factories
model_factories.long_lived(int)
import langgraph_fixed.cli, langgraph_fixed.diagnostics.scenarios, langgraph_fixed.diagnostics.scan
print(json.dumps({"ok": report.ok}))
"""
    )
    assert out == {"ok": True}
