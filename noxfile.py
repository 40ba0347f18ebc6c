"""The version matrix: each session pins langgraph, langchain-core and their companions.

Upstream's companion packages have loose pins (a fresh resolve of an older
langgraph can pick a langgraph-checkpoint or langgraph-prebuilt that fails at
import), so every version set pins all of them to releases that work together.

    nox                         # the default run: version sets, Pythons, lint
    nox -s "tests(versions='newest')"
    nox -s pythons              # the fix's tests on Python 3.10, 3.12 and 3.13
"""

from __future__ import annotations

import glob
import os

import nox

nox.options.error_on_missing_interpreters = False

# Interpreters installed by pyenv but not selected are not on PATH: offer them.
_pyenv = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin")))
if _pyenv:
    os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), *_pyenv])

VERSION_SETS: dict[str, list[str]] = {
    # the newest releases on the package index (langchain-core 1.8.4 needs a
    # langchain-protocol release the index does not carry yet)
    "newest": [
        "langgraph==1.2.24",
        "langchain-core==1.8.3",
        "langgraph-checkpoint==4.3.2",
        "langgraph-prebuilt==1.1.3",
        "langgraph-sdk==0.4.14",
    ],
    # the last langgraph that called langchain-core's cached function for every node
    "lg-0.3.15": [
        "langgraph==0.3.15",
        "langchain-core==0.3.45",
        "langgraph-checkpoint==2.1.2",
        "langgraph-prebuilt==0.1.8",
        "langgraph-sdk==0.1.74",
    ],
}

DEFAULT_PYTHON = "3.11"
nox.options.sessions = ["tests", "pythons", "lint"]


def install(session: nox.Session, versions: str, *extras: str) -> None:
    target = f".[{','.join(extras)}]" if extras else "."
    session.install(target, *VERSION_SETS[versions])


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize("versions", list(VERSION_SETS))
def tests(session: nox.Session, versions: str) -> None:
    """The whole test suite on one version set."""
    install(session, versions, "test")
    session.run("python", "-m", "langgraph_fixed", "--version")
    session.run("pytest", *session.posargs)


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
