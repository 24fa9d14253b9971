"""Writes and queries against gremlite, through the same gremlinpython code Neptune gets."""

import pytest

from dagtrail.errors import NotFoundError
from dagtrail.lineage import graph, queries, writer
from dagtrail.lineage import records as R
from dagtrail.lineage.records import ArtifactRef

DATA = ArtifactRef(uri="s3://res/diamond/run-a/prep/1/data.csv", name="data.csv", size=2048, sha256="aa")
MODEL = ArtifactRef(uri="s3://res/diamond/run-a/fit/2/model.bin", name="model.bin", size=3 * 1024 * 1024,
                    sha256="bb")


def run_a():
    recs = R.execution("run-a", "diamond", execution_arn="arn:ex:run-a", status="RUNNING",
                       started_at="2024-03-01T10:00:00Z", params={"size": 10})
    recs += R.task_run("run-a", "diamond", "prep", 1, status="SUCCEEDED", job_id="j1", exit_code=0,
                       started_at="2024-03-01T10:00:01Z", stopped_at="2024-03-01T10:00:03.500Z")
    recs += R.task_run("run-a", "diamond", "fit", 1, status="FAILED", job_id="j2", exit_code=137,
                       started_at="2024-03-01T10:00:04Z", stopped_at="2024-03-01T10:00:05Z",
                       status_reason="OutOfMemoryError: Container killed")
    recs += R.task_run("run-a", "diamond", "fit", 2, status="SUCCEEDED", job_id="j3", exit_code=0,
                       started_at="2024-03-01T10:00:06Z", stopped_at="2024-03-01T10:02:16Z")
    recs += R.artifacts("run-a", "prep", 1, produced=[DATA], used=[])
    recs += R.artifacts("run-a", "fit", 2, produced=[MODEL], used=[DATA])
    recs += R.informed_by("run-a", "fit", 2, "prep", 1)
    recs += R.execution("run-a", "diamond", execution_arn="arn:ex:run-a", status="SUCCEEDED",
                        stopped_at="2024-03-01T10:02:17Z")
    return recs


def run_b():
    """A later run that reads run-a's model: its vertices must not leak into run-a's view."""
    recs = R.execution("run-b", "diamond", execution_arn="arn:ex:run-b", status="RUNNING",
                       started_at="2024-03-02T09:00:00Z")
    recs += R.task_run("run-b", "diamond", "report", 1, status="RUNNING", job_id="j9")
    recs += R.artifacts("run-b", "report", 1, produced=[], used=[MODEL])
    return recs


@pytest.fixture
def g(lineage_graph):
    writer.write(lineage_graph, run_a() + run_b())
    return lineage_graph


def test_show_run_returns_the_runs_subgraph(g):
    shown = queries.show_run(g, "run-a")
    assert shown["run_id"] == "run-a"
    assert [(v["label"], v["uid"]) for v in shown["vertices"]] == [
        ("Artifact", "artifact:s3://res/diamond/run-a/fit/2/model.bin"),
        ("Artifact", "artifact:s3://res/diamond/run-a/prep/1/data.csv"),
        ("Execution", "execution:run-a"),
        ("Parameters", "params:run-a"),
        ("Task", "task:diamond:fit"),
        ("Task", "task:diamond:prep"),
        ("TaskRun", "taskrun:run-a:fit:1"),
        ("TaskRun", "taskrun:run-a:fit:2"),
        ("TaskRun", "taskrun:run-a:prep:1"),
        ("Workflow", "workflow:diamond"),
    ]
    edges = {(e["label"], e["out"], e["in"]) for e in shown["edges"]}
    assert len(edges) == len(shown["edges"]) == 12
    assert ("used", "taskrun:run-a:fit:2", "artifact:s3://res/diamond/run-a/prep/1/data.csv") in edges
    assert ("wasGeneratedBy", "artifact:s3://res/diamond/run-a/fit/2/model.bin", "taskrun:run-a:fit:2") in edges
    assert ("wasInformedBy", "taskrun:run-a:fit:2", "taskrun:run-a:prep:1") in edges
    assert not any("run-b" in o or "run-b" in i for _, o, i in edges)
    ex = next(v for v in shown["vertices"] if v["label"] == "Execution")
    assert ex["props"] == {
        "run_id": "run-a", "workflow": "diamond", "execution_arn": "arn:ex:run-a", "status": "SUCCEEDED",
        "started_at": "2024-03-01T10:00:00.000Z", "stopped_at": "2024-03-01T10:02:17.000Z",
    }
    failed = next(v for v in shown["vertices"] if v["uid"] == "taskrun:run-a:fit:1")
    assert failed["props"]["exit_code"] == 137 and failed["props"]["status"] == "FAILED"


def test_show_run_is_deterministic(g):
    first = queries.show_run(g, "run-a")
    writer.write(g, list(reversed(run_a())))
    assert queries.show_run(g, "run-a") == first


def test_show_run_includes_used_inputs_from_other_runs(g):
    shown = queries.show_run(g, "run-b")
    uids = {v["uid"] for v in shown["vertices"]}
    assert "artifact:s3://res/diamond/run-a/fit/2/model.bin" in uids
    assert "taskrun:run-a:fit:2" not in uids  # its producer belongs to run-a


def test_unknown_run_is_not_found(g):
    with pytest.raises(NotFoundError, match="no run 'nope'"):
        queries.show_run(g, "nope")


def test_latest_run_is_the_last_started(g):
    assert queries.latest_run_id(g) == "run-b"
    writer.write(g, R.execution("run-0", "diamond", execution_arn="a", status="RUNNING",
                                started_at="2023-01-01T00:00:00Z"))
    assert queries.latest_run_id(g) == "run-b"


def test_latest_run_of_an_empty_graph_is_not_found(lineage_graph):
    with pytest.raises(NotFoundError, match="no runs"):
        queries.latest_run_id(lineage_graph)


def test_text_rendering(g):
    text = queries.render_text(queries.show_run(g, "run-a"))
    lines = text.splitlines()
    assert lines[0] == ("run run-a  workflow diamond  SUCCEEDED  started 2024-03-01T10:00:00.000Z"
                        "  duration 2m17s")
    assert "params: size=10" in lines
    assert "tasks (3 attempts):" in lines
    assert "  prep #1  SUCCEEDED  exit 0  2.5s  job j1" in lines
    assert "  fit #1  FAILED  exit 137  1.0s  job j2" in lines
    assert "      reason: OutOfMemoryError: Container killed" in lines
    assert "  fit #2  SUCCEEDED  exit 0  2m10s  job j3" in lines
    assert ("      produced  data.csv (2.0 KiB)  s3://res/diamond/run-a/prep/1/data.csv  → used by fit #2"
            in lines)
    assert "      used      data.csv (2.0 KiB)  s3://res/diamond/run-a/prep/1/data.csv" in lines
    assert "      produced  model.bin (3.0 MiB)  s3://res/diamond/run-a/fit/2/model.bin" in lines
    assert lines.index("  prep #1  SUCCEEDED  exit 0  2.5s  job j1") < lines.index("  fit #1  FAILED  exit 137  1.0s  job j2")


def test_placeholders_show_up_as_bare_vertices(lineage_graph):
    # The upstream attempt's own records have not arrived yet: only a placeholder exists.
    writer.write(lineage_graph, R.execution("run-c", "w", execution_arn="a", status="RUNNING")
                 + R.task_run("run-c", "w", "t", 1, status="RUNNING")
                 + R.informed_by("run-c", "t", 1, "up", 1))
    shown = queries.show_run(lineage_graph, "run-c")
    placeholder = next(v for v in shown["vertices"] if v["uid"] == "taskrun:run-c:up:1")
    assert placeholder == {"label": "TaskRun", "uid": "taskrun:run-c:up:1", "props": {}}
    text = queries.render_text(shown)
    assert "tasks (1 attempts):" in text  # the placeholder is not listed as an attempt
    assert "      after run-c:up:1" in text.splitlines()


def test_a_database_reopened_sees_committed_writes(tmp_path):
    url = f"gremlite://{tmp_path / 'lineage.db'}"
    g1 = graph.open_graph(url)
    writer.write(g1, run_a())
    g2 = graph.open_graph(url)  # e.g. `dagtrail lineage show` while a run goes on
    try:
        assert queries.latest_run_id(g2) == "run-a"
    finally:
        graph.close(g1)
        graph.close(g2)


@pytest.mark.parametrize("url", ["gremlite://", "http://host", "neptune://", "lineage.db"])
def test_bad_graph_urls(url):
    with pytest.raises(graph.GraphUrlError):
        graph.open_graph(url)


def test_neptune_urls_become_websocket_endpoints():
    assert graph.parse("neptune://db.cluster-x.us-east-1.neptune.amazonaws.com:8182") == (
        "neptune", "wss://db.cluster-x.us-east-1.neptune.amazonaws.com:8182/gremlin")
    assert graph.parse("neptune://h") == ("neptune", "wss://h:8182/gremlin")
    assert graph.parse("wss://h:8182/gremlin") == ("websocket", "wss://h:8182/gremlin")
    assert graph.parse("gremlite:///abs/lineage.db") == ("gremlite", "/abs/lineage.db")


def test_a_run_known_only_through_its_task_runs(lineage_graph):
    # Task run records reached the graph before the execution's own record.
    writer.write(lineage_graph, R.task_run("run-early", "w", "t", 1, status="RUNNING"))
    assert queries.latest_run_id(lineage_graph) == "run-early"
    shown = queries.show_run(lineage_graph, "run-early")
    assert {"label": "Execution", "uid": "execution:run-early", "props": {}} in shown["vertices"]
    assert "  t #1  RUNNING  exit -  -" in queries.render_text(shown).splitlines()
    writer.write(lineage_graph, R.execution("run-late", "w", execution_arn="a", status="RUNNING",
                                            started_at="2020-01-01T00:00:00Z"))
    assert queries.latest_run_id(lineage_graph) == "run-late"  # a known start beats none


def test_sweep_items_are_named_by_index_and_try(lineage_graph):
    writer.write(lineage_graph, R.execution("run-s", "w", execution_arn="a", status="RUNNING"))
    for index, try_, status in ((0, 1, "SUCCEEDED"), (1, 1, "FAILED"), (1, 2, "SUCCEEDED")):
        writer.write(lineage_graph, R.task_run("run-s", "w", "sim", 1, status=status, item_index=index,
                                               item_try=try_))
    lines = queries.render_text(queries.show_run(lineage_graph, "run-s")).splitlines()
    assert [line.split("  ")[1:3] for line in lines if line.startswith("  sim")] == [
        ["sim[0] #1.1", "SUCCEEDED"], ["sim[1] #1.1", "FAILED"], ["sim[1] #1.2", "SUCCEEDED"]]
