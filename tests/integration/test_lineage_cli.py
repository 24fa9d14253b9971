"""`dagtrail lineage show` as a user types it."""

import json
import subprocess
import sys

import pytest

from dagtrail.cli.main import main
from dagtrail.lineage import graph, writer
from dagtrail.lineage import records as R
from dagtrail.lineage.records import ArtifactRef


@pytest.fixture
def workdir(tmp_path):
    wd = tmp_path / ".dagtrail"
    g = graph.open_graph(f"gremlite://{wd / 'lineage.db'}")
    art = ArtifactRef(uri="s3://res/w/run-1/prep/1/out.txt", name="out.txt", size=5, sha256="aa")
    writer.write(
        g,
        R.execution("run-1", "w", execution_arn="arn", status="SUCCEEDED", started_at="2024-01-01T00:00:00Z",
                    stopped_at="2024-01-01T00:00:09Z")
        + R.task_run("run-1", "w", "prep", 1, status="SUCCEEDED", exit_code=0,
                     started_at="2024-01-01T00:00:01Z", stopped_at="2024-01-01T00:00:08Z")
        + R.artifacts("run-1", "prep", 1, produced=[art], used=[])
        + R.execution("run-2", "w", execution_arn="arn2", status="RUNNING", started_at="2024-01-02T00:00:00Z"),
    )
    graph.close(g)
    return wd


def test_show_json(workdir, capsys):
    assert main(["lineage", "show", "run-1", "--workdir", str(workdir), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run_id"] == "run-1"
    assert {v["label"] for v in shown["vertices"]} == {"Workflow", "Execution", "Task", "TaskRun", "Artifact"}
    assert {"label": "wasGeneratedBy", "out": "artifact:s3://res/w/run-1/prep/1/out.txt",
            "in": "taskrun:run-1:prep:1"} in shown["edges"]


def test_show_text_is_the_default(workdir, capsys):
    assert main(["lineage", "show", "run-1", "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("run run-1  workflow w  SUCCEEDED")
    assert "  prep #1  SUCCEEDED  exit 0  7.0s" in out
    assert "produced  out.txt (5 B)" in out


def test_show_latest(workdir, capsys):
    assert main(["lineage", "show", "latest", "--workdir", str(workdir), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == "run-2"


def test_graph_url_overrides_the_workdir(workdir, tmp_path, capsys):
    url = f"gremlite://{workdir / 'lineage.db'}"
    assert main(["lineage", "show", "run-1", "--workdir", str(tmp_path / "elsewhere"), "--graph", url,
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == "run-1"


def test_default_workdir_is_dot_dagtrail(workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir.parent)
    assert main(["lineage", "show", "run-1", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == "run-1"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["lineage", "show", "nope"], "dagtrail: error: no run 'nope' in the lineage graph"),
        (["lineage", "show", "run-1", "--graph", "http://x"], "dagtrail: error: graph URL 'http://x'"),
        (["lineage", "show", "run-1", "--format", "yaml"], "dagtrail: error: argument --format"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(workdir, argv, message):
    proc = subprocess.run(
        [sys.executable, "-m", "dagtrail.cli.main", *argv, "--workdir", str(workdir)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(message)
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_missing_workdir_is_not_created(tmp_path, capsys):
    missing = tmp_path / "no-such"
    assert main(["lineage", "show", "latest", "--workdir", str(missing)]) == 2
    assert "no lineage graph at" in capsys.readouterr().err
    assert not missing.exists()


def test_an_unreachable_graph_server_is_one_line(tmp_path):
    import socket

    with socket.socket() as s:  # a local port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-m", "dagtrail.cli.main", "lineage", "show", "latest", "--graph",
         f"neptune://127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"dagtrail: error: cannot reach the lineage graph at neptune://127.0.0.1:{port}")
    assert "Traceback" not in proc.stderr
