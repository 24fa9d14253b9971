"""Record real local runs and replay their event streams against fresh state (issue 7).

A recording is the JSON-lines event log of `LocalRun(event_log=...)` (local/handlers.py):
every handler invocation in the order it happened. A replay delivers the workflow's events
again to the real handlers (functions/*/app.py) against a fresh moto runs table, a
recording Step Functions stub and a fresh gremlite graph, in order or under chaos, and
returns a snapshot of the resulting state to compare. The account is `dagtrail invoke`'s
(local/invoke.py: emulated_account), with the recording's results directory.

Causality is kept where AWS keeps it: the state machine invokes submit_task for a task only
after the tokens it waited on were answered, and an execution's status event is emitted
only after what preceded it. EventBridge deliveries of job events have no such guarantee:
they may come at any time, even before submit_task recorded the job, and any number of
times. Lineage messages go through an SQS queue and reach the writer in any order, some
more than once (or, received too often, from the DLQ once the stream is over, as
`dagtrail lineage replay` would). A sweep's array job is submitted once and its children
(`<parent>:<index>`) report their own events; a child's event comes after submit_task
registered the parent (AWS starts children only after SubmitJob returned; the other order is
a known gap, docs/sweeps.md) but in any order with the parent's and each other's.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from dagtrail import aws, compute
from dagtrail.local.handlers import HandlerRegistry
from dagtrail.local.invoke import emulated_account, environment
from dagtrail.local.services import RUNS_TABLE
from dagtrail.spec.models import WorkflowSpec

REPLAYED = ("SubmitTaskFunction", "JobEventsFunction", "ExecutionEventsFunction")
TERMINAL = ("SUCCEEDED", "FAILED")


@dataclass
class Recording:
    spec: WorkflowSpec
    workdir: Path
    entries: list[dict[str, Any]]
    status: str
    definition: str  # as compiled when recorded (a sweep's shape depends on sweeps.sizing)

    @property
    def job_ids(self) -> dict[tuple[str, int, int | None], str]:
        """(task, attempt, item) → the job id the real run's backend gave it."""
        out = {}
        for e in self.entries:
            if e["function"] == "SubmitTaskFunction" and "result" in e and not e["result"].get("duplicate"):
                out[(e["event"]["task"], e["result"]["attempt"], e["event"].get("item_index"))] = e["result"]["job_id"]
        return out


def record(spec: WorkflowSpec, workdir: Path, params: dict | None = None) -> Recording:
    from dagtrail.compiler import compile_workflow
    from dagtrail.local.engine import LocalRun

    log = workdir / "events.jsonl"
    summary = LocalRun(spec, params or {}, workdir, docker=False, retry_sleep_factor=0.0, event_log=log).execute()
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    return Recording(spec, workdir, entries, summary.status, json.dumps(compile_workflow(spec)))


@dataclass
class Delivery:
    function: str
    event: dict[str, Any]
    needs: frozenset[str]  # task tokens answered, or `job:<id>` submitted, before it may come
    copies: int = 1


def deliveries(rec: Recording) -> list[Delivery]:
    """The recorded workflow events, each with what it causally waits for."""
    from dagtrail.sweeps.events import child_of

    token_of = {}
    for e in rec.entries:
        if e["function"] == "SubmitTaskFunction" and "result" in e:
            token_of[e["result"]["job_id"]] = e["event"]["token"]
    answered: set[str] = set()
    out = []
    for e in rec.entries:
        if e["function"] not in REPLAYED or "error" in e:
            continue
        if e["function"] == "JobEventsFunction":
            parent = child_of(e["event"].get("detail", {}).get("jobId", ""))
            # EventBridge: any time, an array child's once its parent is registered.
            out.append(Delivery(e["function"], e["event"], frozenset({f"job:{parent[0]}"} if parent else ())))
            result = e.get("result") or {}
            if result.get("state") in TERMINAL and result.get("job_id") in token_of:
                answered.add(token_of[result["job_id"]])
        else:
            out.append(Delivery(e["function"], e["event"], frozenset(answered)))
    return out


class RecordingSfn:
    """Step Functions as job_events and execution_events see it: every SendTask* call is
    recorded; a token answered before is rejected as AWS rejects it."""

    def __init__(self, definition: str) -> None:
        self.definition = definition
        self.calls: dict[str, list[tuple]] = defaultdict(list)

    def _answer(self, token: str, call: tuple) -> None:
        already = bool(self.calls[token])
        self.calls[token].append(call)
        if already:
            raise ClientError({"Error": {"Code": "InvalidToken", "Message": "already answered"}}, call[0])

    def send_task_success(self, *, taskToken: str, output: str) -> None:
        self._answer(taskToken, ("success", json.loads(output)))

    def send_task_failure(self, *, taskToken: str, error: str = "", cause: str = "") -> None:
        self._answer(taskToken, ("failure", error, cause))

    def describe_state_machine(self, *, stateMachineArn: str) -> dict:
        return {"stateMachineArn": stateMachineArn, "definition": self.definition}

    @property
    def answered(self) -> set[str]:
        return {t for t, calls in self.calls.items() if calls}


class ReplayBackend:
    """The compute backend of a replay: submitting gives back the job id the real run got;
    an array job's children are the recording's `<parent>:<index>` ids, which start (and
    may report) once the parent is submitted."""

    name = "local"

    def __init__(self, job_ids: dict[tuple[str, int, int | None], str]) -> None:
        self.job_ids = job_ids
        self.submitted: list[str] = []

    def submit(self, request) -> str:
        job_id = self.job_ids[(request.task, request.attempt, request.item_index)]
        self.submitted.append(job_id)
        return job_id

    @property
    def started(self) -> set[str]:
        """What a delivery may wait for: `job:<id>` of every job submitted so far."""
        return {f"job:{job_id}" for job_id in self.submitted}

    def terminate(self, job_id: str, reason: str) -> None:
        pass

    def describe(self, job_ids: list[str]) -> dict:
        return {}


@dataclass
class Snapshot:
    table: list
    sfn: dict[str, list[tuple]]
    graph: dict
    submitted: list[str] = field(default_factory=list)


@contextmanager
def _stepfunctions(stub: RecordingSfn) -> Iterator[None]:
    real = aws.client

    def client(service: str, region: str | None = None) -> Any:
        return stub if service == "stepfunctions" else real(service, region)

    aws.client = client
    try:
        yield
    finally:
        aws.client = real


def replay(rec: Recording, registry: HandlerRegistry, graph_path: Path, snapshot_graph,
           rng: random.Random | None = None) -> Snapshot:
    """Deliver the recording once in order (rng None) or under chaos; return the end state."""
    from dagtrail.lineage import graph
    from dagtrail.sweeps import events as sweep_events

    url = f"gremlite://{graph_path}"
    stub = RecordingSfn(rec.definition)
    backend = ReplayBackend(rec.job_ids)
    # A warm handler's cache of array parents would outlive the replay's fresh table.
    sweep_events._PARENTS.clear()
    # The handlers' queue is the account's (create_resources sets DAGTRAIL_LINEAGE_QUEUE_URL).
    with emulated_account(rec.workdir) as stack, environment({"DAGTRAIL_GRAPH_URL": url}):
        compute.use_local(backend)
        try:
            with _stepfunctions(stub):
                _deliver(rec, registry, stub, backend, stack, rng)
            table = _table()
        finally:
            compute.use_local(None)
            graph.forget_cached()
    aws.reset_clients()
    g = graph.open_graph(url)
    try:
        shot = snapshot_graph(g)
    finally:
        graph.close(g)
    return Snapshot(table=table, sfn=dict(stub.calls), graph=shot, submitted=backend.submitted)


def _deliver(rec: Recording, registry: HandlerRegistry, stub: RecordingSfn, backend: ReplayBackend, stack,
             rng: random.Random | None) -> None:
    sqs, queue = aws.client("sqs"), stack.lineage_queue_url
    pending = deliveries(rec)
    if rng is not None:
        for d in pending:
            d.copies = rng.choice((1, 1, 2, 3))
    while pending:
        happened = stub.answered | backend.started
        enabled = [i for i, d in enumerate(pending) if d.needs <= happened]
        assert enabled, "replay stalled: a delivery waits on a token or job nothing answers or submits"
        i = enabled[0] if rng is None else rng.choice(enabled)
        d = pending[i]
        registry.invoke(d.function, json.loads(json.dumps(d.event)))
        d.copies -= 1
        if d.copies == 0:
            pending.pop(i)
        if rng is None or rng.random() < 0.3:
            _write_lineage(registry, sqs, queue, rng)
    _write_lineage(registry, sqs, queue, rng, final=True)
    # Messages received too often went to the DLQ; an operator replays them.
    _write_lineage(registry, sqs, stack.lineage_dlq_url, rng, final=True)


def _write_lineage(registry: HandlerRegistry, sqs, queue: str, rng: random.Random | None, *,
                   final: bool = False) -> None:
    """The writer's event source mapping, with SQS's freedoms: any batch size, any order,
    and a message redelivered when its delete did not happen."""
    rounds = 0
    while True:
        size = 10 if rng is None else rng.randint(1, 10)
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=size).get("Messages", [])
        if not messages:
            return
        if rng is not None:
            rng.shuffle(messages)
        result = registry.invoke("LineageWriterFunction", {"Records": [
            {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
             "attributes": {}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs",
             "awsRegion": "us-east-1", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:replay-lineage"}
            for m in messages]}) or {}
        assert result.get("batchItemFailures") == [], result
        # Redelivery: while not final, some messages are left on the queue to come again.
        keep_some = rng is not None and rounds < 3
        done = [m for m in messages if not (keep_some and rng.random() < 0.3)]
        if done:
            sqs.delete_message_batch(QueueUrl=queue, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)])
        rounds += 1
        if not final and rng is not None and rng.random() < 0.5:
            return  # the rest waits: lineage lags behind the workflow


_WALL_CLOCK = {"updated_at", "created_at"}  # written at delivery time, not taken from events


def _table() -> list:
    from dagtrail.runs.table import _item

    ddb = aws.client("dynamodb")
    items, kwargs = [], {"TableName": RUNS_TABLE}
    while True:
        page = ddb.scan(**kwargs)
        items += [_item(raw) for raw in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    clean = [{k: v for k, v in item.items() if k not in _WALL_CLOCK} for item in items]
    return sorted(clean, key=lambda item: (item["pk"], item["sk"]))
