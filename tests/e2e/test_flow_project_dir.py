"""A Python workflow's compiled spec names its code relative to the project
(DAGTRAIL_CODE_DIR); `dagtrail run` and `dagtrail resume` tell the task processes where the
project is, from whatever directory they are typed in."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGTRAIL = REPO / ".venv" / "bin" / "dagtrail"

pytestmark = pytest.mark.slow

FLOW = """
from pathlib import Path

from dagtrail.flow import task, workflow


@task
def first() -> int:
    return 1


@task
def second(x: int, marker: str) -> int:
    if not Path(marker).exists():
        raise RuntimeError("the marker is not there yet")
    return x + 1


@workflow
def flow(marker: str = ""):
    second(first(), marker)
"""


def dagtrail(cwd: Path, *args: str) -> tuple[int, dict]:
    proc = subprocess.run([str(DAGTRAIL), *args, "--docker", "never", "--json"], cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    assert proc.stdout.strip(), f"no summary (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return proc.returncode, json.loads(proc.stdout)


def test_a_python_run_resumes_from_another_directory(tmp_path):
    project = tmp_path / "project"
    (project / "flows").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (project / "flows" / "resumable.py").write_text(FLOW)
    marker = tmp_path / "marker"
    workdir = tmp_path / "work" / ".dagtrail"
    (tmp_path / "work").mkdir()

    code, summary = dagtrail(tmp_path / "work", "run", str(project / "flows" / "resumable.py") + ":flow",
                             "--param", f"marker={marker}")
    assert code == 1 and summary["status"] == "FAILED"
    assert (workdir / "runs" / summary["run_id"] / "project-dir").read_text().strip() == str(project)

    marker.touch()
    elsewhere = tmp_path / "elsewhere"  # no project here: the run's own project dir is used
    elsewhere.mkdir()
    code, resumed = dagtrail(elsewhere, "resume", summary["run_id"], "--workdir", str(workdir))
    assert code == 0 and resumed["status"] == "SUCCEEDED"
    tasks = {t["name"]: t for t in resumed["tasks"]}
    assert tasks["first"]["cached"] and not tasks["second"]["cached"]
    result = next(a for a in resumed["artifacts"] if a["task"] == "second" and a["name"] == "result.json")
    assert json.loads(Path(result["path"]).read_text()) == 2
