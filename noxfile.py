"""The version matrix: each session pins langgraph, langchain-core and their companions.

Upstream's companion packages have loose pins (a fresh resolve of an older
langgraph can pick a langgraph-checkpoint or langgraph-prebuilt that fails at
import), so every version set pins all of them to releases that work together.

    nox                         # the default run: every version set, Pythons, lint
    nox -s "tests(versions='newest')"
    nox -s tests matrix leak_table   # then rewrite the README's leak table
    nox -s pythons              # the fix's tests on Python 3.10, 3.12 and 3.13
"""

from __future__ import annotations

import glob
import json
import os
import re
from pathlib import Path

import nox

nox.options.error_on_missing_interpreters = False

# Interpreters installed by pyenv but not selected are not on PATH: offer them.
_pyenv = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin")))
if _pyenv:
    os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), *_pyenv])


def _set(langgraph: str, core: str, checkpoint: str, prebuilt: str, sdk: str) -> list[str]:
    return [
        f"langgraph=={langgraph}",
        f"langchain-core=={core}",
        f"langgraph-checkpoint=={checkpoint}",
        f"langgraph-prebuilt=={prebuilt}",
        f"langgraph-sdk=={sdk}",
    ]


# Companions released with (or before) each langgraph and inside its requirements.
# Traps a fresh resolve falls into: langgraph-checkpoint >= 4.1 needs
# langchain-core >= 1.2.5 (or >= 0.3.81) although it does not say so;
# langgraph-prebuilt >= 1.0.9 needs langgraph >= 1.1.6; prebuilt 1.1.x needs
# langgraph 1.2. langchain-core 1.8.4 needs a langchain-protocol release the
# package index does not carry yet; langchain-core 1.8 needs Python >= 3.11.
VERSION_SETS: dict[str, list[str]] = {
    # the newest releases
    "newest": _set("1.2.24", "1.8.3", "4.3.2", "1.1.3", "0.4.14"),
    # the last langgraph that called langchain-core's cached function for every node
    "lg-0.3.15": _set("0.3.15", "0.3.45", "2.1.2", "0.1.8", "0.1.74"),
}
#: The rest of the matrix: each series' newest release, and the newest
#: langchain-core under older langgraphs where pip allows it.
MATRIX_SETS: dict[str, list[str]] = {
    "lg-0.3.34": _set("0.3.34", "0.3.56", "2.0.24", "0.1.8", "0.1.63"),
    "lg-0.4.10": _set("0.4.10", "0.3.66", "2.1.0", "0.2.2", "0.1.70"),
    "lg-0.5.4": _set("0.5.4", "0.3.70", "2.1.1", "0.5.2", "0.1.74"),
    "lg-0.6.11": _set("0.6.11", "0.3.79", "3.0.0", "0.6.5", "0.2.9"),
    "lg-1.0.10": _set("1.0.10", "1.2.16", "4.0.1", "1.0.8", "0.3.9"),
    "lg-1.1.10": _set("1.1.10", "1.3.2", "4.0.3", "1.0.12", "0.3.13"),
    "lg-0.3.15+core-0.3.86": _set("0.3.15", "0.3.86", "2.1.2", "0.1.8", "0.1.74"),
    "lg-0.5.4+core-1.8.3": _set("0.5.4", "1.8.3", "2.1.1", "0.5.2", "0.1.74"),
    "lg-1.0.10+core-1.8.3": _set("1.0.10", "1.8.3", "4.0.1", "1.0.8", "0.3.9"),
}
ALL_SETS = {**VERSION_SETS, **MATRIX_SETS}

DEFAULT_PYTHON = "3.11"
nox.options.sessions = ["tests", "matrix", "pythons", "lint"]


def install(session: nox.Session, versions: str, *extras: str) -> None:
    target = f".[{','.join(extras)}]" if extras else "."
    session.install(target, *ALL_SETS[versions])


LEAK_RESULTS = Path("build/leak-table")


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize("versions", list(VERSION_SETS))
def tests(session: nox.Session, versions: str) -> None:
    """The whole test suite on one version set, then the doctor's findings as JSON."""
    install(session, versions, "test")
    session.run("pytest", *session.posargs)
    session.run(
        "langgraph-fixed",
        "doctor",
        "--requests",
        "300",
        "--json",
        f"{LEAK_RESULTS}/{versions}.json",
    )


#: What the matrix sessions run: the fix's behaviour on each version set. The
#: process-level tests (uvicorn, pools, typing) run in ``tests`` only.
MATRIX_TESTS = [
    "tests/test_leaks.py",
    "tests/test_core.py",
    "tests/test_differential.py",
    "tests/test_subgraphs.py",
    "tests/test_other_caches.py",
    "tests/test_dropin.py",
    "-k",
    "not type_checkers",
]


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize("versions", list(MATRIX_SETS))
def matrix(session: nox.Session, versions: str) -> None:
    """The leak, core and differential tests on one more version set, and the doctor's JSON."""
    install(session, versions, "test")
    session.run("pytest", *(session.posargs or MATRIX_TESTS))
    session.run(
        "langgraph-fixed",
        "doctor",
        "--requests",
        "300",
        "--json",
        f"{LEAK_RESULTS}/{versions}.json",
    )


@nox.session(python=False)
def leak_table(session: nox.Session) -> None:
    """Rewrite the README's leak table from the JSON the ``tests`` sessions wrote."""
    results = {}
    for name in ALL_SETS:
        path = LEAK_RESULTS / f"{name}.json"
        if not path.exists():
            session.error(f"{path} is missing: run `nox -s tests matrix leak_table`")
        results[name] = json.loads(path.read_text())
    readme = Path("README.md")
    table = render_leak_table(results)
    text, count = re.subn(
        r"(<!-- leak-table:begin -->\n).*?(<!-- leak-table:end -->)",
        lambda m: m.group(1) + table + m.group(2),
        readme.read_text(),
        flags=re.S,
    )
    if count != 1:
        session.error("README.md has no leak-table markers")
    readme.write_text(text)
    session.log(f"README.md leak table rewritten from {len(results)} version sets")


def render_leak_table(results: dict[str, dict[str, object]]) -> str:
    """Markdown: one row per scenario, one column per version set, 'upstream -> fix'."""

    def heading(document: dict[str, object]) -> str:
        versions = document["versions"]
        assert isinstance(versions, dict)
        return f"langgraph {versions['langgraph']}<br>core {versions['langchain-core']}"

    def cell(value: object) -> str:
        return "error" if isinstance(value, str) else str(value)

    first = next(iter(results.values()))
    requests = first["requests"]
    lines = [
        "| scenario | " + " | ".join(heading(d) for d in results.values()) + " |",
        "|---" * (len(results) + 1) + "|",
    ]
    scenarios = first["scenarios"]
    assert isinstance(scenarios, list)
    for index, scenario in enumerate(scenarios):
        cells = []
        for document in results.values():
            rows = document["scenarios"]
            assert isinstance(rows, list)
            row = rows[index]
            cells.append(f"{cell(row['without_fix'])} → {cell(row['with_fix'])}")
        lines.append(f"| {scenario['description']} | " + " | ".join(cells) + " |")
    note = (
        f"\nPayloads alive after {requests} requests and `gc.collect()`, upstream → with the "
        "fix. Generated by `nox -s tests matrix leak_table` from `langgraph-fixed doctor --json`.\n"
    )
    return "\n".join(lines) + "\n" + note


@nox.session
@nox.parametrize(
    ("python", "versions"),
    # langchain-core 1.8 needs Python >= 3.11: 3.10 runs the 0.3.x set
    [("3.10", "lg-0.3.15"), ("3.12", "newest"), ("3.13", "newest")],
)
def pythons(session: nox.Session, versions: str) -> None:
    """The fix's own tests on the other supported Pythons."""
    install(session, versions, "test")
    args = session.posargs or [
        "tests/test_differential.py",
        "tests/test_core.py",
        "tests/test_cache.py",
        "tests/test_leaks.py",
    ]
    session.run("pytest", *args)


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, ruff format and mypy --strict, against the newest versions."""
    install(session, "newest", "lint", "test")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "--strict", "langgraph_fixed")
