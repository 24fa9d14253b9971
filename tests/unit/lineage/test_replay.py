"""`dagtrail lineage replay`: records that waited in the DLQ (SQS on moto, or the local
runs' saved file) land in the graph once it is back, counted; poison ones say why."""

import json

import pytest

from dagtrail.cli.main import main
from dagtrail.lineage import graph, replay, retry, sink, writer
from dagtrail.lineage import records as R

UNREACHABLE = "ws://127.0.0.1:1/gremlin"  # nothing listens on port 1: connection refused


def run_records():
    recs = R.execution("run-1", "wf", execution_arn="arn", status="SUCCEEDED", started_at="2024-01-01T00:00:00Z")
    return recs + R.task_run("run-1", "wf", "fit", 1, status="SUCCEEDED", exit_code=0)


@pytest.fixture
def queues(aws_mock):
    from dagtrail import aws

    sqs = aws.client("sqs")
    dlq = sqs.create_queue(QueueName="lineage-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName="lineage", Attributes={
        "VisibilityTimeout": "0", "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "2"}),
    })["QueueUrl"]
    return sqs, queue, dlq


def drain(sqs, queue_url, graph_url, monkeypatch):
    """The SQS event source mapping: deliver batches to the writer until the queue is empty."""
    monkeypatch.setenv("DAGTRAIL_GRAPH_URL", graph_url)
    deliveries = 0
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return deliveries
        deliveries += 1
        event = {"Records": [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]}
        failed = {f["itemIdentifier"] for f in writer.handle_sqs_batch(event)["batchItemFailures"]}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])


def count(sqs, url):
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_records_wait_in_the_dlq_while_the_graph_is_down_then_replay_lands_them(
        queues, lineage_graph, monkeypatch, capsys, snapshot_graph):
    sqs, queue, dlq = queues
    monkeypatch.setattr(retry, "DEFAULT", retry.Backoff(attempts=2, base=0.0, cap=0.0))
    recs = run_records()
    sink.send_to_queue(queue, recs, message_bytes=1)  # a message per record: counted below
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"op": "vertex", "label": "Spaceship", "uid": "x"}))

    # Neptune is down: every delivery fails; after maxReceiveCount the redrive moves them all.
    graph.forget_cached()
    try:
        assert drain(sqs, queue, UNREACHABLE, monkeypatch) >= 2
    finally:
        graph.forget_cached()
    assert count(sqs, queue) == 0 and count(sqs, dlq) == len(recs) + 1
    assert lineage_graph.V().count().next() == 0

    # Back up: replay writes the DLQ into the graph; the poison message stays, with why.
    code = main(["lineage", "replay", "--queue-url", dlq, "--graph", lineage_graph.url, "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert (report["messages"], report["landed"], report["records"]) == (len(recs) + 1, len(recs), len(recs))
    [poison] = report["failed"]
    assert "unknown vertex label 'Spaceship'" in poison["reason"]
    assert count(sqs, dlq) == 1
    # The failed one is visible again at once, for the next replay.
    assert len(sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]) == 1

    expected_graph = graph.open_graph(f"gremlite://{lineage_graph.url.removeprefix('gremlite://')}.expected")
    writer.write(expected_graph, recs)
    assert snapshot_graph(lineage_graph) == snapshot_graph(expected_graph)
    graph.close(expected_graph)


def test_replay_text_names_each_failure(queues, lineage_graph, capsys):
    sqs, _queue, dlq = queues
    sqs.send_message(QueueUrl=dlq, MessageBody="{not json")
    sink.send_to_queue(dlq, R.informed_by("run-1", "b", 1, "a", 1))
    assert main(["lineage", "replay", "--queue-url", dlq, "--graph", lineage_graph.url]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(": 1 landed (1 records), 1 failed again")
    assert "JSONDecodeError" in lines[1]


def test_replay_stops_early_while_the_graph_is_still_down(queues, monkeypatch, capsys):
    sqs, _queue, dlq = queues
    monkeypatch.setattr(retry, "DEFAULT", retry.Backoff(attempts=2, base=0.0, cap=0.0))
    sink.send_to_queue(dlq, R.task_run("run-1", "wf", "a", 1, status="RUNNING") * 10, message_bytes=1)  # 40 messages
    try:
        code = main(["lineage", "replay", "--queue-url", dlq, "--graph", UNREACHABLE])
    finally:
        graph.forget_cached()
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith(f"replayed 10 messages from {dlq}: 0 landed (0 records), 10 failed again")
    assert "stopped: the graph is unreachable" in out
    assert count(sqs, dlq) == 40


# ---------------------------------------------------------------- local mode's saved file


def test_save_unwritten_moves_queued_and_dead_letters_into_the_file(queues, tmp_path):
    sqs, queue, dlq = queues
    sink.send_to_queue(queue, run_records()[:3], message_bytes=1)
    sink.send_to_queue(dlq, run_records()[3:], message_bytes=1)
    path = replay.dlq_file(tmp_path)
    assert replay.save_unwritten([queue, dlq], path) == len(run_records())
    assert count(sqs, queue) == count(sqs, dlq) == 0
    saved = replay.read_file(path)
    assert sorted(writer.parse_body(d.body)[0].uid for d in saved) == sorted(r.uid for r in run_records())
    # A second save appends, never duplicates.
    sink.send_to_queue(queue, run_records()[:1], message_bytes=1)
    assert replay.save_unwritten([queue], path) == 1
    assert len(replay.read_file(path)) == len(run_records()) + 1


def write_file(path, bodies):
    replay._append(path, [replay.DeadLetter(message_id=f"m{i}", body=b) for i, b in enumerate(bodies)])


def test_local_replay_lands_saved_records_and_keeps_only_poison_ones(tmp_path, capsys):
    workdir = tmp_path / ".dagtrail"
    path = replay.dlq_file(workdir)
    bodies = [r.model_dump_json() for r in run_records()]
    write_file(path, [*bodies, "[1, 2]"])
    assert main(["lineage", "replay", "--workdir", str(workdir)]) == 1
    out = capsys.readouterr().out
    assert f": {len(bodies)} landed ({len(bodies)} records), 1 failed again" in out
    [left] = replay.read_file(path)
    assert left.message_id == f"m{len(bodies)}" and left.reason.startswith("invalid record")

    g = graph.open_graph(f"gremlite://{workdir / 'lineage.db'}")
    assert g.V().has("TaskRun", "uid", "taskrun:run-1:fit:1").values("status").to_list() == ["SUCCEEDED"]
    graph.close(g)


def test_local_replay_with_nothing_saved(tmp_path, capsys):
    assert main(["lineage", "replay", "--workdir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("nothing to replay")


def test_local_replay_into_an_unopenable_graph_is_one_line_and_keeps_the_file(tmp_path, capsys):
    workdir = tmp_path / ".dagtrail"
    (workdir / "lineage.db").mkdir(parents=True)  # SQLite cannot open a directory
    path = replay.dlq_file(workdir)
    write_file(path, [r.model_dump_json() for r in run_records()])
    before = path.read_text()
    assert main(["lineage", "replay", "--workdir", str(workdir)]) == 2
    assert "cannot reach the lineage graph" in capsys.readouterr().err
    assert path.read_text() == before


def test_replay_file_stops_at_the_first_batch_that_finds_the_graph_down(tmp_path, monkeypatch):
    monkeypatch.setattr(retry, "DEFAULT", retry.Backoff(attempts=1))
    monkeypatch.setattr(replay, "WRITE_BATCH", 2)
    path = tmp_path / "dlq.jsonl"
    write_file(path, [r.model_dump_json() for r in run_records()])  # 7 messages, 4 batches
    try:
        g = graph.open_graph(UNREACHABLE)
        report = replay.replay_file(path, g, reconnect=lambda: graph.reconnect(UNREACHABLE))
    finally:
        graph.forget_cached()
    assert (report.messages, report.landed, len(report.failed), report.untried) == (2, 0, 2, 5)
    assert [d.message_id for d in replay.read_file(path)] == [f"m{i}" for i in range(7)]
