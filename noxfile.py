"""The version matrix: each session pins langgraph, langchain-core and their companions.

The version sets live in ``tests/version_sets.toml`` (with the traps that make
every companion need a pin); this file makes sessions of them.

    nox                         # the default run: every version set, Pythons, lint
    nox -s "tests(versions='newest')"
    nox -s tests matrix leak_table   # then rewrite the leak table in docs/versions.md
    nox -s pythons              # the fix's tests on Python 3.10, 3.12 and 3.13
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
import shutil
import tarfile
import time
from pathlib import Path

import nox
import tomllib

nox.options.error_on_missing_interpreters = False

# Interpreters installed by pyenv but not selected are not on PATH: offer them.
_pyenv = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin")))
if _pyenv:
    os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), *_pyenv])


#: The version sets (tests/version_sets.toml): name -> {distribution: version}.
_MATRIX = tomllib.loads(Path("tests/version_sets.toml").read_text())
ALL_SETS: dict[str, list[str]] = {
    name: [f"{dist}=={version}" for dist, version in pins.items() if dist != "full"]
    for name, pins in _MATRIX["sets"].items()
}
#: The sets the whole suite runs on (``tests``); the others run ``matrix``.
VERSION_SETS = {name: ALL_SETS[name] for name, pins in _MATRIX["sets"].items() if pins.get("full")}
MATRIX_SETS = {name: pins for name, pins in ALL_SETS.items() if name not in VERSION_SETS}
PYTHONS: dict[str, str] = _MATRIX["pythons"]
#: LangGraph's own server: a base set and the server's packages
SERVER: dict[str, str] = dict(_MATRIX["server"])

DEFAULT_PYTHON = "3.11"
nox.options.sessions = ["tests", "matrix", "pythons", "server", "lint", "patches"]


def install(session: nox.Session, versions: str, *extras: str) -> None:
    target = f".[{','.join(extras)}]" if extras else "."
    session.install(target, *ALL_SETS[versions])


LEAK_RESULTS = Path("build/leak-table")


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize("versions", list(VERSION_SETS))
def tests(session: nox.Session, versions: str) -> None:
    """The whole test suite on one version set, then the doctor's findings as JSON."""
    install(session, versions, "test", "bench")
    session.run("pytest", *session.posargs)
    doctor_and_scan(session, versions)


SCAN_RESULTS = Path("build/scan")


def doctor_and_scan(session: nox.Session, versions: str) -> None:
    """The doctor's leak check as JSON (the README's leak table), then the cache scan,
    which fails when this version set has a cache that may keep user objects and
    that nobody has judged."""
    session.run(
        "langgraph-fixed",
        "doctor",
        "--requests",
        "300",
        "--json",
        f"{LEAK_RESULTS}/{versions}.json",
    )
    session.run(
        "langgraph-fixed", "scan", "--fail-on-new", "--json", f"{SCAN_RESULTS}/{versions}.json"
    )


#: What the matrix sessions run: the fix's behaviour on each version set. The
#: process-level tests (uvicorn, pools, typing) run in ``tests`` only.
MATRIX_TESTS = [
    "tests/test_leaks.py",
    "tests/test_scan.py",
    "tests/test_core.py",
    "tests/test_differential.py",
    "tests/test_subgraphs.py",
    "tests/test_other_caches.py",
    "tests/test_dropin.py",
    "tests/test_truth.py",
    "tests/test_install.py",
    "-k",
    "not type_checkers",
]


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize("versions", list(MATRIX_SETS))
def matrix(session: nox.Session, versions: str) -> None:
    """The leak, core and differential tests on one more version set, and the doctor's JSON."""
    install(session, versions, "test")
    session.run("pytest", *(session.posargs or MATRIX_TESTS))
    doctor_and_scan(session, versions)


@nox.session(python=False)
def leak_table(session: nox.Session) -> None:
    """Rewrite the leak table of docs/versions.md from the JSON the version-set sessions wrote."""
    results = {}
    for name in ALL_SETS:
        path = LEAK_RESULTS / f"{name}.json"
        if not path.exists():
            session.error(f"{path} is missing: run `nox -s tests matrix leak_table`")
        results[name] = json.loads(path.read_text())
    page = Path("docs/versions.md")
    table = render_leak_table(results)
    text, count = re.subn(
        r"(<!-- leak-table:begin -->\n).*?(<!-- leak-table:end -->)",
        lambda m: m.group(1) + table + m.group(2),
        page.read_text(),
        flags=re.S,
    )
    if count != 1:
        session.error(f"{page} has no leak-table markers")
    page.write_text(text)
    session.log(f"{page} leak table rewritten from {len(results)} version sets")


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
        description = str(scenario["description"]).replace("|", "\\|")
        lines.append(f"| {description} | " + " | ".join(cells) + " |")
    note = (
        f"\nPayloads alive after {requests} requests and `gc.collect()`, upstream → with the "
        "fix. Generated by `nox -s tests matrix leak_table` from `langgraph-fixed doctor --json`.\n"
    )
    return "\n".join(lines) + "\n" + note


@nox.session
@nox.parametrize(("python", "versions"), list(PYTHONS.items()))
def pythons(session: nox.Session, versions: str) -> None:
    """The fix's own tests on the other supported Pythons."""
    install(session, versions, "test")
    args = session.posargs or [
        "tests/test_differential.py",
        "tests/test_core.py",
        "tests/test_weakcache.py",
        "tests/test_engine.py",
        "tests/test_hooks.py",
        "tests/test_leaks.py",
    ]
    session.run("pytest", *args)


@nox.session(python=DEFAULT_PYTHON)
def server(session: nox.Session) -> None:
    """`langgraph dev` four ways (plain, `run`, LANGGRAPH_FIXED=1, apply() in the graph
    module), driven with langgraph-sdk; then the table of what each kept alive."""
    base = SERVER["base"]
    packages = [f"{name}=={version}" for name, version in SERVER.items() if name != "base"]
    install(session, base, "test")
    session.install(*packages, *ALL_SETS[base])
    results = Path("build/server.jsonl").resolve()
    results.parent.mkdir(parents=True, exist_ok=True)
    results.unlink(missing_ok=True)
    session.run("pytest", "tests/test_server.py", env={"LGF_SERVER_RESULTS": str(results)})
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    lines = ["way | runs | payloads made | alive after gc | RSS above warm-up | fix"]
    lines += [
        f"{r['way']} | {r['runs']} | {r['created']} | {r['alive']} | "
        f"{r['rss_above_warm_up_mib']} MiB | {r['fix']}"
        for r in rows
    ]
    session.log("langgraph dev, each way:\n  " + "\n  ".join(lines))


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, ruff format, mypy --strict, the import layers, and the docs (--strict),
    against the newest versions."""
    install(session, "newest", "lint", "test", "docs")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "--strict", "langgraph_fixed")
    session.run("lint-imports")
    session.run("mkdocs", "build", "--strict", "--site-dir", "build/site")


# Not in nox.options.sessions: it downloads two sdists and runs two upstream
# suites twice each (3 to 4 minutes a version set, 7 after a flaky rerun):
#     nox -s upstream
#     nox -s "upstream(versions='newest')" -- langgraph    # one suite only

#: What upstream's own suites import, from their pyproject's test dependency
#: groups, pinned to releases that resolve with each version set's pins.
UPSTREAM_TEST_DEPS: dict[str, list[str]] = {
    "newest": [
        "pytest==9.2.0",  # langchain-core 1.8: pytest>=9.0.3,<10
        "pytest-timeout==2.4.0",  # ours: no test may hang the session
        "pytest-asyncio==1.5.0",  # langchain-core: asyncio_mode = "auto"
        "pytest-mock==3.17.0",
        "syrupy==5.5.3",  # langchain-core 1.8: >=5,<6
        "freezegun==1.5.5",
        "blockbuster==1.5.29",  # langchain-core's conftest: >=1.5.18,<1.6
        "grandalf==0.8",  # Graph.draw_ascii in runnables/test_graph.py
        "httpx==0.28.1",
        # langgraph's conftest imports every checkpointer, cache and store,
        # whether or not NO_DOCKER leaves Postgres and Redis out of the params
        "langgraph-checkpoint-sqlite==3.1.2",
        "langgraph-checkpoint-postgres==3.2.0",
        "psycopg[binary]==3.3.9",
        "psycopg-pool==3.3.3",
        "redis==8.1.0",
        "pycryptodome==4.4.0",  # the sqlite_aes checkpointer
    ],
    "lg-0.3.15": [
        "pytest==8.4.2",  # langchain-core 0.3: pytest>=8,<9
        "pytest-timeout==2.4.0",
        "pytest-asyncio==0.26.0",  # langchain-core 0.3: >=0.21.1,<1
        "pytest-mock==3.17.0",
        "syrupy==4.9.1",  # langchain-core 0.3: >=4.0.2,<5
        "freezegun==1.5.5",
        "blockbuster==1.5.29",
        "grandalf==0.8",
        "httpx==0.28.1",
        "langgraph-checkpoint-sqlite==2.0.11",
        "langgraph-checkpoint-postgres==3.0.5",
        "psycopg[binary]==3.3.9",
        "psycopg-pool==3.3.3",
        "pycryptodome==4.4.0",
    ],
}

# langgraph 0.4.7's pins (langgraph-checkpoint 2.0.26) take older checkpointers
UPSTREAM_TEST_DEPS["lg-0.4.7"] = [
    *(d for d in UPSTREAM_TEST_DEPS["lg-0.3.15"] if not d.startswith("langgraph-checkpoint-")),
    "langgraph-checkpoint-sqlite==2.0.10",
    "langgraph-checkpoint-postgres==2.0.23",
]

# langgraph 0.2.69's pins (langgraph-checkpoint 2.0.10) take older checkpointers
UPSTREAM_TEST_DEPS["lg-0.2.69"] = [
    *(d for d in UPSTREAM_TEST_DEPS["lg-0.3.15"] if not d.startswith("langgraph-checkpoint-")),
    "langgraph-checkpoint-sqlite==2.0.3",
    "langgraph-checkpoint-postgres==2.0.13",
]

#: distribution -> (its test paths, extra pytest arguments). Postgres and Redis
#: need Docker: NO_DOCKER=true leaves them out of langgraph >= 0.4's params;
#: langgraph 0.3 has no NO_DOCKER, so their ids are deselected by name.
UPSTREAM_SUITES: dict[str, tuple[list[str], list[str]]] = {
    "langchain-core": (["tests/unit_tests/runnables"], []),
    "langgraph": (["tests/test_pregel.py"], ["-k", "not postgres and not redis"]),
}

UPSTREAM_PYTEST_ARGS = [
    "-p",
    "no:cacheprovider",
    "-q",
    "--tb=no",  # the tracebacks are in the junit reports
    "--timeout=300",
]
#: after a difference, how many more times to run the suite both ways, to tell
#: a flaky upstream test from one the fixes change
UPSTREAM_RERUNS = 2


def _unpack_tests(sdist: Path, dest: Path) -> bool:
    """Extract the sdist's ``tests/`` and ``pyproject.toml`` (not the package) into ``dest``.

    The package source stays out so that the tests import the installed
    package, the one the fixes patch. False when the sdist ships no tests.
    """
    with tarfile.open(sdist) as tar:
        wanted = []
        for member in tar.getmembers():
            _, _, inner = member.name.partition("/")
            if inner == "pyproject.toml" or inner.startswith("tests/"):
                member.name = inner
                wanted.append(member)
        if not any(m.name.startswith("tests/") for m in wanted):
            return False
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=wanted, filter="data")
        else:  # Python < 3.10.12 / 3.11.4
            tar.extractall(dest, members=wanted)
    return True


#: The version sets upstream's suites run on: langgraph 0.4.7 is the newest release
#: with the SchemaCoercionMapper and type-adapter fixes, and its sdist ships tests;
#: the 0.2 line's first and last supported releases (their sdists ship no tests/:
#: UPSTREAM_TESTS_LANGGRAPH_0_2_69 / _0_2_76 name a checkout of the release tag).
UPSTREAM_SETS = [*VERSION_SETS, "lg-0.4.7", "lg-0.2.69", "lg-0.2.76"]


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize("versions", UPSTREAM_SETS)
def upstream(session: nox.Session, versions: str) -> None:
    """Upstream's own test suites, without and with the fixes: every outcome must match."""
    wanted = session.posargs or list(UPSTREAM_SUITES)
    unknown = set(wanted) - set(UPSTREAM_SUITES)
    if unknown:
        session.error(f"unknown suites {sorted(unknown)}; known: {list(UPSTREAM_SUITES)}")
    # a set without its own list takes the 0.3.x one (langchain-core 0.3 pins)
    test_deps = UPSTREAM_TEST_DEPS.get(versions, UPSTREAM_TEST_DEPS["lg-0.3.15"])
    session.install(".", *ALL_SETS[versions], *test_deps)
    # the installed versions, exactly: their sdists carry the matching tests
    out = session.run(
        "python",
        "-c",
        "import importlib.metadata as m, json, sys;"
        "print(json.dumps({d: m.version(d) for d in sys.argv[1:]}))",
        *wanted,
        silent=True,
    )
    if not isinstance(out, str):  # --install-only
        return
    installed: dict[str, str] = json.loads(out.strip().splitlines()[-1])
    # fail here, before any test, if a fix is needed but cannot be applied
    session.run(
        "python",
        "-c",
        "import langgraph_fixed; from langgraph_fixed.diagnostics.caches import import_targets; "
        "import_targets(); print(langgraph_fixed.apply(strict=True))",
    )

    compare_path = Path("tests/upstream/compare_outcomes.py").resolve()
    spec = importlib.util.spec_from_file_location("compare_outcomes", compare_path)
    assert spec is not None and spec.loader is not None
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)

    tmp = Path(session.create_tmp()).resolve()
    sdists = tmp / "sdists"
    session.run(
        "python",
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--dest",
        str(sdists),
        *(f"{d}=={v}" for d, v in installed.items()),
    )
    summary: list[str] = []
    failed: list[str] = []
    for dist, version in installed.items():
        paths, extra = UPSTREAM_SUITES[dist]
        label = f"{dist} {version} {' '.join(paths)}"
        rundir = tmp / f"{dist}-{version}"
        shutil.rmtree(rundir, ignore_errors=True)
        stem = dist.replace("-", "_")
        prefix = f"{stem}_{version}".lower()
        (sdist,) = [
            p for p in sdists.iterdir() if p.name.lower().replace("-", "_").startswith(prefix)
        ]
        if not _unpack_tests(sdist, rundir):
            # e.g. langgraph 0.3.x (built with poetry): UPSTREAM_TESTS_LANGGRAPH_0_3_15
            # may name the package folder (libs/langgraph) of a checkout of the release
            variable = f"UPSTREAM_TESTS_{stem}_{version}".upper().replace(".", "_")
            checkout = os.environ.get(variable)
            if not checkout:
                session.warn(f"{label}: {sdist.name} ships no tests/ and {variable} is unset")
                summary.append(f"{label}: SKIPPED (no tests/ in {sdist.name}; see {variable})")
                continue
            session.log(f"{label}: {sdist.name} ships no tests/: tests from {checkout}")
            shutil.copytree(Path(checkout, "tests"), rundir / "tests")
            shutil.copy(Path(checkout, "pyproject.toml"), rundir)
        plain_reports: list[str] = []
        fixed_reports: list[str] = []
        seconds = {"plain": 0.0, "fixed": 0.0}
        for attempt in range(1 + UPSTREAM_RERUNS):
            for mode, reports in (("plain", plain_reports), ("fixed", fixed_reports)):
                report = rundir / f"junit-{mode}-{attempt}.xml"
                plugin = ["-p", "langgraph_fixed.testing.apply"] if mode == "fixed" else []
                started = time.monotonic()
                with session.chdir(rundir):
                    session.run(
                        "pytest",
                        *UPSTREAM_PYTEST_ARGS,
                        *plugin,
                        *extra,
                        f"--junitxml={report}",
                        *paths,
                        # NO_DOCKER: langgraph's Postgres and Redis params;
                        # LANGGRAPH_FIXED: the start-up hook must stay out of both runs
                        env={"NO_DOCKER": "true", "LANGGRAPH_FIXED": None},
                        success_codes=[0, 1],  # failing tests are compared, not fatal
                    )
                seconds[mode] += time.monotonic() - started
                reports.append(str(report))
            args = ["--plain", *plain_reports, "--fixed", *fixed_reports, "--label", label]
            verdict = compare.main(args)
            if verdict != 1:
                break
            if attempt < UPSTREAM_RERUNS:
                session.log(f"{label}: outcomes differ; running the suite again both ways")
        runs = len(plain_reports)
        times = f"{seconds['plain'] / runs:.0f} s without, {seconds['fixed'] / runs:.0f} s with"
        if verdict == 2:
            summary.append(f"{label}: NO REPORT (a run stopped before its tests; {times})")
            failed.append(label)
            continue
        first = [compare.counts(compare.load(Path(r[0]))) for r in (plain_reports, fixed_reports)]
        word = "DIFFERENT" if verdict else "identical" if runs == 1 else "identical but flaky"
        summary.append(
            f"{label}: {word}, {runs} run(s) a side ({times}); "
            f"without: {first[0]}; with: {first[1]}"
        )
        if verdict:
            failed.append(label)
    session.log("upstream suites, without and with the fixes:\n  " + "\n  ".join(summary))
    if failed:
        session.error(f"the fixes change upstream test outcomes: {'; '.join(failed)}")


# ---- patches: the fixes as plain upstream diffs (patches/README.md) ----------
# Part of the default run (without --upstream). Each session installs a version
# set WITHOUT langgraph-fixed, shows the leak on the unpatched sdists, then
# builds and installs the sdists with patches/<package>/<series>/ applied and
# shows none. About 1 minute a set (6 to 7 minutes for all, pip cache warm); with
# --upstream, 2 to 4 minutes a set:
#     nox -s patches
#     nox -s "patches(versions='newest')" -- --upstream    # and upstream's suites

#: version set -> extra requirements (the langchain agents package where its
#: series applies); each set's own pins choose which series are applied
PATCH_SETS: dict[str, list[str]] = {
    # core 1.6.7-1.8.4, langgraph 1.2.23-1.2.24, langchain 1.3.11-1.5.2 (pinned by the set)
    "newest": [],
    "lg-0.3.15": [],  # core 0.3.41-0.3.49, langgraph 0.3.9-0.3.15
    # langgraph 0.2 has no cache of its own: the core series alone (0.3.19-0.3.31,
    # 0.3.41-0.3.49) must free what its nodes leak
    "lg-0.2.69": [],
    "lg-0.2.76": [],
    "lg-0.3.34": [],  # core 0.3.53-0.3.86, langgraph 0.3.32-0.4.0
    # core 1.2.6-1.4.3, langgraph 0.6.0-1.2.22, langsmith 0.11.0-0.14.9 (the root layout)
    "lg-1.1.10": ["langsmith==0.14.9"],
    # langgraph 0.3.x sdists ship no tests/; 0.4.7 does (and has all three langgraph patches)
    "lg-0.4.7": [],  # langgraph 0.4.1-0.4.7, core 0.3.53-0.3.86
    # langgraph 0.5.0-0.5.4, core 0.3.53-0.3.86, langsmith 0.14.10-0.15.1 (what pip picks)
    "lg-0.5.4": ["langsmith==0.15.1"],
}
PATCHES_DIR = Path("patches")


def _pins(requirements: list[str]) -> dict[str, str]:
    return dict(r.split("==", 1) for r in requirements if "==" in r)


def _series_for(dist: str, version: str) -> Path | None:
    """The series directory of ``patches/<dist>/`` whose range holds ``version``."""
    from packaging.version import Version

    if not (PATCHES_DIR / dist).is_dir():
        return None
    wanted = Version(version)
    for directory in sorted((PATCHES_DIR / dist).iterdir()):
        first, _, last = directory.name.partition("-")
        if Version(first) <= wanted <= Version(last or first):
            return directory
    return None


def _sdist_of(dist: str, version: str, directory: Path) -> Path:
    wanted = f"{dist}-{version}.tar.gz".replace("_", "-").lower()
    (sdist,) = [p for p in directory.iterdir() if p.name.replace("_", "-").lower() == wanted]
    return sdist


def _unpack(sdist: Path, dest: Path) -> None:
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python < 3.10.12 / 3.11.4
            tar.extractall(dest)


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize("versions", list(PATCH_SETS))
def patches(session: nox.Session, versions: str) -> None:
    """Unpatched sdists leak; the same sdists with patches/ applied do not (no langgraph-fixed)."""
    run_upstream = "--upstream" in session.posargs
    extra = PATCH_SETS[versions]
    overridden = _pins(extra)  # an extra pin replaces the set's pin of that distribution
    requirements = [*(r for r in ALL_SETS[versions] if r.split("==")[0] not in overridden), *extra]
    session.install(*requirements)
    if run_upstream:
        # the test dependencies of the nearest set that has them (by langchain-core major)
        nearest = (
            "newest" if _pins(requirements)["langchain-core"].startswith("1.") else "lg-0.3.15"
        )
        session.install(*UPSTREAM_TEST_DEPS.get(versions, UPSTREAM_TEST_DEPS[nearest]))
    tmp = Path(session.create_tmp()).resolve()
    with session.chdir(tmp):  # not the source tree, whose langgraph_fixed/ would be found
        session.run(
            "python",
            "-c",
            "import importlib.util as u; assert not u.find_spec('langgraph_fixed'), 'installed'",
        )
    sdists, results = tmp / "sdists", tmp / "results"
    results.mkdir(exist_ok=True)
    targets: dict[str, tuple[str, Path, Path]] = {}  # dist -> (version, series, sdist)
    for dist, version in _pins(requirements).items():
        series = _series_for(dist, version)
        if series is None:
            continue
        session.run(
            "python",
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--dest",
            str(sdists),
            f"{dist}=={version}",
        )
        targets[dist] = (version, series, _sdist_of(dist, version, sdists))
    if not targets:
        session.error(f"no series in {PATCHES_DIR} applies to {versions}")
    session.log("series: " + ", ".join(f"{d} {v}: {s}" for d, (v, s, _) in targets.items()))

    # 1. the unpatched releases (from the package index) leak
    session.run(
        "python",
        "patches/leak_check.py",
        "--expect",
        "leak",
        "--json",
        str(results / "unpatched.json"),
        env={"LANGGRAPH_FIXED": None},
    )

    # 2. unpack each sdist twice; patch one copy: --dry-run first, then for real
    wheels = tmp / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    trees: dict[str, tuple[Path, Path]] = {}
    for dist, (_, series, sdist) in targets.items():
        plain, patched = tmp / f"{dist}-plain", tmp / f"{dist}-patched"
        for dest in (plain, patched):
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir()
            _unpack(sdist, dest)
        (plain_root,) = list(plain.iterdir())
        (patched_root,) = list(patched.iterdir())
        for patch in sorted(series.glob("[0-9]*.patch")):
            for dry_run in (["--dry-run"], []):
                session.run(
                    "patch",
                    "-p1",
                    "--fuzz=0",
                    "--batch",
                    "--forward",
                    *dry_run,
                    "-d",
                    str(patched_root),
                    "-i",
                    str(patch.resolve()),
                    external=True,
                )
        session.run(
            "python", "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(patched_root)
        )
        trees[dist] = (plain_root, patched_root)

    def upstream_suites(mode: str) -> dict[str, Path]:
        """Upstream's suites on the current install: dist -> junit report."""
        reports = {}
        for dist, (version, _, sdist) in targets.items():
            if dist not in UPSTREAM_SUITES:  # langchain: no suite of its own configured
                continue
            rundir = tmp / f"{dist}-tests"
            if mode == "plain":
                shutil.rmtree(rundir, ignore_errors=True)
                if not _unpack_tests(sdist, rundir):
                    session.warn(f"{dist} {version}: {sdist.name} ships no tests/: not run")
                    continue
            elif not rundir.exists():
                continue
            paths, extra = UPSTREAM_SUITES[dist]
            report = rundir / f"junit-{mode}.xml"
            with session.chdir(rundir):
                session.run(
                    "pytest",
                    *UPSTREAM_PYTEST_ARGS,
                    *extra,
                    f"--junitxml={report}",
                    *paths,
                    env={"NO_DOCKER": "true", "LANGGRAPH_FIXED": None},
                    success_codes=[0, 1],
                )
            reports[dist] = report
        return reports

    plain_reports = upstream_suites("plain") if run_upstream else {}

    # 3. the patched builds: no payload survives, and the functions agree
    session.run(
        "python",
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--force-reinstall",
        *sorted(str(w) for w in wheels.glob("*.whl")),
    )
    session.run(
        "python",
        "patches/leak_check.py",
        "--expect",
        "clean",
        "--json",
        str(results / "patched.json"),
        env={"LANGGRAPH_FIXED": None},
    )
    if "langchain-core" in targets:
        session.run(
            "python",
            "patches/consistency_check.py",
            "--unpatched",
            str(trees["langchain-core"][0]),
            env={"LANGGRAPH_FIXED": None},
        )

    if run_upstream:
        fixed_reports = upstream_suites("patched")
        compare_path = Path("tests/upstream/compare_outcomes.py").resolve()
        spec = importlib.util.spec_from_file_location("compare_outcomes", compare_path)
        assert spec is not None and spec.loader is not None
        compare = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(compare)
        failed = []
        for dist, plain_report in plain_reports.items():
            label = f"{dist} {targets[dist][0]} {' '.join(UPSTREAM_SUITES[dist][0])}"
            args = ["--plain", str(plain_report), "--fixed", str(fixed_reports[dist])]
            verdict = compare.main([*args, "--label", label])
            counts = [compare.counts(compare.load(r)) for r in (plain_report, fixed_reports[dist])]
            session.log(f"{label}: unpatched {counts[0]}; patched {counts[1]}")
            if verdict:
                failed.append(label)
        if failed:
            session.error(f"the patches change upstream test outcomes: {'; '.join(failed)}")


# ---- end of the patches block -------------------------------------------------
