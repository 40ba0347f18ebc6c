"""Tables that mirror the code, generated from it: the MkDocs hook, and the README's table.

``mkdocs build`` calls :func:`on_page_markdown` for every page; a line
``<!-- generated: NAME -->`` is replaced by the table ``NAME`` renders from the
registry of fixes, the known-safe caches, or the nox version sets. The README
is not built: its tested-versions table sits between markers, and
``tests/test_versions.py`` checks it against :func:`tested_table` (run this file
to rewrite it: ``python docs/hooks.py``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomllib

ROOT = Path(__file__).resolve().parent.parent
VERSION_SETS = ROOT / "tests" / "version_sets.toml"
README = ROOT / "README.md"
MARKER = re.compile(r"^<!-- generated: (\w+) -->$", re.M)
README_TABLE = re.compile(r"(<!-- tested:begin -->\n).*?(<!-- tested:end -->)", re.S)


def version_sets() -> dict[str, dict[str, Any]]:
    sets: dict[str, dict[str, Any]] = tomllib.loads(VERSION_SETS.read_text())["sets"]
    return sets


def pythons() -> dict[str, str]:
    found: dict[str, str] = tomllib.loads(VERSION_SETS.read_text())["pythons"]
    return found


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def tested_versions(dist: str) -> list[str]:
    """The releases of ``dist`` the version sets pin, oldest first."""
    found = {pins[dist] for pins in version_sets().values() if dist in pins}
    return sorted(found, key=_key)


def _span(versions: list[str]) -> str:
    if not versions:
        return "-"
    return versions[0] if len(versions) == 1 else f"{versions[0]} - {versions[-1]}"


def tested_table() -> str:
    """The README's table: what the version sets run, per distribution."""
    all_pythons = sorted({"3.11", *pythons()}, key=_key)
    rows = [
        ("langgraph", _span(tested_versions("langgraph"))),
        ("langchain-core", _span(tested_versions("langchain-core"))),
        ("langchain (`create_agent`)", _span(tested_versions("langchain"))),
        ("Python", _span(all_pythons)),
    ]
    lines = ["| | tested on |", "|---|---|"]
    lines += [f"| {name} | {span} |" for name, span in rows]
    count = len(version_sets())
    lines.append(
        f"\n{count} version sets, each pinning every companion package: "
        "[the matrix](docs/versions.md)."
    )
    return "\n".join(lines) + "\n"


def fixes_table() -> str:
    """One row per fix: what it replaces, where the leak is, where it is tested."""
    from langgraph_fixed.fixes import FIXES

    lines = [
        "| fix | replaces | leaks in | tested on | the fix |",
        "|---|---|---|---|---|",
    ]
    for fix in FIXES:
        leaks = f"{fix.applies_to.dist} `{fix.applies_to.specifier}`"
        tested = f"{fix.tested.dist} {_span([fix.tested.since or '', fix.tested.through or ''])}"
        lines.append(f"| `{fix.name}` | `{fix.target}` | {leaks} | {tested} | {fix.summary} |")
    return "\n".join(lines) + "\n"


def census_table() -> str:
    """Every cache looked at: the ones the fixes cover, then the ones known to be safe."""
    from langgraph_fixed.diagnostics.caches import KNOWN_SAFE
    from langgraph_fixed.fixes import FIXES

    lines = ["| cache | verdict | why |", "|---|---|---|"]
    for fix in FIXES:
        caches = ", ".join(f"`{fix.module}.{name}`" for name in fix.covers)
        leaks = f"{fix.applies_to.dist} `{fix.applies_to.specifier}`"
        lines.append(f"| {caches} | leaks in {leaks}; **fixed** by `{fix.name}` | {fix.summary} |")
    for location, why in KNOWN_SAFE.items():
        name = location.replace(":", ".")
        lines.append(f"| `{name}` | safe | {why.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def matrix_table() -> str:
    """The version sets, as nox runs them."""
    sets = version_sets()
    dists = ["langgraph", "langchain-core", "langgraph-checkpoint", "langgraph-prebuilt"]
    dists += ["langgraph-sdk", "langchain"]
    lines = ["| set | suite | " + " | ".join(dists) + " |", "|---" * (len(dists) + 2) + "|"]
    for name, pins in sets.items():
        suite = "whole" if pins.get("full") else "fix"
        cells = [pins.get(dist, "-") for dist in dists]
        lines.append(f"| `{name}` | {suite} | " + " | ".join(cells) + " |")
    others = ", ".join(f"{python} ({name})" for python, name in pythons().items())
    lines.append(f"\nOn Python 3.11; the fix's own tests also on {others}.")
    return "\n".join(lines) + "\n"


TABLES: dict[str, Callable[[], str]] = {
    "fixes": fixes_table,
    "census": census_table,
    "matrix": matrix_table,
    "tested": tested_table,
}


def render(markdown: str) -> str:
    """``markdown`` with every ``<!-- generated: NAME -->`` line replaced by its table."""

    def table(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in TABLES:
            raise KeyError(f"no generated table called {name!r}; known: {sorted(TABLES)}")
        return TABLES[name]().rstrip("\n")

    return MARKER.sub(table, markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """MkDocs hook: the generated tables, from the code of this checkout."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return render(markdown)


def readme_with_table(text: str) -> str:
    new, count = README_TABLE.subn(lambda m: m.group(1) + tested_table() + m.group(2), text)
    if count != 1:
        raise ValueError("README.md has no tested:begin / tested:end markers")
    return new


if __name__ == "__main__":
    README.write_text(readme_with_table(README.read_text()))
    print(f"{README}: tested-versions table rewritten from {VERSION_SETS.name}")
