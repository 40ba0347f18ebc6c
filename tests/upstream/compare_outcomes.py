"""Compare the per-test outcomes of pytest runs without and with the fixes.

Used by the ``upstream`` nox session: upstream's own test suites run unpatched
and with ``-p langgraph_fixed.testing.apply``, each run writing a junit report
(``--junitxml``), and the fixes must change no test's outcome::

    python tests/upstream/compare_outcomes.py --plain a.xml --fixed b.xml --label core

Prints the counts of each run, the tests that fail the same way in both, and
every test whose outcome differs. Given more than one run a side (the same
suite run again after a difference), a test whose outcomes without the fixes
and with them have one in common is reported as flaky; only a test whose
outcomes never meet counts as a difference.

Exits 0 when no test's outcome differs (flaky ones aside), 1 when some do,
2 when a report is missing, unreadable or holds no test (a run that stopped
before its tests, as a fix that cannot be applied makes it with ``strict``).

A helper script, not a test module: pytest collects ``test_*.py`` files only.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

#: the order in which counts are printed
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
#: outcomes that are not a problem in themselves
QUIET = ("passed", "skipped", "xfailed")
ABSENT = "absent"

#: test id -> (outcome, first line of its message)
Report = dict[str, tuple[str, str]]


class ReportError(Exception):
    """A junit report that cannot be compared."""


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0][:160] if lines else ""


def _outcome(case: ET.Element) -> tuple[str, str]:
    """The outcome of one ``<testcase>``, which holds at most a failure and an error."""
    kinds: set[str] = set()
    message = ""
    for child in case:
        if child.tag == "skipped":
            kinds.add("xfailed" if child.get("type") == "pytest.xfail" else "skipped")
        elif child.tag in ("failure", "error"):
            strict_xpass = "[XPASS(strict)]" in (child.get("message") or "")
            kinds.add("xpassed" if strict_xpass else child.tag.replace("failure", "failed"))
        else:
            continue
        message = message or _first_line(child.get("message") or child.text)
    # a failed call and an error in its teardown: one id, both kinds
    return "+".join(sorted(kinds)) or "passed", message


def load(path: Path) -> Report:
    """Test id (``classname::name``) to outcome, for every test in a junit report."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ReportError(f"{path}: cannot read the junit report ({exc})") from exc
    report: Report = {}
    seen: Counter[str] = Counter()
    for case in root.iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        seen[test_id] += 1
        if seen[test_id] > 1:  # the same id twice: keep both, numbered
            test_id = f"{test_id}#{seen[test_id]}"
        report[test_id] = _outcome(case)
    if not report:
        raise ReportError(f"{path}: the report holds no test")
    return report


def counts(report: Report) -> str:
    """``passed=10 failed=1 ...`` in a fixed order; absent kinds left out."""
    tally = Counter(outcome for outcome, _ in report.values())
    known = [f"{kind}={tally.pop(kind)}" for kind in OUTCOMES if kind in tally]
    return " ".join([*known, *(f"{kind}={n}" for kind, n in sorted(tally.items()))])


def _outcomes(reports: Sequence[Report], test_id: str) -> list[str]:
    return [report.get(test_id, (ABSENT, ""))[0] for report in reports]


def _message(reports: Sequence[Report], test_id: str) -> str:
    return next((r[test_id][1] for r in reports if r.get(test_id, ("", ""))[1]), "")


def judge(
    plain: Sequence[Report], fixed: Sequence[Report]
) -> tuple[list[str], list[str], list[str]]:
    """(tests failing alike in every run, flaky tests, differing tests), as printable lines.

    A test is flaky when its outcomes vary but the runs without the fixes and
    those with them share one; it differs when they share none.
    """
    alike: list[str] = []
    flaky: list[str] = []
    differ: list[str] = []
    for test_id in sorted(set().union(*plain, *fixed)):
        before, after = _outcomes(plain, test_id), _outcomes(fixed, test_id)
        message = _message([*fixed, *plain], test_id)
        if len(set(before) | set(after)) == 1:
            if before[0] not in QUIET:
                alike.append(f"  {test_id}: {before[0]}  {message}".rstrip())
            continue
        line = f"  {test_id}: without {'/'.join(before)}, with {'/'.join(after)}  {message}"
        (flaky if set(before) & set(after) else differ).append(line.rstrip())
    return alike, flaky, differ


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--plain", type=Path, nargs="+", required=True, help="junit reports without the fixes"
    )
    parser.add_argument(
        "--fixed", type=Path, nargs="+", required=True, help="junit reports with the fixes"
    )
    parser.add_argument("--label", default="", help="the suite's name in the output")
    args = parser.parse_args(argv)
    label = f"[{args.label}] " if args.label else ""
    try:
        plain = [load(path) for path in args.plain]
        fixed = [load(path) for path in args.fixed]
    except ReportError as exc:
        print(f"{label}{exc}", file=sys.stderr)
        return 2
    for side, reports in (("without the fixes", plain), ("with the fixes   ", fixed)):
        for report in reports:
            print(f"{label}{side}: {len(report)} tests, {counts(report)}")
    alike, flaky, differ = judge(plain, fixed)
    for title, lines in (
        ("fail the same way in every run", alike),
        ("are flaky: outcomes vary, and without and with the fixes share one", flaky),
        ("have a different outcome with the fixes", differ),
    ):
        if lines:
            print(f"{label}{len(lines)} tests {title}:")
            print("\n".join(lines))
    total = len(set().union(*plain, *fixed))
    if differ:
        print(f"{label}DIFFERENT: {len(differ)} of {total} tests")
        return 1
    print(f"{label}identical outcomes for {total - len(flaky)} of {total} tests", end="")
    print(f", {len(flaky)} flaky" if flaky else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
