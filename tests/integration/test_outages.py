"""Outages and lost events in local mode (issue 7): real runs through the real pipeline, with
a test-only fault put into one part each time (monkeypatched, nothing in the product changes).

- a lost terminal event is repaired by the reconciler, through job_events' code path;
- an expired or already-answered token is logged, counted (StaleTaskToken), and not retried;
- the graph down for a while: records wait in the queue and land when it is back; down for
  longer: they reach the DLQ, are kept, and `dagtrail lineage replay` completes the graph;
- Batch/ECS throttling the submit (429): the state machine's dagtrail.SubmitThrottled retrier
  tries again and the run succeeds;
- a Spot reclaim of an attempt: a new attempt, both recorded in the lineage graph.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from dagtrail.compute import SubmitThrottled
from dagtrail.local import engine, services
from dagtrail.local.engine import LocalRun
from dagtrail.local.processes import ProcessBackend
from dagtrail.spec.loader import load_spec_text

WRITE = ("import os; open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/out.txt', 'w')"
         ".write(os.environ['DAGTRAIL_TASK'] + os.environ['DAGTRAIL_ATTEMPT'])")
SPEC = f"""
name: outage
tasks:
  a: {{image: python:3.13-slim, command: ["python3", "-c", "{WRITE}"]}}
  b: {{image: python:3.13-slim, command: ["python3", "-c", "{WRITE}"], depends_on: [a], retries: 1}}
"""
SPOT_REASON = "Host EC2 (instance i-0123456789abcdef0) terminated."


def run(tmp_path: Path, name: str = "w"):
    log = tmp_path / f"{name}-events.jsonl"
    summary = LocalRun(load_spec_text(SPEC), {}, tmp_path / name, docker=False, retry_sleep_factor=0.0,
                       event_log=log).execute()
    return summary, [json.loads(line) for line in log.read_text().splitlines()]


def lineage(workdir: Path) -> dict:
    from gremlin_python.process.graph_traversal import __

    from dagtrail.lineage import graph

    g = graph.open_graph(f"gremlite://{workdir / 'lineage.db'}")
    try:
        vertices = g.V().project("label", "props").by(__.label()).by(__.value_map()).to_list()
        edges = g.E().label().to_list()
    finally:
        graph.close(g)
    return {"vertices": Counter(v["label"] for v in vertices), "edges": Counter(edges),
            "taskruns": sorted((v["props"]["uid"][0].rsplit(":", 2)[-2:], v["props"].get("status", [None])[0],
                                v["props"].get("status_reason", [None])[0])
                               for v in vertices if v["label"] == "TaskRun")}


_reference: dict = {}


@pytest.fixture
def reference(tmp_path_factory):
    """The lineage graph of an undisturbed run of SPEC (vertex and edge counts by label)."""
    if not _reference:
        workdir = tmp_path_factory.mktemp("reference")
        summary, _ = run(workdir)
        assert summary.status == "SUCCEEDED"
        _reference.update(lineage(workdir / "w"))
    return _reference


# ------------------------------------------------------------------------- lost events


def test_a_dropped_terminal_event_is_repaired_by_one_reconcile_cycle(tmp_path, monkeypatch, reference):
    dropped: list[str] = []

    class LossyBackend(ProcessBackend):
        """EventBridge loses b's SUCCEEDED event (best effort is allowed to)."""

        def __init__(self, workdir, emit, **kwargs):
            def lossy(event):
                d = event["detail"]
                if d["status"] == "SUCCEEDED" and d["tags"]["dagtrail:task"] == "b" and not dropped:
                    dropped.append(d["jobId"])
                    return
                emit(event)
            super().__init__(workdir, lossy, **kwargs)

    monkeypatch.setattr(engine, "ProcessBackend", LossyBackend)
    monkeypatch.setattr(engine, "RECONCILE_EVERY_SECONDS", 0.5)
    real_env = services.environment
    monkeypatch.setattr(services, "environment",
                        lambda workdir: real_env(workdir) | {"DAGTRAIL_RECONCILE_QUIET_SECONDS": "1"})
    summary, log = run(tmp_path)
    assert dropped and summary.status == "SUCCEEDED"
    # Nothing delivered b's terminal event: the reconciler found it and answered the token.
    job_events = [e for e in log if e["function"] == "JobEventsFunction"]
    assert not any(e["result"].get("job_id") == dropped[0] and e["result"]["state"] == "SUCCEEDED"
                   for e in job_events)
    repairs = [e["result"] for e in log if e["function"] == "ReconcileFunction" and e["result"]["tokens_sent"]]
    assert len(repairs) == 1 and repairs[0]["advanced"] == 1 and repairs[0]["lost"] == 0
    assert {t.name: (t.status, t.attempts) for t in summary.tasks} == {"a": ("SUCCEEDED", 1), "b": ("SUCCEEDED", 1)}
    assert lineage(tmp_path / "w") == reference


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken"])
def test_a_stale_token_is_logged_counted_and_not_retried(code, runs_table, monkeypatch, tmp_path):
    """job_events answers a token Step Functions no longer holds: no crash, one
    StaleTaskToken metric, the job leaves the open-jobs index, and a redelivery sends nothing."""
    from botocore.exceptions import ClientError

    from dagtrail import aws
    from dagtrail.local.handlers import HandlerRegistry
    from dagtrail.runs.models import JobRecord
    from dagtrail.runs.reconcile import reconcile
    from dagtrail.runs.states import JobState

    calls = []

    class Sfn:
        def send_task_success(self, **kwargs):
            calls.append(kwargs)
            raise ClientError({"Error": {"Code": code, "Message": "gone"}}, "SendTaskSuccess")

    real = aws.client
    patched = lambda name, region=None: Sfn() if name == "stepfunctions" else real(name, region)  # noqa: E731
    monkeypatch.setattr(aws, "client", patched)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.delenv("DAGTRAIL_LINEAGE_QUEUE_URL", raising=False)
    monkeypatch.delenv("DAGTRAIL_GRAPH_URL", raising=False)
    runs_table.assign_attempt("run", "a", "tok")
    runs_table.register_job(JobRecord(job_id="j1", state=JobState.SUBMITTED, token="tok", run_id="run", task="a",
                                      attempt=1, backend="local", output_prefix="s3://b/w/run/a/1/"))
    event = json.loads((Path(__file__).parents[2] / "events/JobEventsFunction/batch-job-succeeded.json").read_text())
    event["detail"]["jobId"] = "j1"
    registry = HandlerRegistry(tmp_path / "handlers.log")
    try:
        first = registry.invoke("JobEventsFunction", event)
        again = registry.invoke("JobEventsFunction", event)
    finally:
        registry.close()
    assert first["token"] == "stale" and again["token"] == "sent" and not again["applied"]
    assert len(calls) == 1  # no retry storm: the redelivery is a no-op
    output = (tmp_path / "handlers.log").read_text()
    metrics = [json.loads(line) for line in output.splitlines() if '"_aws"' in line]
    counted = [m["StaleTaskToken"] for m in metrics if "StaleTaskToken" in m]
    assert counted in ([1], [1.0], [[1]], [[1.0]]), counted
    assert code in output  # logged, with the reason
    assert runs_table.get_job("j1").token_sent
    assert reconcile(0, runs_table).checked == 0  # answered (stale) jobs leave the open index


# ------------------------------------------------------------------------- outages


def _graph_down(monkeypatch, calls_down: int | None):
    """The graph refuses connections for the first `calls_down` writer invocations (None: always)."""
    from dagtrail.lineage import graph

    real = graph.cached
    seen = {"calls": 0}

    def cached(url):
        seen["calls"] += 1
        if calls_down is None or seen["calls"] <= calls_down:
            raise graph.GraphUnavailable(f"cannot connect to {url}: connection refused")
        return real(url)

    monkeypatch.setattr(graph, "cached", cached)


def test_records_wait_in_the_queue_while_the_graph_is_down(tmp_path, monkeypatch, reference):
    _graph_down(monkeypatch, 2)  # under the queue's maxReceiveCount of 3
    summary, log = run(tmp_path)
    assert summary.status == "SUCCEEDED"  # lineage never blocks the workflow
    writes = [e["result"]["batchItemFailures"] for e in log if e["function"] == "LineageWriterFunction"]
    assert writes[0] and writes[1] and not all(writes[2:])  # refused, redelivered, then written
    assert lineage(tmp_path / "w") == reference
    from dagtrail.lineage import replay

    assert not replay.dlq_file(tmp_path / "w").exists() or not replay.read_file(replay.dlq_file(tmp_path / "w"))


def test_records_that_reached_the_dlq_are_replayed_into_the_graph(tmp_path, monkeypatch, reference):
    from dagtrail.lineage import graph, replay

    _graph_down(monkeypatch, None)  # down for the whole run
    summary, _ = run(tmp_path)
    assert summary.status == "SUCCEEDED"
    saved = replay.dlq_file(tmp_path / "w")
    kept = replay.read_file(saved)
    assert kept and all("unavailable" in (d.reason or "").lower() or d.reason is None for d in kept)
    monkeypatch.undo()  # the graph is back
    g = graph.open_graph(f"gremlite://{tmp_path / 'w' / 'lineage.db'}")
    try:
        report = replay.replay_file(saved, g)
    finally:
        graph.close(g)
    assert report.failed == [] and report.landed == len(kept) and report.untried == 0
    assert not replay.read_file(saved) if saved.exists() else True  # nothing left to replay
    assert lineage(tmp_path / "w") == reference


def test_submit_throttling_is_retried_by_the_state_machine(tmp_path, monkeypatch, reference):
    throttled = []
    real_submit = ProcessBackend.submit

    def submit(self, request):
        if len(throttled) < 2:  # Batch answers 429 twice
            throttled.append(request.task)
            raise SubmitThrottled("TooManyRequestsException: Too Many Requests")
        return real_submit(self, request)

    monkeypatch.setattr(ProcessBackend, "submit", submit)
    summary, log = run(tmp_path)
    assert summary.status == "SUCCEEDED" and throttled == ["a", "a"]
    errors = [e["error"] for e in log if e["function"] == "SubmitTaskFunction" and "error" in e]
    assert errors == ["dagtrail.SubmitThrottled"] * 2
    assert {t.name: t.status for t in summary.tasks} == {"a": "SUCCEEDED", "b": "SUCCEEDED"}
    # The throttled submits started nothing, so they used no attempt: `a` ran once, as attempt 1.
    assert {t.name: t.attempts for t in summary.tasks} == {"a": 1, "b": 1}
    assert (tmp_path / "w" / "results" / "outage" / summary.run_id / "a" / "1" / "out.txt").read_text() == "a1"
    graph = lineage(tmp_path / "w")
    assert graph["vertices"]["TaskRun"] == reference["vertices"]["TaskRun"]
    assert [uid for uid, _, _ in graph["taskruns"]] == [["a", "1"], ["b", "1"]]


def test_a_spot_reclaimed_attempt_is_retried_and_both_are_recorded(tmp_path, monkeypatch, reference):
    real_execute = ProcessBackend._execute

    def execute(self, job_id, argv, env, cwd, log_path, timeout):
        if env["DAGTRAIL_TASK"] == "b" and env["DAGTRAIL_ATTEMPT"] == "1":
            log_path.write_text("reclaimed\n")
            return None, SPOT_REASON  # the host went away: no exit code
        return real_execute(self, job_id, argv, env, cwd, log_path, timeout)

    monkeypatch.setattr(ProcessBackend, "_execute", execute)
    summary, _ = run(tmp_path)
    assert summary.status == "SUCCEEDED"
    b = next(t for t in summary.tasks if t.name == "b")
    assert (b.status, b.attempts) == ("SUCCEEDED", 2)
    graph = lineage(tmp_path / "w")
    assert graph["vertices"]["TaskRun"] == reference["vertices"]["TaskRun"] + 1
    runs = {tuple(uid): (status, reason) for uid, status, reason in graph["taskruns"]}
    assert runs[("b", "1")] == ("FAILED", SPOT_REASON)
    assert runs[("b", "2")][0] == "SUCCEEDED"


def test_a_poison_lineage_message_reaches_the_dlq_after_bounded_retries(tmp_path, monkeypatch, reference):
    from dagtrail import aws
    from dagtrail.lineage import replay

    poison = json.dumps({"kind": "vertex", "label": "TaskRun"})  # a record without a uid
    real_create = services.create_resources

    def create_resources():
        stack = real_create()
        aws.client("sqs").send_message(QueueUrl=stack.lineage_queue_url, MessageBody=poison)
        return stack

    monkeypatch.setattr(services, "create_resources", create_resources)
    summary, log = run(tmp_path)
    assert summary.status == "SUCCEEDED"
    failures = [e for e in log if e["function"] == "LineageWriterFunction" and e["result"]["batchItemFailures"]]
    bodies = [{r["messageId"]: r["body"] for r in e["event"]["Records"]} for e in failures]
    failed_bodies = [b[f["itemIdentifier"]] for b, e in zip(bodies, failures, strict=True)
                     for f in e["result"]["batchItemFailures"]]
    assert failed_bodies == [poison] * 3  # the queue's maxReceiveCount, then the DLQ; nothing else failed
    kept = replay.read_file(replay.dlq_file(tmp_path / "w"))
    assert [d.body for d in kept] == [poison]
    assert "invalid record" in (tmp_path / "w" / "handlers.log").read_text()  # the reason, logged
    assert lineage(tmp_path / "w") == reference  # every good record landed
