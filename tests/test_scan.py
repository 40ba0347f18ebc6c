"""``langgraph-fixed scan``: every cache in the installed sources, found without importing them."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from langgraph_fixed import cli
from langgraph_fixed.diagnostics.caches import KNOWN_SAFE
from langgraph_fixed.diagnostics.scan import FoundCache, ScanResult, scan, scan_source
from langgraph_fixed.fixes import FIXES

ROOT = Path(__file__).resolve().parents[1]


def installed(dist: str) -> Version | None:
    try:
        return Version(importlib.metadata.version(dist))
    except importlib.metadata.PackageNotFoundError:
        return None


def within(dist: str, low: str, high: str | None = None) -> bool:
    """Whether ``dist`` is installed at ``low`` <= version (< ``high``)."""
    version = installed(dist)
    return (
        version is not None
        and version >= Version(low)
        and (high is None or version < Version(high))
    )


@pytest.fixture(scope="module")
def installed_scan() -> ScanResult:
    return scan()


def by_name(result: ScanResult) -> dict[tuple[str, str], FoundCache]:
    return {(c.module, c.qualname): c for c in result.caches}


# What RESEARCH.md and the README name, by the versions that have each.
# (module, qualname, verdict, fix, maxsize, applies)
EXPECTED: list[tuple[str, str, str, str | None, int | None, bool]] = [
    ("langchain_core.runnables.utils", "get_function_nonlocals", "fixed",
     "get_function_nonlocals", 256, within("langchain-core", "0.3.19")),
    ("langchain_core.tools.structured", "_model_json_schema", "fixed",
     "model_json_schema", 256, within("langchain-core", "1.6.1")),
    ("langchain_core.utils.pydantic", "_create_model_cached", "fixed",
     "core_create_model", 256, True),
    ("langchain_core.utils.pydantic", "_create_root_model_cached", "fixed",
     "core_create_root_model", 256, True),
    ("langgraph._internal._pydantic", "_create_model_cached", "fixed",
     "langgraph_create_model", 256, within("langgraph", "0.6.0")),
    ("langgraph._internal._pydantic", "_create_root_model_cached", "fixed",
     "langgraph_create_root_model", 256, within("langgraph", "0.6.0")),
    ("langgraph.utils.pydantic", "_create_model_cached", "fixed",
     "lg04_create_model", 256, within("langgraph", "0.4.1", "0.6.0")),
    ("langgraph.utils.pydantic", "_create_root_model_cached", "fixed",
     "lg04_create_root_model", 256, within("langgraph", "0.4.1", "0.6.0")),
    ("langgraph.graph.schema_utils", "SchemaCoercionMapper._cache", "fixed",
     "schema_coercion_mapper", None, within("langgraph", "0.3.9", "0.3.16")),
    ("langgraph.graph.schema_utils", "_cache", "fixed",
     "schema_coercion_mapper", None, within("langgraph", "0.3.16", "0.4.8")),
    ("langgraph.graph.schema_utils", "_adapter_cache", "fixed",
     "schema_type_adapter", None, within("langgraph", "0.3.28", "0.4.8")),
    ("langchain.agents.factory", "_get_schema_type_hints", "fixed",
     "agent_schema_type_hints", 100, within("langchain", "1.2.16")),
    ("langchain_core.language_models.llms", "_log_error_once", "safe", None, 128, True),
    ("langchain_core.runnables.configurable", "_enums_for_spec", "safe", None, None, True),
    ("langchain_core.utils.mustache", "g_token_cache", "safe", None, None, True),
    ("langchain_core.tracers.langchain", "_LOGGED", "safe", None, None, True),
    ("langgraph._internal._fields", "ANNOTATED_KEYS_CACHE", "safe", None, None,
     within("langgraph", "0.6.0")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("module", "qualname", "verdict", "fix", "maxsize", "applies"),
    EXPECTED,
    ids=[f"{m}:{q}" for m, q, *_ in EXPECTED],
)
def test_the_known_caches_are_found_and_judged(
    installed_scan: ScanResult,
    module: str,
    qualname: str,
    verdict: str,
    fix: str | None,
    maxsize: int | None,
    applies: bool,
) -> None:
    found = by_name(installed_scan).get((module, qualname))
    if not applies:
        assert found is None or found.verdict in ("fixed", "safe"), found
        pytest.skip(f"{module}:{qualname} is not in the installed versions")
    assert found is not None, f"{module}:{qualname} not found"
    assert (found.verdict, found.fix, found.maxsize) == (verdict, fix, maxsize), found.reason
    assert found.file.endswith(".py") and found.line > 0
    if verdict == "fixed":
        assert found.user_objects, "every fixed cache may receive user objects"


def test_the_pregel_call_cache_is_known_safe(installed_scan: ScanResult) -> None:
    found = [c for c in installed_scan.caches if c.qualname == "CACHE"]
    assert [c.module for c in found] in (["langgraph.pregel._call"], ["langgraph.pregel.call"])
    assert found[0].verdict == "safe" and found[0].user_objects


def test_nothing_new_on_the_installed_versions(installed_scan: ScanResult) -> None:
    """The day an upstream release adds a cache that may receive user objects, this fails."""
    assert installed_scan.distributions["langchain-core"] is not None
    assert installed_scan.distributions["langgraph"] is not None
    assert installed_scan.files > 100 and not installed_scan.unreadable
    assert [c.location for c in installed_scan.new] == [], [c.reason for c in installed_scan.new]


def test_every_fix_target_that_is_a_cache_is_found(installed_scan: ScanResult) -> None:
    found = by_name(installed_scan)
    for fix in FIXES:
        hits = [q for q in fix.covers if (fix.module, q) in found]
        for qualname in hits:
            assert found[(fix.module, qualname)].fix == fix.name


def test_the_scan_imports_nothing_it_scans() -> None:
    code = (
        "import sys; from langgraph_fixed.diagnostics.scan import scan; r = scan(); "
        "assert r.caches; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('langchain_core', 'langchain')"
        " or m.startswith('langgraph.')]; assert not bad, bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- a synthetic package with every form -------------------------------------

FORMS = """
import functools
import functools as ft
import weakref
from collections import defaultdict
from enum import Enum
from functools import cache, lru_cache
from functools import lru_cache as memo
from typing import Any, Callable, Literal, Optional

from pydantic import BaseModel

raise RuntimeError("never imported by the scan")

LIMIT = 7


class Color(Enum):
    RED = 1


@functools.lru_cache
def bare(func):
    return func


@functools.lru_cache()
def called(func: Callable[..., Any]) -> Any:
    return func


@functools.lru_cache(maxsize=32)
def keyword(schema: type[BaseModel]) -> Any:
    return schema


@ft.lru_cache(None)
def aliased_module(model: BaseModel) -> Any:
    return model


@memo(maxsize=LIMIT * 2)
def aliased_name(value: Any) -> Any:
    return value


@lru_cache(64)
def scalars(name: str, n: int, flag: bool = False, *, kind: Literal["a", "b"] = "a") -> str:
    return name


@cache
def optional_scalars(name: Optional[str], pair: tuple[str, int] | None, color: Color) -> str:
    return str(name)


@functools.cache
def no_arguments() -> int:
    return 1


@lru_cache(maxsize=0)
def disabled(anything):
    return anything


class Holder:
    @lru_cache(maxsize=8)
    def method(self, key: str) -> str:
        return key

    @staticmethod
    @lru_cache
    def static(key: str) -> str:
        return key

    @classmethod
    @cache
    def klass(cls) -> str:
        return cls.__name__

    _per_class: dict = {}
    _per_instance: dict = {}

    def __init__(self) -> None:
        self._per_instance = {}

    def remember(self, key, value) -> None:
        type(self)._unused = None
        self._per_class[key] = value
        self._per_instance[key] = value

    @classmethod
    def remember_class(cls, key, value) -> None:
        cls._per_class.setdefault(key, value)


def outer():
    @lru_cache(maxsize=4)
    def inner(callback: Callable[[], None]) -> None:
        return None

    return inner


def _impl(obj):
    return obj


applied = functools.lru_cache(maxsize=16)(_impl)
applied_bare = cache(_impl)

_CACHE = {}
_TYPED: dict[str, int] = dict()
_WEAK_KEYS: weakref.WeakKeyDictionary[type, tuple[str, ...]] = weakref.WeakKeyDictionary()
_WEAK_VALUES = weakref.WeakValueDictionary()
_SEEN: set[tuple[str, str]] = set()
_GROUPED = defaultdict(list)
_WEAK_SET = weakref.WeakSet()
_NEVER_WRITTEN = {}
_SHADOWED = {}
_REGISTRY = {"fixed": 1}
_VIA_HELPER: set = set()


def write(key, value):
    _CACHE[key] = value
    _TYPED.setdefault(str(key), 1)
    _WEAK_KEYS.update({key: ("a",)})
    _WEAK_VALUES[str(key)] = value
    _SEEN.add((str(key), "x"))
    _GROUPED[key].append(value)
    _WEAK_SET.add(value)
    _REGISTRY[key] = value
    _remember(_VIA_HELPER, key)
    return _NEVER_WRITTEN.get(key)


def _remember(seen, key):
    seen.add(key)


def shadow(key):
    _SHADOWED = {}
    _SHADOWED[key] = 1
    return _SHADOWED
"""

OTHER_CACHE = """
from mylib import cache, lru_cache


@cache
def not_functools(obj):
    return obj


@lru_cache(maxsize=3)
def not_functools_either(obj):
    return obj
"""

# a module named like a fix's target: judged by module and qualified name alone
FIX_TARGET = """
from functools import lru_cache


@lru_cache(maxsize=256)
def get_function_nonlocals(func):
    return []


@lru_cache
def _log_error_once(msg):
    return None
"""


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "site",
        {
            "synth/__init__.py": "",
            "synth/forms.py": FORMS,
            "synth/other.py": OTHER_CACHE,
            "synth/broken.py": "def broken(:\n",
            "synth/tests/test_x.py": "from functools import cache\n@cache\ndef t(x): ...\n",
            "langchain_core/runnables/utils.py": FIX_TARGET,
        },
    )


def scan_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = cli.main(["scan", *args, "--json", "-"])
    return code, json.loads(capsys.readouterr().out)


def test_every_form_in_a_synthetic_tree(
    synthetic: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = scan_json(capsys, "--path", str(synthetic))
    assert code == 0, "without --fail-on-new the scan exits 0"
    assert document["distributions"] == {}, "only the path is scanned"
    caches = {c["qualname"]: c for c in document["caches"] if c["module"] == "synth.forms"}
    expected = {
        # qualname: (kind, maxsize, may receive user objects, verdict)
        "bare": ("lru_cache", 128, True, "new"),
        "called": ("lru_cache", 128, True, "new"),
        "keyword": ("lru_cache", 32, True, "new"),
        "aliased_module": ("lru_cache", None, True, "new"),
        "aliased_name": ("lru_cache", "LIMIT * 2", True, "new"),
        "scalars": ("lru_cache", 64, False, "scalars only"),
        "optional_scalars": ("cache", None, False, "scalars only"),
        "no_arguments": ("cache", None, False, "no arguments"),
        "disabled": ("lru_cache", 0, True, "safe"),
        "Holder.method": ("lru_cache", 8, True, "new"),
        "Holder.static": ("lru_cache", 128, False, "scalars only"),
        "Holder.klass": ("cache", None, True, "new"),
        "Holder._per_class": ("dict", None, True, "new"),
        "outer.<locals>.inner": ("lru_cache", 4, True, "new"),
        "applied": ("lru_cache", 16, True, "new"),
        "applied_bare": ("cache", None, True, "new"),
        "_CACHE": ("dict", None, True, "new"),
        "_TYPED": ("dict", None, False, "scalars only"),
        "_WEAK_KEYS": ("WeakKeyDictionary", None, False, "scalars only"),
        "_WEAK_VALUES": ("WeakValueDictionary", None, True, "new"),
        "_SEEN": ("set", None, False, "scalars only"),
        "_GROUPED": ("defaultdict", None, True, "new"),
        "_WEAK_SET": ("WeakSet", None, False, "weak only"),
        "_VIA_HELPER": ("set", None, True, "new"),
    }
    got = {
        q: (c["kind"], c["maxsize"], c["may_receive_user_objects"], c["verdict"])
        for q, c in caches.items()
    }
    assert got == expected
    # not caches: never written, shadowed by a local, a non-empty registry, per instance
    assert not {"_NEVER_WRITTEN", "_SHADOWED", "_REGISTRY", "Holder._per_instance"} & set(caches)

    scalars = caches["scalars"]
    assert [(p["name"], p["annotation"], p["user_objects"]) for p in scalars["parameters"]] == [
        ("name", "str", False),
        ("n", "int", False),
        ("flag", "bool", False),
        ("kind", "Literal['a', 'b']", False),
    ]
    assert caches["bare"]["parameters"] == [
        {"name": "func", "annotation": None, "user_objects": True}
    ]
    method = caches["Holder.method"]["parameters"]
    assert [p["user_objects"] for p in method] == [True, False], "self is the caller's object"
    assert caches["_CACHE"]["written_at"] and caches["_CACHE"]["location"].startswith(
        "synth.forms:_CACHE:"
    )
    assert caches["_WEAK_KEYS"]["parameters"] == [
        {"name": "value", "annotation": "tuple[str, ...]", "user_objects": False}
    ], "a WeakKeyDictionary holds only its values strongly"

    modules = {c["module"] for c in document["caches"]}
    assert "synth.other" not in modules, "`cache` from another library is not functools'"
    assert not any(m.startswith("synth.tests") for m in modules), "test files are left out"
    assert [u["file"].endswith("broken.py") for u in document["unreadable"]] == [True]

    target = {c["qualname"]: c for c in document["caches"] if c["module"].startswith("langchain")}
    assert target["get_function_nonlocals"]["verdict"] == "fixed"
    assert target["get_function_nonlocals"]["fix"] == "get_function_nonlocals"
    # known safe where langchain-core defines it, not under another module's name
    assert target["_log_error_once"]["verdict"] == "new"

    new = {c["location"] for c in document["caches"] if c["verdict"] == "new"}
    assert set(document["new"]) == new
    assert document["ok"] is False


def test_fail_on_new(synthetic: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["scan", "--path", str(synthetic), "--fail-on-new"]) == 1
    out = capsys.readouterr().out
    assert "NEW" in out and "synth.forms:_CACHE:" in out
    assert "may receive user objects" in out

    safe = write_tree(
        tmp_path / "safe",
        {
            "tidy/__init__.py": "",
            "tidy/mod.py": """
                from functools import lru_cache
                _NAMES: dict[str, str] = {}

                @lru_cache(maxsize=16)
                def lookup(name: str) -> str:
                    _NAMES[name] = name
                    return name
            """,
        },
    )
    code, document = scan_json(capsys, "--path", str(safe), "--fail-on-new")
    assert code == 0 and document["ok"] is True
    assert {c["verdict"] for c in document["caches"]} == {"scalars only"}


def test_table_and_json_file(
    synthetic: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "scan.json"
    assert cli.main(["scan", "--path", str(synthetic / "synth"), "--json", str(target)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:3] == ["location", "kind", "maxsize"] and header[-1] == "verdict"
    assert "New caches that may receive user objects" in out
    document = json.loads(target.read_text())
    assert all(c["module"].startswith("synth") for c in document["caches"])


def test_a_distribution_that_is_not_installed(capsys: pytest.CaptureFixture[str]) -> None:
    """A usage error (it was a scan of nothing that passed, even with --fail-on-new)."""
    with pytest.raises(SystemExit) as exc:
        cli.main(["scan", "--dist", "no-such-distribution-here", "--fail-on-new"])
    assert exc.value.code == 2
    assert "not installed: no-such-distribution-here" in capsys.readouterr().err
    # the library function still reports it, for callers that scan several
    assert scan(["no-such-distribution-here"]).distributions == {"no-such-distribution-here": None}


def test_scan_source_reads_one_module() -> None:
    found = scan_source(
        "import functools\n@functools.lru_cache(maxsize=2)\ndef f(x: int) -> int:\n    return x\n",
        "m",
    )
    assert [(c.qualname, c.maxsize, c.user_objects, c.line) for c in found] == [
        ("f", 2, False, 3)
    ]  # the line of the `def`


def test_known_safe_entries_have_reasons() -> None:
    for location, reason in KNOWN_SAFE.items():
        module, qualname = location.split(":")
        assert module and qualname and reason.strip()


def test_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "langgraph_fixed", "scan", "--fail-on-new", "--json", "-"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["caches"]
