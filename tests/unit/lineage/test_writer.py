"""The writer against gremlite: rank guard, placeholders, order/duplication independence,
and the request-size bound."""

import json
import math
import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dagtrail.lineage import graph, upserts, writer
from dagtrail.lineage import records as R
from dagtrail.lineage.records import ArtifactRef


def props_of(g, label, uid):
    rows = g.V().has(label, "uid", uid).value_map().to_list()
    assert len(rows) == 1, f"expected one {label} {uid}, found {len(rows)}"
    return {k: v[0] for k, v in rows[0].items() if not k.startswith("_")}


def task_run(status, attempt=1, **kw):
    return [r for r in R.task_run("run-1", "wf", "fit", attempt, status=status, **kw) if r.label == "TaskRun"]


def test_late_lower_rank_never_overwrites_status(lineage_graph):
    g = lineage_graph
    writer.write(g, task_run("SUCCEEDED", exit_code=0, stopped_at="2024-01-01T00:01:00Z"))
    writer.write(g, task_run("RUNNING", started_at="2024-01-01T00:00:10Z", log_stream="s/1"))
    writer.write(g, task_run("SUBMITTED", job_id="job-1", command=["run"]))
    p = props_of(g, "TaskRun", "taskrun:run-1:fit:1")
    assert p["status"] == "SUCCEEDED" and p["exit_code"] == 0
    # What only the earlier states knew still lands.
    assert p["started_at"] == "2024-01-01T00:00:10.000Z" and p["log_stream"] == "s/1"
    assert p["job_id"] == "job-1" and p["command"] == '["run"]'


def test_higher_rank_overwrites(lineage_graph):
    g = lineage_graph
    writer.write(g, task_run("RUNNABLE", status_reason="waiting"))
    writer.write(g, task_run("FAILED", status_reason="exit 3", exit_code=3))
    p = props_of(g, "TaskRun", "taskrun:run-1:fit:1")
    assert (p["status"], p["status_reason"], p["exit_code"]) == ("FAILED", "exit 3", 3)


def test_each_property_keeps_the_value_of_its_highest_ranked_writer(lineage_graph):
    # The rank is tracked per property: a value from RUNNING(4) beats one from PENDING(1)
    # even when both arrive after SUCCEEDED(5), which never set it.
    g = lineage_graph
    writer.write(g, task_run("SUCCEEDED"))
    writer.write(g, task_run("PENDING", log_stream="early"))
    writer.write(g, task_run("RUNNING", log_stream="late"))
    writer.write(g, task_run("PENDING", log_stream="early"))
    assert props_of(g, "TaskRun", "taskrun:run-1:fit:1")["log_stream"] == "late"


def test_edge_before_its_vertices_makes_placeholders_later_filled(lineage_graph, snapshot_graph):
    g = lineage_graph
    art = ArtifactRef(uri="s3://b/x", name="x", size=1, sha256="00")
    edges = [r for r in R.artifacts("run-1", "fit", 1, produced=[art], used=[]) if r.op == "edge"]
    writer.write(g, edges)
    assert g.V().has("TaskRun", "uid", "taskrun:run-1:fit:1").value_map().to_list() == [
        {"uid": ["taskrun:run-1:fit:1"]}]
    writer.write(g, task_run("RUNNING") + R.artifacts("run-1", "fit", 1, produced=[art], used=[]))
    snap = snapshot_graph(g)
    assert [v[0] for v in snap["vertices"]] == ["Artifact", "TaskRun"]
    assert snap["edges"] == [("wasGeneratedBy", "artifact:s3://b/x", "taskrun:run-1:fit:1")]
    assert props_of(g, "TaskRun", "taskrun:run-1:fit:1")["status"] == "RUNNING"
    assert props_of(g, "Artifact", "artifact:s3://b/x")["size"] == 1


def test_rewriting_the_same_records_changes_nothing(lineage_graph, snapshot_graph):
    g = lineage_graph
    recs = scenario()
    writer.write(g, recs)
    first = snapshot_graph(g)
    writer.write(g, recs + recs)
    assert snapshot_graph(g) == first
    assert len(first["edges"]) == len(set(first["edges"]))


def scenario():
    """One run with a retried task, artifacts passed between attempts, every state seen."""
    recs = R.execution("run-1", "wf", execution_arn="arn:x", status="RUNNING",
                       started_at="2024-01-01T00:00:00Z", params={"n": 3})
    recs += R.execution("run-1", "wf", execution_arn="arn:x", status="SUCCEEDED",
                        stopped_at="2024-01-01T01:00:00Z")
    data = ArtifactRef(uri="s3://b/wf/run-1/prep/1/data.csv", name="data.csv", size=10, sha256="aa")
    model = ArtifactRef(uri="s3://b/wf/run-1/fit/2/model.bin", name="model.bin", size=99, sha256="bb")
    for task, attempt, final in (("prep", 1, "SUCCEEDED"), ("fit", 1, "FAILED"), ("fit", 2, "SUCCEEDED")):
        for status in ("SUBMITTED", "RUNNABLE", "RUNNING", final):
            recs += R.task_run(
                "run-1", "wf", task, attempt, status=status, job_id=f"job-{task}-{attempt}",
                command=["python3", task], exit_code={"SUCCEEDED": 0, "FAILED": 1}.get(status),
                started_at="2024-01-01T00:10:00Z" if status in ("RUNNING", final) else None,
                stopped_at="2024-01-01T00:20:00Z" if status == final else None,
                status_reason="boom" if status == "FAILED" else None,
            )
    recs += R.artifacts("run-1", "prep", 1, produced=[data], used=[])
    recs += R.artifacts("run-1", "fit", 2, produced=[model], used=[data])
    recs += R.informed_by("run-1", "fit", 2, "prep", 1)
    return recs


@pytest.fixture(scope="module")
def reusable_graph(tmp_path_factory):
    """One database for all hypothesis examples (opening a fresh one costs more than a run)."""
    g = graph.open_graph(f"gremlite://{tmp_path_factory.mktemp('lineage') / 'lineage.db'}")
    yield g
    graph.close(g)


def _snapshot_of(g, records_batches, snapshot_graph):
    g.V().drop().iterate()
    for batch in records_batches:
        writer.write(g, batch)
    return snapshot_graph(g)


_EXPECTED = {}


# No shrinking: each example writes a whole run, and the failing stream is printed anyway.
@settings(max_examples=10, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_duplicated_shuffled_and_split_streams_give_identical_graphs(data, reusable_graph, snapshot_graph):
    recs = scenario()
    if not _EXPECTED:  # the scenario applied once, in order
        _EXPECTED["graph"] = _snapshot_of(reusable_graph, [recs], snapshot_graph)
    expected = _EXPECTED["graph"]
    dupes = data.draw(st.lists(st.sampled_from(recs), max_size=30), label="duplicates")
    stream = data.draw(st.permutations(recs + dupes), label="stream")
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=6), label="cuts"))
    batches = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    assert _snapshot_of(reusable_graph, batches, snapshot_graph) == expected


def test_scenario_graph_has_no_duplicates(lineage_graph, snapshot_graph):
    writer.write(lineage_graph, scenario())
    snap = snapshot_graph(lineage_graph)
    uids = [dict(props)["uid"] for _, props in snap["vertices"]]
    assert len(uids) == len(set(uids)) == 10  # workflow, execution, params, 2 tasks, 3 runs, 2 artifacts
    # instanceOf, used params, 3 partOf, 3 runs, 2 wasGeneratedBy, used data, wasInformedBy
    assert len(snap["edges"]) == len(set(snap["edges"])) == 12


# ---------------------------------------------------------------- batching


def many_records(n_runs=100):
    recs = []
    for i in range(n_runs):
        art = ArtifactRef(uri=f"s3://b/{i}", name=str(i), size=i, sha256="cc")
        recs += R.task_run("run-1", "wf", f"t{i}", 1, status="SUCCEEDED", exit_code=0)
        recs += R.artifacts("run-1", f"t{i}", 1, produced=[art], used=[])
    return recs


def test_plan_bounds_mutations_per_request():
    recs = many_records()  # 600 distinct records
    chunks = writer.plan(recs, max_mutations=200)
    assert [len(c) for c in chunks] == [200, 200, 200]
    assert sorted(r.model_dump_json(exclude={"emitted_at"}) for c in chunks for r in c) == sorted(
        r.model_dump_json(exclude={"emitted_at"}) for r in recs)
    assert all(len(c) <= 7 for c in writer.plan(recs, max_mutations=7))
    assert len(writer.plan(recs, max_mutations=7)) == math.ceil(600 / 7)


def test_plan_drops_exact_duplicates_only():
    recs = task_run("RUNNING") + task_run("RUNNING") + task_run("SUCCEEDED")
    assert [r.rank for c in writer.plan(recs) for r in c] == [4, 5]


def test_step_budget_matches_the_real_traversal(lineage_graph):
    recs = many_records(30)
    chunks = writer.plan(recs, max_steps=60)
    assert len(chunks) > 1
    for chunk in chunks:
        steps = len(writer.traversal(lineage_graph, chunk).bytecode.step_instructions)
        assert steps <= 60
        assert steps == upserts.request(chunk).steps


class CountingConnection:
    """Wraps a remote connection and counts the requests that reach it."""

    def __init__(self, inner):
        self.inner, self.requests = inner, 0

    def submit(self, bytecode):
        self.requests += 1
        return self.inner.submit(bytecode)

    def close(self):
        self.inner.close()


def test_write_sends_one_request_per_planned_chunk(lineage_graph, snapshot_graph):
    from gremlin_python.process.anonymous_traversal import traversal

    counting = CountingConnection(graph.remote(lineage_graph))
    g = traversal().with_remote(counting)
    recs = many_records(8)  # 48 records
    stats = writer.write(g, recs, max_mutations=10, max_steps=10_000)
    assert counting.requests == stats.requests == 5
    assert stats.mutations == 48
    assert len(snapshot_graph(lineage_graph)["edges"]) == 24


def test_gremlite_is_recognised(lineage_graph):
    assert graph.is_gremlite(lineage_graph)
    assert graph.max_steps(lineage_graph) == graph.GREMLITE_MAX_STEPS


def test_gremlite_requests_stay_under_its_recursion_limit(lineage_graph):
    # gremlite recurses once per step; the writer's step budget must keep a full
    # 200-mutation plan runnable.
    stats = writer.write(lineage_graph, many_records(40))
    assert stats.mutations == 240 and stats.requests > 2
    assert lineage_graph.V().has_label("TaskRun").count().next() == 40


# ---------------------------------------------------------------- Neptune


@pytest.mark.neptune_only
def test_writer_traversal_is_plain_gremlin_for_neptune():
    """Built and serialised exactly as DriverRemoteConnection sends it; executed only when
    DAGTRAIL_TEST_NEPTUNE_URL names a Neptune (or Gremlin Server) endpoint."""
    from gremlin_python.process.anonymous_traversal import traversal
    from gremlin_python.structure.graph import Graph
    from gremlin_python.structure.io.graphsonV3d0 import GraphSONWriter

    g = traversal().with_graph(Graph())
    chunk = writer.plan(scenario())[0]
    bytecode = writer.traversal(g, chunk).bytecode
    wire = json.loads(GraphSONWriter().write_object(bytecode))
    steps = {s[0] for s in bytecode.step_instructions}
    assert not steps & {"mergeV", "mergeE", "inject"}
    assert wire["@type"] == "g:Bytecode" and len(wire["@value"]["step"]) == len(bytecode.step_instructions)

    url = os.environ.get("DAGTRAIL_TEST_NEPTUNE_URL")
    if not url:
        pytest.skip("needs a Neptune endpoint (DAGTRAIL_TEST_NEPTUNE_URL)")
    remote = graph.open_graph(url)
    try:
        writer.write(remote, scenario())
        assert remote.V().has("TaskRun", "uid", "taskrun:run-1:fit:2").values("status").to_list() == ["SUCCEEDED"]
    finally:
        graph.close(remote)


class SwallowingConnection:
    """A graph that accepts requests but loses the traverser (a silently skipped mutation)."""

    def submit(self, bytecode):
        from gremlin_python.driver.remote_connection import RemoteTraversal

        return RemoteTraversal(iter([]))


def test_a_request_that_loses_its_traverser_is_an_error():
    from gremlin_python.process.anonymous_traversal import traversal

    g = traversal().with_remote(SwallowingConnection())
    with pytest.raises(writer.LineageWriteError, match=r"returned \[\], expected \[1\]"):
        writer.write(g, task_run("RUNNING"))


class GcObservingConnection(CountingConnection):
    """Records whether cyclic garbage collection was on while each request ran."""

    def __init__(self, inner):
        super().__init__(inner)
        self.gc_enabled = []

    def submit(self, bytecode):
        import gc

        self.gc_enabled.append(gc.isenabled())
        return super().submit(bytecode)


@pytest.mark.parametrize("enabled_before", [True, False])
def test_collection_is_paused_during_requests_only(lineage_graph, enabled_before):
    import gc

    from gremlin_python.process.anonymous_traversal import traversal

    observing = GcObservingConnection(graph.remote(lineage_graph))
    g = traversal().with_remote(observing)
    was = gc.isenabled()
    (gc.enable if enabled_before else gc.disable)()
    try:
        writer.write(g, many_records(3), max_mutations=5)
        assert gc.isenabled() == enabled_before
    finally:
        (gc.enable if was else gc.disable)()
    assert observing.gc_enabled == [False] * 4


def test_collection_resumes_when_a_request_fails():
    import gc

    from gremlin_python.process.anonymous_traversal import traversal

    class Failing:
        def submit(self, bytecode):
            raise ValueError("bad request")

    assert gc.isenabled()
    with pytest.raises(ValueError):
        writer.write(traversal().with_remote(Failing()), task_run("RUNNING"))
    assert gc.isenabled()
