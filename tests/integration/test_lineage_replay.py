"""A local run whose lineage graph is unreachable the whole time: the run still succeeds,
its records wait in <workdir>/state/lineage-dlq.jsonl, and `dagtrail lineage replay`
lands every one of them once the graph is back."""

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGTRAIL = REPO / ".venv" / "bin" / "dagtrail"
EXAMPLE = REPO / "examples" / "heat-diffusion" / "workflow.yaml"

pytestmark = pytest.mark.slow


def dagtrail(*args, cwd):
    return subprocess.run([str(DAGTRAIL), *args], cwd=cwd, capture_output=True, text=True, timeout=240)


def test_graph_down_for_a_run_then_replay_lands_everything(tmp_path):
    db = tmp_path / ".dagtrail" / "lineage.db"
    db.mkdir(parents=True)  # SQLite cannot open a directory: the graph is "down"
    run = dagtrail("run", str(EXAMPLE), "--json", "--docker", "never", "--param", "nx=8", "--param", "steps=5",
                   cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    run_id = json.loads(run.stdout)["run_id"]
    saved = tmp_path / ".dagtrail" / "state" / "lineage-dlq.jsonl"
    lines = saved.read_text().splitlines()
    assert len(lines) >= 16  # at least four a task: submitted, runnable, running, ended (with outputs)
    assert all(json.loads(line)["body"] for line in lines)

    still_down = dagtrail("lineage", "replay", cwd=tmp_path)
    assert still_down.returncode == 2 and "cannot reach the lineage graph" in still_down.stderr
    assert len(saved.read_text().splitlines()) == len(lines)

    db.rmdir()  # the graph is back
    replayed = dagtrail("lineage", "replay", "--format", "json", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    report = json.loads(replayed.stdout)
    assert report["messages"] == report["landed"] == len(lines) and report["failed"] == []
    assert not saved.exists()

    shown = dagtrail("lineage", "show", "latest", "--format", "json", cwd=tmp_path)
    graph = json.loads(shown.stdout)
    assert graph["run_id"] == run_id
    runs = {v["props"]["task"]: v["props"]["status"] for v in graph["vertices"] if v["label"] == "TaskRun"}
    assert runs == dict.fromkeys(["simulate", "energy", "profile", "report"], "SUCCEEDED")
    assert sum(v["label"] == "Artifact" for v in graph["vertices"]) == 6
