import importlib.util
import json
import logging
from pathlib import Path

import pytest

from dagtrail.lineage import records as R
from dagtrail.lineage import writer

REPO = Path(__file__).resolve().parents[3]


def sqs_event(bodies):
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"rh{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:dagtrail-lineage",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def bodies(recs):
    return [r.model_dump_json() for r in recs]


def test_batch_is_written(lineage_graph):
    recs = R.task_run("run-1", "wf", "prep", 1, status="SUCCEEDED", exit_code=0)
    assert writer.handle_sqs_batch(sqs_event(bodies(recs)), g=lineage_graph) == {"batchItemFailures": []}
    assert lineage_graph.V().has("TaskRun", "uid", "taskrun:run-1:prep:1").values("status").to_list() == ["SUCCEEDED"]


def test_poison_messages_fail_alone_with_a_reason(lineage_graph, caplog):
    good = bodies(R.task_run("run-1", "wf", "prep", 1, status="RUNNING"))
    unknown_label = json.dumps({"op": "vertex", "label": "Spaceship", "uid": "x"})
    event = sqs_event([good[0], "{not json", unknown_label, *good[1:]])
    with caplog.at_level(logging.ERROR, logger="dagtrail.lineage.writer"):
        response = writer.handle_sqs_batch(event, g=lineage_graph)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert "JSONDecodeError" in caplog.text
    assert "invalid record" in caplog.text and "unknown vertex label 'Spaceship'" in caplog.text
    reasons = {r.message_id: r.reason for r in caplog.records if hasattr(r, "message_id")}
    assert set(reasons) == {"m1", "m2"}
    # Everything else landed.
    assert lineage_graph.V().has_label("TaskRun").count().next() == 1
    assert lineage_graph.E().count().next() == 2


def test_a_failing_write_reports_only_the_messages_that_still_fail(lineage_graph, monkeypatch):
    real_write = writer.write

    def write(g, records, **kw):
        records = list(records)
        if any(r.uid == "taskrun:run-1:bad:1" for r in records):
            raise writer.LineageWriteError("lineage write of 2 records returned [], expected [1]")
        return real_write(g, records, **kw)

    monkeypatch.setattr(writer, "write", write)
    good = R.task_run("run-1", "wf", "prep", 1, status="RUNNING")
    bad = [r for r in R.task_run("run-1", "wf", "bad", 1, status="RUNNING") if r.label == "TaskRun"]
    response = writer.handle_sqs_batch(sqs_event(bodies(good) + bodies(bad)), g=lineage_graph)
    assert response == {"batchItemFailures": [{"itemIdentifier": f"m{len(good)}"}]}
    assert lineage_graph.V().has("TaskRun", "uid", "taskrun:run-1:prep:1").count().next() == 1


def test_without_a_graph_url_the_whole_batch_fails_loudly(monkeypatch):
    from dagtrail.lineage.graph import GraphUrlError

    monkeypatch.delenv("DAGTRAIL_GRAPH_URL", raising=False)
    with pytest.raises(GraphUrlError, match="DAGTRAIL_GRAPH_URL"):
        writer.handle_sqs_batch(sqs_event(bodies(R.informed_by("r", "a", 1, "b", 1))))


class Context:
    function_name = "lineage_writer"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:lineage_writer"
    aws_request_id = "req-1"


def load_handler():
    spec = importlib.util.spec_from_file_location("lineage_writer_app", REPO / "functions/lineage_writer/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def test_lambda_handler_reports_partial_batch_failures(lineage_graph, monkeypatch):
    monkeypatch.setenv("DAGTRAIL_GRAPH_URL", lineage_graph.url)
    handler = load_handler()
    recs = R.informed_by("run-1", "fit", 1, "prep", 1)
    response = handler(sqs_event([*bodies(recs), "[1, 2]"]), Context())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert lineage_graph.E().has_label("wasInformedBy").count().next() == 1


def test_the_sample_event_for_sam_local_invoke_is_written_whole(lineage_graph):
    event = json.loads((REPO / "events/LineageWriterFunction/sqs-lineage-batch.json").read_text())
    assert writer.handle_sqs_batch(event, g=lineage_graph) == {"batchItemFailures": []}
    uids = {r.uid for m in event["Records"] for r in writer.parse_body(m["body"]) if r.op == "vertex"}
    assert set(lineage_graph.V().values("uid").to_list()) >= uids
