import json
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from dagtrail.lineage import records as R
from dagtrail.lineage.records import ArtifactRef, LineageRecord


def by_label(recs):
    return {(r.op, r.label, r.uid): r for r in recs}


def test_uids_are_deterministic_strings():
    assert R.workflow_uid("diamond") == "workflow:diamond"
    assert R.execution_uid("run-1") == "execution:run-1"
    assert R.task_uid("diamond", "prepare") == "task:diamond:prepare"
    assert R.task_run_uid("run-1", "prepare", 2) == "taskrun:run-1:prepare:2"
    assert R.artifact_uid("s3://b/k/x.csv") == "artifact:s3://b/k/x.csv"
    assert R.params_uid("run-1") == "params:run-1"


def test_execution_builds_workflow_execution_params_and_edges():
    recs = R.execution(
        "run-1", "diamond", execution_arn="arn:aws:states:us-east-1:1:execution:sm:run-1",
        status="RUNNING", started_at="2024-05-01T10:00:00+02:00", params={"size": 10, "name": "a"},
        definition_hash="abc",
    )
    got = by_label(recs)
    assert set(got) == {
        ("vertex", "Workflow", "workflow:diamond"),
        ("vertex", "Execution", "execution:run-1"),
        ("vertex", "Parameters", "params:run-1"),
        ("edge", "instanceOf", "execution:run-1-instanceOf->workflow:diamond"),
        ("edge", "used", "execution:run-1-used->params:run-1"),
    }
    ex = got["vertex", "Execution", "execution:run-1"]
    assert ex.rank == R.EXECUTION_RANK["RUNNING"]
    assert ex.props["started_at"] == "2024-05-01T08:00:00.000Z"
    assert "stopped_at" not in ex.props  # None never reaches the graph
    assert got["vertex", "Workflow", "workflow:diamond"].props == {"name": "diamond", "definition_hash": "abc"}
    assert json.loads(got["vertex", "Parameters", "params:run-1"].props["values"]) == {"name": "a", "size": 10}
    edge = got["edge", "instanceOf", "execution:run-1-instanceOf->workflow:diamond"]
    assert (edge.out_label, edge.out_uid, edge.in_label, edge.in_uid) == (
        "Execution", "execution:run-1", "Workflow", "workflow:diamond")


def test_execution_without_params_has_no_parameter_vertex():
    labels = {r.label for r in R.execution("r", "w", execution_arn="a", status="SUCCEEDED")}
    assert labels == {"Workflow", "Execution", "instanceOf"}


def test_terminal_execution_outranks_running():
    assert R.EXECUTION_RANK["RUNNING"] < R.EXECUTION_RANK["SUCCEEDED"] == R.EXECUTION_RANK["FAILED"]


def test_task_run_ranks_follow_the_batch_lifecycle():
    order = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    ranks = [
        next(r.rank for r in R.task_run("r", "w", "t", 1, status=s) if r.label == "TaskRun") for s in order
    ]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert R.TASK_RUN_RANK["RUNNING"] == 4 and R.TASK_RUN_RANK["SUCCEEDED"] == R.TASK_RUN_RANK["FAILED"] == 5


def test_task_run_props_and_edges():
    recs = R.task_run(
        "run-1", "diamond", "prepare", 2, status="FAILED", job_id="job-9", backend="batch",
        image="python:3.11-slim", image_digest="sha256:ff", command=["python3", "-c", "print(1)"],
        resources={"vcpu": 1.0, "memory_mib": 2048}, started_at=datetime(2024, 1, 1, 0, 0, 0),
        stopped_at=datetime(2024, 1, 1, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))), exit_code=3,
        status_reason="Essential container in task exited", log_stream="job/default/abc",
    )
    got = by_label(recs)
    tr = got["vertex", "TaskRun", "taskrun:run-1:prepare:2"]
    assert tr.props["command"] == '["python3", "-c", "print(1)"]'
    assert json.loads(tr.props["resources"]) == {"vcpu": 1.0, "memory_mib": 2048}
    assert tr.props["attempt"] == 2 and tr.props["exit_code"] == 3
    assert tr.props["started_at"] == "2024-01-01T00:00:00.000Z"  # naive means UTC
    assert tr.props["stopped_at"] == "2023-12-31T23:00:05.000Z"
    assert "cached" not in tr.props
    assert got["vertex", "Task", "task:diamond:prepare"].props == {"workflow": "diamond", "name": "prepare"}
    assert ("edge", "partOf", "taskrun:run-1:prepare:2-partOf->execution:run-1") in got
    assert ("edge", "runs", "taskrun:run-1:prepare:2-runs->task:diamond:prepare") in got
    assert all(isinstance(v, (str, int, float, bool)) for r in recs for v in r.props.values())


def test_cached_task_run_is_marked():
    tr = next(r for r in R.task_run("r", "w", "t", 1, status="SUCCEEDED", cached=True) if r.label == "TaskRun")
    assert tr.props["cached"] is True


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown task run status 'DONE'"):
        R.task_run("r", "w", "t", 1, status="DONE")
    with pytest.raises(ValueError, match="unknown execution status"):
        R.execution("r", "w", execution_arn="a", status="DONE")


def test_artifacts_and_informed_by():
    a = ArtifactRef(uri="s3://b/w/r/prep/1/a.csv", name="a.csv", size=5, sha256="aa", etag="e1")
    b = ArtifactRef(uri="s3://b/w/r/fit/1/b.bin", name="b.bin", size=7, sha256="bb")
    got = by_label(R.artifacts("r", "fit", 1, produced=[b], used=[a]) + R.informed_by("r", "fit", 1, "prep", 1))
    assert got["vertex", "Artifact", "artifact:s3://b/w/r/prep/1/a.csv"].props == {
        "uri": a.uri, "name": "a.csv", "size": 5, "sha256": "aa", "etag": "e1"}
    assert "etag" not in got["vertex", "Artifact", "artifact:s3://b/w/r/fit/1/b.bin"].props
    gen = got["edge", "wasGeneratedBy", "artifact:s3://b/w/r/fit/1/b.bin-wasGeneratedBy->taskrun:r:fit:1"]
    assert (gen.out_label, gen.in_label) == ("Artifact", "TaskRun")
    used = got["edge", "used", "taskrun:r:fit:1-used->artifact:s3://b/w/r/prep/1/a.csv"]
    assert (used.out_label, used.in_label) == ("TaskRun", "Artifact")
    inf = got["edge", "wasInformedBy", "taskrun:r:fit:1-wasInformedBy->taskrun:r:prep:1"]
    assert (inf.out_uid, inf.in_uid) == ("taskrun:r:fit:1", "taskrun:r:prep:1")


def test_records_round_trip_through_json():
    for rec in R.task_run("r", "w", "t", 1, status="RUNNING", exit_code=0, cached=True):
        again = LineageRecord.model_validate_json(rec.model_dump_json())
        assert again == rec
        assert type(again.props.get("exit_code", 0)) is int
        assert type(again.props.get("cached", True)) is bool


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"op": "vertex", "label": "Nope", "uid": "x"}, "unknown vertex label"),
        ({"op": "vertex", "label": "Task", "uid": "x", "props": {"_r_x": 1}}, "reserved property"),
        ({"op": "vertex", "label": "Task", "uid": "x", "props": {"uid": "y"}}, "reserved property"),
        ({"op": "vertex", "label": "Task", "uid": "x", "props": {"l": [1]}}, "props.l"),
        ({"op": "vertex", "label": "Task", "uid": "x", "out_uid": "y"}, "no endpoints"),
        ({"op": "edge", "label": "used", "uid": "x", "out_label": "TaskRun", "out_uid": "a"}, "needs out_label"),
        ({"op": "edge", "label": "likes", "uid": "x"}, "unknown edge label"),
        ({"op": "edge", "label": "used", "uid": "x", "out_label": "TaskRun", "out_uid": "a",
          "in_label": "Artifact", "in_uid": "b", "props": {"w": 1}}, "no properties"),
        ({"op": "vertex", "label": "Task", "uid": ""}, "uid"),
        ({"op": "vertex", "label": "Task", "uid": "x", "rank": -1}, "rank"),
    ],
)
def test_malformed_records_are_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        LineageRecord(**fields)
