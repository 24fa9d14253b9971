"""The Python examples through the CLI, as a user runs them from a fresh clone, and the
lineage question each answers: where did this plot come from?"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGTRAIL = REPO / ".venv" / "bin" / "dagtrail"
EXAMPLES = REPO / "examples"
UPLOAD_EVENT = REPO / "events" / "StartFromUploadFunction" / "s3-input-created-upload-postprocess.json"
PNG = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.slow


def run(ref: str, cwd: Path, *extra: str) -> dict:
    proc = subprocess.run([str(DAGTRAIL), "run", ref, "--json", "--docker", "never", *extra],
                          cwd=cwd, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["status"] == "SUCCEEDED"
    assert all(t["status"] == "SUCCEEDED" for t in summary["tasks"])
    return summary


def artifact(summary: dict, task: str, name: str) -> dict:
    return next(a for a in summary["artifacts"] if a["task"] == task and a["name"] == name)


def ancestry(workdir: Path, uri: str) -> dict[str, set[str]]:
    """Walk the lineage graph back from one artifact: {task run uid: {artifact uris it used}}."""
    from dagtrail.lineage.graph import close, open_graph

    g = open_graph(f"gremlite:///{workdir / 'lineage.db'}")
    try:
        seen: dict[str, set[str]] = {}
        todo = [f"artifact:{uri}"]
        while todo:
            art = todo.pop()
            for run_uid in g.V().has("Artifact", "uid", art).out("wasGeneratedBy").values("uid").to_list():
                if run_uid in seen:
                    continue
                used = set(g.V().has("TaskRun", "uid", run_uid).out("used").values("uri").to_list())
                seen[run_uid] = used
                todo += [f"artifact:{u}" for u in used]
        return seen
    finally:
        close(g)


def tasks_of(runs: dict[str, set[str]]) -> set[str]:
    return {uid.split(":")[2] for uid in runs}  # taskrun:<run>:<task>:<attempt>[:<item>:<try>]


def items_of(runs: dict[str, set[str]], task: str) -> set[int]:
    """The item indices of a mapped task's TaskRuns among `runs`."""
    return {int(uid.split(":")[4]) for uid in runs if uid.split(":")[2] == task and uid.count(":") == 5}


def sweep_state_count(ref: str, task: str) -> int:
    """How often the compiled machine names the task: one sweep (Pass + Map) and its item state."""
    proc = subprocess.run([str(DAGTRAIL), "compile", ref], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert f'"{task}_0"' not in text and f'"{task}_1"' not in text
    return text.count(f'"{task} map"')


def test_cfd_sweep(tmp_path):
    ref = str(EXAMPLES / "cfd-sweep" / "cfd_sweep.py") + ":cavity_sweep"
    assert sweep_state_count(ref, "simulate") >= 1  # simulate.map(...) is one sweep, not six tasks
    summary = run(ref, tmp_path, "--param", "t_end=3.0")
    tasks = {t["name"]: t for t in summary["tasks"]}
    assert set(tasks) == {"simulate", "summarise", "plot"}
    assert tasks["simulate"]["items"] == {"total": 6, "succeeded": 6, "failed": 0}
    for i in range(6):
        assert {f"{i}/{n}" for n in ("psi.npy", "omega.npy", "u.npy", "v.npy")} <= {
            a["name"] for a in summary["artifacts"] if a["task"] == "simulate"}
    rows = json.loads(Path(artifact(summary, "summarise", "summary.json")["path"]).read_text())["cases"]
    assert sorted((r["reynolds"], r["n"]) for r in rows) == [(re, n) for re in (100.0, 400.0, 1000.0)
                                                            for n in (24, 48)]
    assert all(r["psi_min"] < 0 for r in rows)  # the lid drives a clockwise primary vortex
    for name in ("streamlines.png", "convergence.png"):
        plot = artifact(summary, "plot", name)
        assert Path(plot["path"]).read_bytes()[:8] == PNG
        # Where did this plot come from? plot <- summarise and every simulate item, each its own TaskRun.
        runs = ancestry(tmp_path / ".dagtrail", plot["uri"])
        assert tasks_of(runs) == {"simulate", "summarise", "plot"}
        assert items_of(runs, "simulate") == set(range(6))
    used_by_plot = next(used for uid, used in runs.items() if ":plot:" in uid)
    assert {u.rsplit("/", 2)[-2] for u in used_by_plot if u.endswith("/psi.npy")} == {str(i) for i in range(6)}


def test_ml_sweep_best_model_traces_to_its_data_file(tmp_path):
    ref = str(EXAMPLES / "ml-sweep" / "ml_sweep.py") + ":model_sweep"
    assert sweep_state_count(ref, "train") >= 1
    summary = run(ref, tmp_path)
    assert next(t for t in summary["tasks"] if t["name"] == "train")["items"]["total"] == 6
    metrics = json.loads(Path(artifact(summary, "evaluate", "metrics.json")["path"]).read_text())
    assert metrics["accuracy"] > 0.85 and sum(map(sum, metrics["confusion_matrix"])) == metrics["test_rows"]
    best = json.loads(Path(artifact(summary, "select", "result.json")["path"]).read_text())
    scores = [json.loads(Path(artifact(summary, "train", f"{i}/result.json")["path"]).read_text())["cv_accuracy"]
              for i in range(6)]
    assert best["cv_accuracy"] == max(scores) and best["item"] == scores.index(max(scores))
    plot = artifact(summary, "evaluate", "confusion_matrix.png")
    assert Path(plot["path"]).read_bytes()[:8] == PNG

    # plot <- evaluate <- select's best_model.pkl <- train item <best> <- ingest's train.csv <- data.csv
    data = artifact(summary, "ingest", "data.csv")
    train_csv = artifact(summary, "ingest", "train.csv")
    repo_sha = hashlib.sha256((EXAMPLES / "ml-sweep" / "data" / "wine.csv").read_bytes()).hexdigest()
    assert data["sha256"] == repo_sha == metrics["data_sha256"]
    runs = ancestry(tmp_path / ".dagtrail", plot["uri"])
    assert {"evaluate", "select", "ingest", "train"} <= tasks_of(runs)
    assert any(data["uri"] in used for used in runs.values())
    model_runs = ancestry(tmp_path / ".dagtrail", artifact(summary, "select", "best_model.pkl")["uri"])
    assert "ingest" in tasks_of(model_runs) and best["item"] in items_of(model_runs, "train")
    best_item_run = next(uid for uid in model_runs if uid.split(":")[2:5] == ["train", "1", str(best["item"])])
    assert train_csv["uri"] in model_runs[best_item_run]  # the best model's own TaskRun used the data


def test_upload_postprocess_from_the_s3_event(tmp_path):
    summary = run(str(EXAMPLES / "upload-postprocess" / "postprocess.py") + ":postprocess", tmp_path,
                  "--event", str(UPLOAD_EVENT))
    event = json.loads(UPLOAD_EVENT.read_text())
    raw = artifact(summary, "fetch", "raw.csv")
    uploaded = EXAMPLES / "upload-postprocess" / "bucket" / event["detail"]["object"]["key"]
    assert raw["sha256"] == hashlib.sha256(uploaded.read_bytes()).hexdigest()
    assert raw["size"] == event["detail"]["object"]["size"]
    report = json.loads(Path(artifact(summary, "report", "report.json")["path"]).read_text())
    assert report["source"] == f"s3://{event['detail']['bucket']['name']}/{event['detail']['object']['key']}"
    assert abs(report["dominant_hz"] - 37) < 2  # the rig's 37 Hz pressure oscillation
    plot = artifact(summary, "report", "report.png")
    assert Path(plot["path"]).read_bytes()[:8] == PNG
    runs = ancestry(tmp_path / ".dagtrail", plot["uri"])
    assert tasks_of(runs) == {"fetch", "statistics", "spectrum", "report"}
    assert any(raw["uri"] in used for used in runs.values())


def test_an_event_for_a_workflow_without_upload_parameters_is_refused(tmp_path):
    proc = subprocess.run([str(DAGTRAIL), "run", str(EXAMPLES / "cfd-sweep" / "cfd_sweep.py") + ":cavity_sweep",
                           "--event", str(UPLOAD_EVENT), "--docker", "never"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("dagtrail: error: --event: workflow cfd-sweep has no parameter "
                                   "'input_bucket' to take the upload")
