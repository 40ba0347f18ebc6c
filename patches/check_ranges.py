"""Check that every patch series applies cleanly to every release its range names.

A series is a directory ``patches/<package>/<first>-<last>/`` (or
``<version>/`` for a single release) of ``NNNN-*.patch`` files, meant for every
release of ``<package>`` from ``<first>`` to ``<last>`` inclusive. For each such
release this script unpacks its sdist and, patch by patch, runs
``patch -p1 --dry-run --fuzz=0`` (which must exit 0) and then applies it for
real, so that later patches see earlier ones; then it byte-compiles every
patched file. It also checks that no release is claimed by two series::

    python patches/check_ranges.py                      # every package
    python patches/check_ranges.py langgraph --sdists /tmp/patch-sdists

Releases are listed with ``pip index versions``; sdists missing from
``--sdists`` are fetched with ``pip download --no-deps --no-binary :all:``
(slow the first time: pip prepares each sdist's metadata). ``--offline``
checks only the sdists already in the cache and lists no releases.
Exits 1 if any release in a range does not take its series cleanly.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

PATCHES = Path(__file__).resolve().parent
PACKAGES = ("langchain-core", "langgraph", "langchain", "langsmith")


@dataclass(frozen=True)
class Series:
    package: str
    first: Version
    last: Version
    directory: Path

    @property
    def patches(self) -> list[Path]:
        return sorted(self.directory.glob("[0-9][0-9][0-9][0-9]-*.patch"))

    def covers(self, version: Version) -> bool:
        return self.first <= version <= self.last

    def __str__(self) -> str:
        return f"{self.package} {self.directory.name}"


def all_series(package: str) -> list[Series]:
    found = []
    for directory in sorted((PATCHES / package).iterdir()):
        if not directory.is_dir():
            continue
        first, _, last = directory.name.partition("-")
        found.append(Series(package, Version(first), Version(last or first), directory))
    return sorted(found, key=lambda s: s.first)


def released_versions(package: str) -> list[Version]:
    """Every release on the package index (``pip index versions``)."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", package],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("Available versions:"))
    return sorted(Version(v.strip()) for v in line.split(":", 1)[1].split(","))


def sdist_path(cache: Path, package: str, version: Version) -> Path | None:
    stems = {package, package.replace("-", "_")}
    for stem in stems:
        candidate = cache / f"{stem}-{version}.tar.gz"
        if candidate.exists():
            return candidate
    return None


def cached_versions(cache: Path, package: str) -> list[Version]:
    stem = re.escape(package.replace("-", "_")).replace("_", "[-_]")
    pattern = re.compile(rf"^{stem}-(\d[^-]*)\.tar\.gz$")
    found = []
    for path in cache.glob("*.tar.gz"):
        match = pattern.match(path.name)
        if match:
            found.append(Version(match.group(1)))
    return sorted(found)


def download(cache: Path, package: str, version: Version) -> Path:
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"),
            *("--dest", str(cache), f"{package}=={version}"),
        ],
        check=True,
    )
    path = sdist_path(cache, package, version)
    if path is None:
        raise FileNotFoundError(f"pip download left no sdist of {package} {version} in {cache}")
    return path


def unpack(sdist: Path, dest: Path) -> Path:
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python < 3.10.12 / 3.11.4
            tar.extractall(dest)
    (root,) = [p for p in dest.iterdir() if p.is_dir()]
    return root


def patched_files(patch: Path) -> list[str]:
    return re.findall(r"^\+\+\+ b/(\S+)", patch.read_text(), flags=re.M)


def apply_series(series: Series, tree: Path) -> list[str]:
    """Dry-run then apply each patch of ``series`` in ``tree``; the problems found."""
    problems = []
    for patch in series.patches:
        for dry_run in (True, False):
            args = ["patch", "-p1", "--fuzz=0", "--batch", "--forward", "-i", str(patch)]
            done = subprocess.run(
                args + (["--dry-run"] if dry_run else []),
                cwd=tree,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                step = "--dry-run" if dry_run else "apply"
                problems.append(f"{patch.name}: patch {step} exit {done.returncode}: {done.stdout}")
                return problems
        for name in patched_files(patch):
            compiled = subprocess.run(
                [sys.executable, "-c", "import sys; compile(open(sys.argv[1]).read(), "
                 "sys.argv[1], 'exec')", str(tree / name)],
                capture_output=True,
                text=True,
            )  # fmt: skip
            if compiled.returncode != 0:
                problems.append(f"{patch.name}: {name} does not compile: {compiled.stderr}")
    return problems


def check_package(package: str, cache: Path, offline: bool) -> tuple[list[str], list[str]]:
    """(one summary line per series, failures) for one package."""
    series = all_series(package)
    for a, b in itertools.pairwise(series):
        if b.first <= a.last:
            return [], [f"{a} and {b} overlap"]
    versions = cached_versions(cache, package) if offline else released_versions(package)
    lines, failures = [], []
    for one in series:
        members = [v for v in versions if one.covers(v)]
        if not members:
            failures.append(f"{one}: no release in range")
            continue
        for version in members:
            sdist = sdist_path(cache, package, version) or download(cache, package, version)
            with tempfile.TemporaryDirectory() as tmp:
                tree = unpack(sdist, Path(tmp))
                failures += [f"{package} {version}: {p}" for p in apply_series(one, tree)]
        names = ", ".join(p.name for p in one.patches)
        lines.append(f"{one}: {len(members)} releases ({members[0]} ... {members[-1]}): {names}")
    return lines, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", default=list(PACKAGES))
    parser.add_argument("--sdists", type=Path, default=Path("/tmp/patch-sdists"))
    parser.add_argument("--offline", action="store_true", help="only the cached sdists")
    args = parser.parse_args(argv)
    if shutil.which("patch") is None:
        print("GNU patch is not installed", file=sys.stderr)
        return 2
    args.sdists.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for package in args.packages:
        lines, problems = check_package(package, args.sdists, args.offline)
        print("\n".join(lines))
        failures += problems
    if failures:
        print("\n".join(["FAILED:", *failures]), file=sys.stderr)
        return 1
    print("every release in every range takes its series cleanly (patch --fuzz=0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
