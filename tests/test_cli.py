"""``langgraph-fixed doctor``: the README's main job."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from langgraph_fixed import cli
from langgraph_fixed.fixes import nonlocals as nonlocals_fix


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
    import json

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
            "without_fix": 3,
            "with_fix": 0,
        }
    ]
    assert document["fixes"][0]["state"] == "applied"
    assert "Live check" in capsys.readouterr().out
