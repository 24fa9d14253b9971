"""`dagtrail run` as a user types it: real processes, the real state machine on moto."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGTRAIL = REPO / ".venv" / "bin" / "dagtrail"
SPECS = Path(__file__).parent / "specs"
EXAMPLE = REPO / "examples" / "heat-diffusion" / "workflow.yaml"

pytestmark = pytest.mark.slow


def dagtrail(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(DAGTRAIL), *args], cwd=cwd, capture_output=True, text=True, timeout=240, env=env)


def run_json(spec: Path, tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = dagtrail("run", str(spec), "--json", "--docker", "never", *extra, cwd=tmp_path)
    return proc, json.loads(proc.stdout)


def test_example_runs_and_reports_every_artifact(tmp_path):
    proc, summary = run_json(EXAMPLE, tmp_path, "--param", "nx=12", "--param", "steps=30")
    assert proc.returncode == 0, proc.stderr
    assert summary["status"] == "SUCCEEDED"
    assert {t["name"]: t["status"] for t in summary["tasks"]} == dict.fromkeys(
        ["simulate", "energy", "profile", "report"], "SUCCEEDED")
    for task in summary["tasks"]:
        assert task["attempts"] == 1 and task["exit_code"] == 0
        assert task["started_at"] <= task["stopped_at"]
    names = {(a["task"], a["name"]) for a in summary["artifacts"]}
    assert ("simulate", "field/temperature.csv") in names and ("report", "report.md") in names
    run_id = summary["run_id"]
    for a in summary["artifacts"]:
        path = Path(a["path"])
        assert path.is_file() and path.stat().st_size == a["size"]
        assert a["uri"] == f"s3://dagtrail-results/heat-diffusion/{run_id}/{a['task']}/1/{a['name']}"
        assert path.is_relative_to(tmp_path / ".dagtrail" / "results")
    report = (tmp_path / ".dagtrail/results/heat-diffusion" / run_id / "report/1/report.md").read_text()
    assert run_id in report
    # the parameter override reached the command
    meta = json.loads((tmp_path / ".dagtrail/results/heat-diffusion" / run_id / "simulate/1/run.json").read_text())
    assert meta["nx"] == 12 and meta["steps"] == 30


def test_a_failed_attempt_is_retried_and_dependants_see_the_good_one(tmp_path):
    proc, summary = run_json(SPECS / "retry.yaml", tmp_path)
    assert proc.returncode == 0, proc.stderr
    tasks = {t["name"]: t for t in summary["tasks"]}
    assert tasks["flaky"]["attempts"] == 2 and tasks["flaky"]["status"] == "SUCCEEDED"
    seen = next(a for a in summary["artifacts"] if a["name"] == "seen.txt")
    assert Path(seen["path"]).read_text() == "2"
    assert [a["uri"].split("/")[-2] for a in summary["artifacts"] if a["task"] == "flaky"] == ["2"]


def test_a_second_run_of_a_workflow_runs_from_the_parse_the_first_kept(tmp_path):
    cache = tmp_path / "cache"
    for n in range(2):
        proc = dagtrail("run", str(SPECS / "retry.yaml"), "--json", "--docker", "never", "--workdir",
                        str(tmp_path / f"wd{n}"), cwd=tmp_path, env=os.environ | {"DAGTRAIL_CACHE_DIR": str(cache)})
        assert proc.returncode == 0, proc.stderr
        tasks = {t["name"]: t for t in json.loads(proc.stdout)["tasks"]}
        assert tasks["flaky"]["attempts"] == 2 and tasks["after"]["status"] == "SUCCEEDED"  # Retry, from the copy too
        (kept,) = (cache / "asl").iterdir()
        if n == 0:
            os.utime(kept, (1, 1))
    assert kept.stat().st_mtime > 1  # the second run read it


def test_a_failing_task_fails_the_run_and_its_dependants_never_start(tmp_path):
    proc = dagtrail("run", str(SPECS / "failing.yaml"), "--docker", "never", cwd=tmp_path)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "task 'boom'" in last and "exit code 3" in last and "Traceback" not in proc.stderr
    proc, summary = run_json(SPECS / "failing.yaml", tmp_path)
    tasks = {t["name"]: t for t in summary["tasks"]}
    assert summary["status"] == "FAILED"
    assert tasks["prepare"]["status"] == "SUCCEEDED"
    assert tasks["boom"]["status"] == "FAILED" and tasks["boom"]["exit_code"] == 3
    assert tasks["after_boom"]["status"] == "NOT_STARTED" and tasks["after_boom"]["attempts"] == 0
    assert "exploding" in Path(tasks["boom"]["log"]).read_text()


def test_a_task_over_its_timeout_is_stopped_and_fails(tmp_path):
    proc, summary = run_json(SPECS / "timeout.yaml", tmp_path)
    assert proc.returncode == 1
    assert summary["status"] == "FAILED"


def test_shell_metacharacters_in_parameters_stay_inert(tmp_path):
    proc, summary = run_json(SPECS / "inert.yaml", tmp_path)
    assert proc.returncode == 0, proc.stderr
    arg = next(a for a in summary["artifacts"] if a["name"] == "arg.txt")
    assert Path(arg["path"]).read_text() == "x; touch pwned && echo $(id) `id` | cat"
    assert not any(p.name == "pwned" for p in tmp_path.rglob("pwned"))


def test_invalid_spec_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntasks:\n  a:\n    image: i\n    command: [\"true\"]\n    depends_on: [nope]\n")
    proc = dagtrail("run", str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "nope" in proc.stderr
    assert not (tmp_path / ".dagtrail").exists()  # nothing half-written
