"""``langgraph-fixed doctor``: the README's main job."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from langgraph_fixed import cli
from langgraph_fixed.fixes import nonlocals as nonlocals_fix

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)


def test_doctor_shows_the_leak_and_the_fix() -> None:
    result = run(
        sys.executable,
        "-m",
        "langgraph_fixed",
        "doctor",
        "--requests",
        "260",
        "--scenario",
        "runnable_lambda_node",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "langchain-core" in out and "langgraph" in out
    row = next(line for line in out.splitlines() if "runnable_lambda_node" in line)
    assert row.split()[1:] == ["256", "of", "260", "0", "of", "260", "get_function_nonlocals"]
    assert "get_function_nonlocals" in out and "applied" in out


@pytest.mark.skipif(shutil.which("langgraph-fixed") is None, reason="console script not installed")
def test_console_script() -> None:
    result = run("langgraph-fixed", "--version")
    assert result.returncode == 0
    assert result.stdout.startswith("langgraph-fixed ")
    assert Path(shutil.which("langgraph-fixed") or "").exists()


def test_doctor_fails_when_a_needed_fix_cannot_be_applied(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(nonlocals_fix.NonlocalsCacheFix, "fingerprints", {})
    with pytest.warns(UserWarning):
        code = cli.doctor(requests=3, scenarios=["get_graph_closure_lambda"])
    out = capsys.readouterr().out
    assert code == 1
    assert "skipped" in out and "not active" in out


def test_doctor_rejects_unknown_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["doctor", "--scenario", "nope"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_doctor_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "doctor.json"
    code = cli.main(
        [
            "doctor",
            "--requests",
            "3",
            "--scenario",
            "get_graph_closure_lambda",
            "--json",
            str(target),
        ]
    )
    assert code == 0
    document = json.loads(target.read_text())
    assert document["ok"] is True
    assert document["versions"]["langchain-core"]
    assert document["scenarios"] == [
        {
            "name": "get_graph_closure_lambda",
            "description": "chain.get_graph() on a chain with a closure lambda",
            "fixes": ["get_function_nonlocals"],
            "requests": 3,
            "requests_with_fix": 3,
            "without_fix": 3,
            "with_fix": 0,
        }
    ]
    assert document["fixes"][0]["state"] == "applied"
    assert "Live check" in capsys.readouterr().out


# --- every edge a user hits: a one-line message and the conventional exit code ------


def cli_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "langgraph_fixed", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


def test_run_a_file_that_is_not_executable_says_so_and_exits_126(tmp_path: Path) -> None:
    script = tmp_path / "not-executable"
    script.write_text("echo hi\n")
    result = cli_run("run", "--", str(script))
    assert result.returncode == 126
    assert result.stderr.strip() == f"langgraph-fixed run: {script}: Permission denied"
    missing = cli_run("run", "--", str(tmp_path / "missing"))
    assert missing.returncode == 127 and "command not found" in missing.stderr
    assert "Traceback" not in result.stderr + missing.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        ([], "a command is needed: doctor, scan or run"),
        (["doctor", "--requests", "0"], "must be at least 1, not 0"),
        (["doctor", "--requests", "-5"], "must be at least 1, not -5"),
        (["doctor", "--scenario", "nope"], "invalid choice: 'nope'"),
        (["scan", "--dist", "lgf-typo"], "not installed: lgf-typo"),
        (["scan", "--path", "/lgf/nonexistent"], "no such file or directory: /lgf/nonexistent"),
    ],
)
def test_usage_errors_exit_2_naming_the_problem(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_a_doctor_that_could_run_no_scenario_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from langgraph_fixed.diagnostics import scenarios

    def unavailable(payload: object) -> None:
        raise ImportError("not on this install")

    broken = scenarios.Scenario("broken", "needs something missing", unavailable)
    monkeypatch.setattr(scenarios, "SCENARIOS", (broken,))
    assert cli.doctor(requests=3) == 1
    out = capsys.readouterr().out
    assert "could not run" in out and "No scenario could run" in out and "OK" not in out


def test_scan_reads_past_a_file_too_deep_to_parse(tmp_path: Path) -> None:
    deep = tmp_path / "deep.py"
    deep.write_text("x = " + " + ".join(["1"] * 20000) + "\n")
    (tmp_path / "fine.py").write_text("import functools\n\n@functools.cache\ndef f(x): ...\n")
    result = cli_run("scan", "--path", str(tmp_path), "--fail-on-new")
    assert result.returncode == 1, result.stdout + result.stderr  # fine.py's cache is new
    assert f"could not read {deep}: RecursionError" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["2", "enabled"])
def test_an_unknown_langgraph_fixed_value_is_said_once_and_applies_nothing(value: str) -> None:
    from langgraph_fixed import _bootstrap

    env = dict(os.environ, LANGGRAPH_FIXED=value)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(_bootstrap.__file__ or ""), str(ROOT), env.get("PYTHONPATH", "")]
    )
    code = (
        "import langchain_core.runnables.utils as u; print(type(u.get_function_nonlocals).__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "_lru_cache_wrapper", "nothing applied"
    lines = [line for line in result.stderr.splitlines() if "langgraph-fixed" in line]
    assert lines == [
        f"langgraph-fixed: LANGGRAPH_FIXED={value!r} is not understood, nothing is applied: "
        "1, true, yes or on apply the fixes; 0, false, no, off or empty do not"
    ]


# --- the front door: fast, visible, verdict and one screen ------------------------------


def test_doctor_streams_each_row_as_soon_as_it_is_known() -> None:
    """Piped, the first scenario's row arrives while the second is still running."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "langgraph_fixed",
            "doctor",
            "--scenario",
            "get_graph_closure_lambda",
            "--scenario",
            "subgraph_in_lambda",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first_row_while_running = None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.strip().startswith("get_graph_closure_lambda"):
            first_row_while_running = process.poll() is None and not any(
                "subgraph_in_lambda" in seen for seen in lines
            )
    assert process.wait(timeout=600) == 0, "".join(lines)
    assert first_row_while_running, "".join(lines)
    assert lines[0].startswith("langgraph-fixed "), "the versions come first, at once"


def test_doctor_fits_one_screen_and_ends_with_its_verdict() -> None:
    result = run(sys.executable, "-m", "langgraph_fixed", "doctor", "--requests", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.rstrip("\n").splitlines()
    assert len(lines) <= 45, result.stdout
    assert lines[-1].startswith("OK: no payload survives with the fix")
    assert "Caches: live sizes" not in result.stdout, "the cache table is asked for (--caches)"


def test_doctor_runs_each_scenario_past_its_cache_bound() -> None:
    result = run(
        sys.executable, "-m", "langgraph_fixed", "doctor", "--scenario", "runnable_lambda_node"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    row = next(line for line in result.stdout.splitlines() if "runnable_lambda_node" in line)
    assert row.split()[1:] == ["256", "of", "257", "0", "of", "257", "get_function_nonlocals"]


def test_doctor_stops_where_the_plain_side_keeps_nothing_and_goes_past_the_bound_elsewhere() -> (
    None
):
    """A scenario the plain side keeps nothing of after PROBE runs stops there on both
    sides (more runs cannot change 0); one that leaks runs past the bound on both."""
    from langgraph_fixed.diagnostics.live import PROBE

    result = run(
        sys.executable,
        "-m",
        "langgraph_fixed",
        "doctor",
        "--scenario",
        "runnable_lambda_node",
        "--scenario",
        "function_node",
        "--scenario",
        "pydantic_state_graph",
        "--json",
        "-",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["scenarios"]}
    leaking = rows["runnable_lambda_node"]  # leaks on every version set
    assert (leaking["without_fix"], leaking["with_fix"]) == (256, 0)
    assert leaking["requests"] == leaking["requests_with_fix"] == 257
    for row in rows.values():
        if row["without_fix"] == 0:
            assert row["requests"] == row["requests_with_fix"] == PROBE, row
        else:
            assert row["requests"] == row["requests_with_fix"] > PROBE, row  # went on


def test_each_side_probes_then_goes_on_only_where_the_plain_side_kept_something(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The two sides' protocol, in process, with made-up scenarios: one that keeps
    every payload (as an unbounded cache would) and one that keeps none."""
    from langgraph_fixed.diagnostics import live, scenarios

    kept: list[object] = []
    made_up = (
        scenarios.Scenario("keeps_all", "keeps every payload", kept.append, ()),
        scenarios.Scenario("keeps_none", "keeps nothing", lambda payload: None, ()),
    )
    monkeypatch.setattr(scenarios, "SCENARIOS", made_up)
    planned = [("keeps_all", 60), ("keeps_none", 60)]

    def side(fixed: bool, verdicts: list[int]) -> dict[str, tuple[int, int]]:
        sent: list[tuple[str, bool, str | None, object]] = []
        queue = type("Queue", (), {"put": staticmethod(sent.append)})()
        live._side(queue, fixed, False, planned, verdicts, True)
        return {name: value for kind, _, name, value in sent if kind == "done"}  # type: ignore[misc]

    verdicts = [0, 0]
    assert side(False, verdicts) == {"keeps_all": (60, 60), "keeps_none": (0, live.PROBE)}
    assert verdicts == [live._GO_ON, live._STOP]
    kept.clear()
    # the fixed side follows the plain side's word: on where it saw a leak, even if
    # the fixed side itself keeps nothing, and on where the fixed side keeps something
    assert side(True, [live._GO_ON, live._STOP]) == {
        "keeps_all": (60, 60),
        "keeps_none": (0, live.PROBE),
    }
    assert side(True, [live._STOP, live._GO_ON])["keeps_none"] == (0, 60)
