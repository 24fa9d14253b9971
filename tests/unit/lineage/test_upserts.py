"""The shape of one write request: merged vertex records, endpoints looked up once, uid-first
lookups — each leaving exactly the graph that one request per record leaves."""

from gremlin_python.process.graph_traversal import __
from gremlin_python.process.traversal import Bytecode, Cardinality

from dagtrail.lineage import upserts, writer
from dagtrail.lineage import records as R
from dagtrail.lineage.records import ArtifactRef, LineageRecord


def task_run(status, attempt=1, **kw):
    return R.task_run("run-1", "wf", "fit", attempt, status=status, **kw)


def all_steps(bytecode):
    """Every step of a request, those of child traversals included, in order."""
    for step in bytecode.step_instructions:
        yield step
        for arg in step[1:]:
            child = getattr(arg, "bytecode", arg)
            if isinstance(child, Bytecode):
                yield from all_steps(child)


def lookups(bytecode, uid):
    """How many times a request's bytecode looks up the vertex with `uid` (V().has(uid))."""
    steps = list(all_steps(bytecode))
    return sum(prev == ["V"] and step == ["has", "uid", uid] for prev, step in zip(steps, steps[1:]))


def one_by_one(g, records):
    return writer.write(g, records, max_mutations=1)


def test_records_of_one_vertex_become_one_upsert_with_the_same_result(lineage_graph, snapshot_graph, tmp_path):
    from dagtrail.lineage import graph

    # Every state of one attempt, two of them at the same rank: applied one by one, the
    # later one (in plan order) wins each property it sets.
    recs = [r for status in ("SUBMITTED", "RUNNING", "SUCCEEDED", "FAILED") for r in task_run(
        status, log_stream="s/1" if status == "RUNNING" else None, exit_code={"SUCCEEDED": 0, "FAILED": 1}.get(status),
        status_reason="boom" if status == "FAILED" else None)]
    (chunk,) = writer.plan(recs)
    t = writer.traversal(lineage_graph, chunk)
    assert lookups(t.bytecode, "taskrun:run-1:fit:1") == 1
    assert writer.write(lineage_graph, recs).requests == 1

    reference = graph.open_graph(f"gremlite://{tmp_path / 'reference.db'}")
    try:
        assert one_by_one(reference, recs).requests == len(chunk) > 4
        assert snapshot_graph(lineage_graph) == snapshot_graph(reference)
    finally:
        graph.close(reference)
    props = lineage_graph.V().has("uid", "taskrun:run-1:fit:1").value_map().next()
    assert props["status"] == ["FAILED"] and props["_r_log_stream"] == [4]


def test_merged_properties_keep_the_rank_of_the_record_that_set_them(lineage_graph):
    # RUNNING(4) alone knew the log stream; merged with SUCCEEDED(5), the stream must still
    # be stored at rank 4, so a later RUNNING may replace it and a later PENDING may not.
    g = lineage_graph
    writer.write(g, task_run("RUNNING", log_stream="first") + task_run("SUCCEEDED"))
    writer.write(g, task_run("PENDING", log_stream="pending"))
    assert g.V().has("uid", "taskrun:run-1:fit:1").values("log_stream").to_list() == ["first"]
    writer.write(g, task_run("RUNNING", log_stream="second"))
    assert g.V().has("uid", "taskrun:run-1:fit:1").values("log_stream").to_list() == ["second"]
    assert g.V().has("uid", "taskrun:run-1:fit:1").values("status").to_list() == ["SUCCEEDED"]


def test_edges_reuse_the_vertices_of_their_request(lineage_graph, snapshot_graph):
    art = ArtifactRef(uri="s3://b/x", name="x", size=1, sha256="00")
    recs = task_run("RUNNING") + R.artifacts("run-1", "fit", 1, produced=[art], used=[])
    (chunk,) = writer.plan(recs)
    t = writer.traversal(lineage_graph, chunk)
    # TaskRun: its record and three edges; Execution: a placeholder for partOf.
    assert lookups(t.bytecode, "taskrun:run-1:fit:1") == 1
    assert lookups(t.bytecode, "execution:run-1") == 1
    writer.write(lineage_graph, recs)
    snap = snapshot_graph(lineage_graph)
    assert snap["edges"] == [("partOf", "taskrun:run-1:fit:1", "execution:run-1"),
                             ("runs", "taskrun:run-1:fit:1", "task:wf:fit"),
                             ("wasGeneratedBy", "artifact:s3://b/x", "taskrun:run-1:fit:1")]
    writer.write(lineage_graph, recs)
    assert snapshot_graph(lineage_graph) == snap


def test_a_uid_under_two_labels_is_two_vertices(lineage_graph):
    same = "shared-uid"
    recs = [LineageRecord(op="vertex", label="Task", uid=same, props={"name": "t"}),
            LineageRecord(op="vertex", label="Artifact", uid=same, props={"name": "a"}),
            LineageRecord(op="edge", label="used", uid="e", out_label="TaskRun", out_uid="tr",
                          in_label="Artifact", in_uid=same)]
    writer.write(lineage_graph, recs)
    writer.write(lineage_graph, recs)
    rows = lineage_graph.V().has("uid", same).project("l", "n").by(__.label()).by(__.values("name")).to_list()
    assert sorted((r["l"], r["n"]) for r in rows) == [("Artifact", "a"), ("Task", "t")]
    assert lineage_graph.E().count().next() == 1


def test_lookups_do_not_scan_every_vertex_of_a_label(lineage_graph):
    # gremlite turns has(label, 'uid', x) into `s IN (every vertex with that label)`: a cost
    # growing with the graph on every upsert. uid first is one index probe.
    from dagtrail.lineage import graph

    writer.write(lineage_graph, [r for i in range(20) for r in R.task_run("run-1", "wf", f"t{i}", 1, status="RUNNING")])
    statements = []
    graph.remote(lineage_graph).con.set_trace_callback(statements.append)
    try:
        writer.write(lineage_graph, task_run("SUCCEEDED"))
    finally:
        graph.remote(lineage_graph).con.set_trace_callback(None)
    assert statements
    assert not [s for s in statements if "IN (SELECT s FROM quads WHERE s > 0 AND p = 0" in s]


def test_step_count_is_known_before_the_traversal_is_built(lineage_graph):
    art = ArtifactRef(uri="s3://b/x", name="x", size=1, sha256="00")
    recs = writer.normalise(task_run("RUNNING") + task_run("SUCCEEDED") + R.informed_by("run-1", "fit", 1, "prep", 1)
                            + R.artifacts("run-1", "fit", 1, produced=[art], used=[art]))
    req = upserts.Request()
    for r in recs:
        before = req.steps
        cost = req.cost(r)
        req.add(r)
        assert req.steps == before + cost
        assert len(req.traversal(lineage_graph).bytecode.step_instructions) == req.steps


def cardinalities(bytecode):
    return {a for step in all_steps(bytecode) for a in step[1:] if isinstance(a, Cardinality)}


def test_new_vertices_take_list_cardinality_on_gremlite_only(lineage_graph, snapshot_graph, tmp_path):
    from dagtrail.lineage import graph

    first = task_run("RUNNING", log_stream="s/1")
    (chunk,) = writer.plan(first)
    # Neptune has no list cardinality; updates of existing vertices are single everywhere.
    assert cardinalities(writer.traversal(lineage_graph, chunk).bytecode) == {Cardinality.single}
    assert cardinalities(writer.traversal(lineage_graph, chunk, gremlite=True).bytecode) == {
        Cardinality.single, Cardinality.list_}

    reference = graph.open_graph(f"gremlite://{tmp_path / 'reference.db'}")
    try:
        for batch in (first, task_run("SUCCEEDED", exit_code=0), task_run("RUNNING", log_stream="s/2")):
            writer.write(lineage_graph, batch)  # found out to be gremlite
            writer.write(reference, batch, gremlite=False)
        assert snapshot_graph(lineage_graph) == snapshot_graph(reference)
    finally:
        graph.close(reference)
    props = lineage_graph.V().has("uid", "taskrun:run-1:fit:1").value_map().next()
    assert props["log_stream"] == ["s/2"] and props["status"] == ["SUCCEEDED"] and props["_r_status"] == [5]


def test_merging_keeps_the_highest_rank_whatever_the_order():
    running, succeeded = (next(r for r in task_run(s, log_stream=s) if r.label == "TaskRun")
                          for s in ("RUNNING", "SUCCEEDED"))
    pending = next(r for r in task_run("PENDING", job_id="job-1") if r.label == "TaskRun")
    for order in ([running, succeeded, pending], [succeeded, pending, running], [pending, running, succeeded]):
        (props,) = upserts.request(order).vertices.values()
        assert props["status"] == ("SUCCEEDED", 5) and props["log_stream"] == ("SUCCEEDED", 5)
        assert props["job_id"] == ("job-1", 1)


def test_rank_zero_is_stored_as_no_rank_and_still_guarded(lineage_graph):
    # SUBMITTED is rank 0: its properties take no `_r_` property (none stored means 0), in a
    # new vertex and in an existing one; a later rank-0 record still overwrites them, and
    # nothing of rank 0 overwrites what a higher rank set, in one request or across several.
    uid = "taskrun:run-1:fit:1"
    one_by_one(lineage_graph, task_run("SUBMITTED", log_stream="s/0"))
    props = lineage_graph.V().has("uid", uid).value_map().next()
    assert props["log_stream"] == ["s/0"] and not [k for k in props if k.startswith(upserts.RANK_PREFIX)]
    one_by_one(lineage_graph, task_run("SUBMITTED", log_stream="s/1"))
    assert lineage_graph.V().has("uid", uid).values("log_stream").to_list() == ["s/1"]
    one_by_one(lineage_graph, task_run("RUNNING", log_stream="s/2"))
    one_by_one(lineage_graph, task_run("SUBMITTED", log_stream="s/3", image="img"))
    writer.write(lineage_graph, task_run("SUBMITTED", log_stream="s/4") + task_run("PENDING", job_id="j"))
    props = lineage_graph.V().has("uid", uid).value_map().next()
    assert props["log_stream"] == ["s/2"] and props["_r_log_stream"] == [4] and props["status"] == ["RUNNING"]
    assert props["image"] == ["img"] and "_r_image" not in props  # set at rank 0: new, so taken
    assert props["job_id"] == ["j"] and props["_r_job_id"] == [1]
