"""patches/: every patch file is a well-formed ``git format-patch`` file for its series.

Offline and fast: it reads the files only. That each series applies to every
release in its range is checked by ``patches/check_ranges.py`` (network, sdists)
and ``nox -s patches`` (builds, leak scenarios).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from packaging.version import Version

PATCHES = Path(__file__).resolve().parent.parent / "patches"
SERIES = sorted(p for p in PATCHES.glob("*/*") if p.is_dir() and p.parent.name != "__pycache__")
PATCH_FILES = sorted(PATCHES.glob("*/*/*.patch"))
PACKAGES = ("langchain-core", "langgraph", "langchain", "langsmith")
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def version_range(series: Path) -> tuple[Version, Version]:
    first, _, last = series.name.partition("-")
    return Version(first), Version(last or first)


def test_there_are_series_for_every_package() -> None:
    assert {s.parent.name for s in SERIES} == set(PACKAGES)
    assert all(list(s.glob("*.patch")) for s in SERIES), "an empty series directory"


@pytest.mark.parametrize("package", PACKAGES)
def test_ranges_do_not_overlap(package: str) -> None:
    ranges = sorted(version_range(s) for s in SERIES if s.parent.name == package)
    assert all(first <= last for first, last in ranges)
    for (_, last), (first, _) in itertools.pairwise(ranges):
        assert last < first


@pytest.mark.parametrize("patch", PATCH_FILES, ids=lambda p: str(p.relative_to(PATCHES)))
def test_patch_is_well_formed(patch: Path) -> None:
    assert re.fullmatch(r"\d{4}-[a-z0-9-]+\.patch", patch.name)
    text = patch.read_text()
    header, separator, rest = text.partition("\n---\n")
    assert separator, "no '---' between the message and the diff"
    assert header.startswith("From 0000000000000000000000000000000000000000 ")
    assert re.search(r"^From: .+ <.+>$", header, flags=re.M)
    assert re.search(r"^Date: ", header, flags=re.M)
    assert re.search(r"^Subject: \[PATCH[^\]]*\] \S", header, flags=re.M)
    message = header.split("\n\n", 1)[1]
    assert len(message.split()) > 40, "the message must explain the leak and the fix"
    package, series = patch.parent.parent.name, patch.parent.name
    first, last = version_range(patch.parent)
    assert f"Applies to {package} {first} - {last}" in message.replace("\n", " ")

    files = re.findall(r"^diff --git a/(\S+) b/(\S+)$", rest, flags=re.M)
    assert files and all(a == b for a, b in files)
    for name, _ in files:
        assert f"\n--- a/{name}\n+++ b/{name}\n" in rest
        assert name.endswith(".py") and not name.startswith("/"), name
    # each hunk holds as many lines as its header says
    lines = rest.splitlines()
    for index, line in enumerate(lines):
        match = HUNK.match(line)
        if not match:
            continue
        old = int(match.group(2) or 1)
        new = int(match.group(4) or 1)
        for body in lines[index + 1 :]:
            if old == new == 0:
                break
            assert body[:1] in (" ", "-", "+"), (patch.name, line, body)
            if body[:1] in (" ", "-"):
                old -= 1
            if body[:1] in (" ", "+"):
                new -= 1
        assert old == new == 0, (patch.name, line)
    assert series


def test_readme_names_every_series_and_patch() -> None:
    readme = (PATCHES / "README.md").read_text()
    for series in SERIES:
        first, last = version_range(series)
        row = next(
            (
                line
                for line in readme.splitlines()
                if f"`{series.parent.name}/{series.name}/`" in line
            ),
            None,
        )
        assert row is not None, f"README has no row for {series.parent.name}/{series.name}"
        span = f"{first} - {last}" if first != last else f"{first}"
        assert span in row, (row, span)
        for patch in series.glob("*.patch"):
            assert patch.name[:4] in row and patch.stem[5:] in row, (row, patch.name)


def added_code(patch: Path) -> str:
    """The lines a patch adds, without its import lines (whose context differs)."""
    diff = patch.read_text().partition("\n---\n")[2]
    added = [
        line[1:]
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    return "\n".join(x for x in added if not re.match(r"(import |from \S+ import )", x))


@pytest.mark.parametrize(
    ("package", "fix"),
    [
        ("langchain-core", "model-factory-cache"),
        ("langgraph", "model-factory-cache"),
        ("langgraph", "schema-type-adapters"),
        ("langsmith", "pydantic-serializers"),
    ],
)
def test_a_fix_adds_the_same_code_in_every_series(package: str, fix: str) -> None:
    patches = sorted(PATCHES.glob(f"{package}/*/[0-9][0-9][0-9][0-9]-{fix}.patch"))
    assert len(patches) > 1
    variants = {added_code(p) for p in patches}
    assert len(variants) == 1, [p.parent.name for p in patches]


def test_the_model_factory_fix_is_the_same_in_both_packages() -> None:
    """langgraph's twin differs only in names its module already imports."""
    (core,) = {added_code(p) for p in PATCHES.glob("langchain-core/*/*-model-factory-cache.patch")}
    (graph,) = {added_code(p) for p in PATCHES.glob("langgraph/*/*-model-factory-cache.patch")}
    assert (
        core.replace("pydantic.fields.FieldInfo", "FieldInfo").replace(
            "Callable[", "typing.Callable["
        )
        == graph
    )
