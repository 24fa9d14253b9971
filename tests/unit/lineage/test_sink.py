import logging
import subprocess
import sys

import pytest

from dagtrail.lineage import records as R
from dagtrail.lineage import sink, writer
from dagtrail.lineage.records import LineageRecord
from dagtrail.lineage.sink import LineageSinkError


def some_records(n_tasks):
    out = []
    for i in range(n_tasks):
        out += R.task_run("run-1", "wf", f"t{i}", 1, status="RUNNING", job_id=f"job-{i}")
    return out


@pytest.fixture
def queue(aws_mock, monkeypatch):
    from dagtrail import aws

    url = aws.client("sqs").create_queue(QueueName="lineage-test")["QueueUrl"]
    monkeypatch.setenv("DAGTRAIL_LINEAGE_QUEUE_URL", url)
    monkeypatch.delenv("DAGTRAIL_GRAPH_URL", raising=False)
    return url


def drain(url):
    from dagtrail import aws

    sqs, bodies = aws.client("sqs"), []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return bodies
        bodies += [m["Body"] for m in got]
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])


def test_emit_packs_records_into_few_messages_through_sqs(queue):
    recs = some_records(6)  # 24 records, a few KiB
    sink.emit(recs)
    bodies = drain(queue)
    assert len(bodies) == 1
    received = [r for body in bodies for r in writer.parse_body(body)]
    assert sorted(r.model_dump_json() for r in received) == sorted(r.model_dump_json() for r in recs)


def test_send_uses_batches_of_ten(queue):
    assert sink.send_to_queue(queue, some_records(6), message_bytes=1) == 3  # 24 messages: 10 + 10 + 4
    assert len(drain(queue)) == 24


def test_pack_keeps_order_and_the_size_bound():
    recs = some_records(200)  # 800 records
    bodies = sink.pack(recs, message_bytes=4096)
    assert len(bodies) > 1
    assert all(len(b.encode()) <= 4096 for b in bodies)
    assert [r for b in bodies for r in writer.parse_body(b)] == recs
    assert len(sink.pack(recs, message_bytes=1)) == len(recs)  # one record per message
    big = R.task_run("run-1", "wf", "t", 1, status="FAILED", status_reason="x" * 10_000)
    packed = sink.pack(big + recs[:3], message_bytes=1024)
    assert any(len(b.encode()) > 1024 for b in packed)  # a record over the bound travels alone
    assert all(len(b.encode()) <= 1024 or len(writer.parse_body(b)) == 1 for b in packed)
    assert [r for b in packed for r in writer.parse_body(b)] == big + recs[:3]
    assert sink.pack([]) == []


def test_batches_respect_the_byte_limit():
    body = "x" * (100 * 1024)
    assert [len(b) for b in sink.batches([body] * 5)] == [2, 2, 1]
    assert [len(b) for b in sink.batches(["{}"] * 23)] == [10, 10, 3]
    ids = [entry_id for b in sink.batches(["{}"] * 23) for entry_id, _ in b]
    assert len(set(ids)) == 23
    with pytest.raises(LineageSinkError, match="over SQS"):
        sink.batches(["y" * (256 * 1024 + 1)])


class FlakySqs:
    """send_message_batch that fails the given entry ids for the first `failures` calls."""

    def __init__(self, failures, fail_ids=("1",), sender_fault=False):
        self.failures, self.fail_ids, self.sender_fault = failures, fail_ids, sender_fault
        self.calls = []

    def send_message_batch(self, QueueUrl, Entries):
        self.calls.append([e["Id"] for e in Entries])
        if len(self.calls) <= self.failures:
            failed = [
                {"Id": e["Id"], "SenderFault": self.sender_fault, "Code": "InternalError", "Message": "try again"}
                for e in Entries if e["Id"] in self.fail_ids
            ]
            return {"Successful": [{"Id": e["Id"]} for e in Entries if e["Id"] not in self.fail_ids],
                    "Failed": failed}
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def test_failed_entries_are_retried_alone(monkeypatch):
    fake = FlakySqs(failures=2)
    monkeypatch.setattr("dagtrail.aws.client", lambda name: fake)
    assert sink.send_to_queue("q", some_records(1), message_bytes=1, sleep=lambda s: None) == 3
    assert fake.calls == [["0", "1", "2", "3"], ["1"], ["1"]]


def test_entries_that_keep_failing_raise(monkeypatch):
    fake = FlakySqs(failures=99)
    monkeypatch.setattr("dagtrail.aws.client", lambda name: fake)
    with pytest.raises(LineageSinkError, match="after 4 attempts: 1: InternalError"):
        sink.send_to_queue("q", some_records(1), message_bytes=1, sleep=lambda s: None)
    assert len(fake.calls) == sink.SEND_ATTEMPTS


def test_sender_faults_are_not_retried(monkeypatch):
    fake = FlakySqs(failures=99, sender_fault=True)
    monkeypatch.setattr("dagtrail.aws.client", lambda name: fake)
    with pytest.raises(LineageSinkError, match="rejected"):
        sink.send_to_queue("q", some_records(1), message_bytes=1, sleep=lambda s: None)
    assert len(fake.calls) == 1


def test_emit_writes_straight_to_the_graph_without_a_queue(lineage_graph, monkeypatch):
    monkeypatch.delenv("DAGTRAIL_LINEAGE_QUEUE_URL", raising=False)
    monkeypatch.setenv("DAGTRAIL_GRAPH_URL", lineage_graph.url)
    sink.emit(some_records(2))
    assert lineage_graph.V().has_label("TaskRun").count().next() == 2


def test_emit_without_destination_logs_and_drops(monkeypatch, caplog):
    monkeypatch.delenv("DAGTRAIL_LINEAGE_QUEUE_URL", raising=False)
    monkeypatch.delenv("DAGTRAIL_GRAPH_URL", raising=False)
    with caplog.at_level(logging.INFO, logger="dagtrail.lineage.sink"):
        sink.emit(some_records(1))
    assert "dropping 4 lineage records" in caplog.text


def test_emit_of_nothing_does_nothing(monkeypatch):
    monkeypatch.setenv("DAGTRAIL_LINEAGE_QUEUE_URL", "https://sqs.invalid/never-called")
    sink.emit([])


def test_sink_imports_light():
    code = (
        "import sys, dagtrail.lineage.sink, dagtrail.lineage.records, dagtrail.lineage;"
        "heavy = [m for m in ('gremlin_python', 'gremlite', 'boto3', 'aiohttp') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_records_survive_the_queue_format():
    rec = some_records(1)[1]
    assert writer.parse_body(rec.model_dump_json()) == [rec]
    assert writer.parse_body("[" + rec.model_dump_json() + "]") == [rec]
    assert isinstance(writer.parse_body(rec.model_dump_json())[0], LineageRecord)


def test_together_sends_what_is_emitted_inside_as_one_emit(queue):
    with sink.together():
        sink.emit(some_records(1))
        with sink.together():  # nested: the outer one sends
            sink.emit(some_records(2)[4:])
        assert drain(queue) == []
    bodies = drain(queue)
    assert len(bodies) == 1 and len(writer.parse_body(bodies[0])) == 8


def test_together_logs_a_failed_send_and_carries_on(monkeypatch, caplog):
    monkeypatch.setenv("DAGTRAIL_LINEAGE_QUEUE_URL", "q")
    monkeypatch.setattr("dagtrail.aws.client", lambda name: FlakySqs(failures=99, fail_ids=("0",), sender_fault=True))
    with caplog.at_level(logging.ERROR, logger="dagtrail.lineage.sink"), sink.together():
        sink.emit(some_records(1))
    assert "lineage emission failed" in caplog.text
