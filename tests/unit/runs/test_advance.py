"""job_events logic: whatever the delivery, each attempt's token is answered exactly once."""

import itertools
import json

from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from dagtrail.runs import advance
from dagtrail.runs.advance import JobUpdate, apply, parse_job_event
from dagtrail.runs.models import JobRecord
from dagtrail.runs.states import JobState


class RecordingSfn:
    def __init__(self, fail_with: str | None = None):
        self.calls = []
        self.fail_with = fail_with

    def _call(self, name, **kwargs):
        self.calls.append((name, kwargs))
        if self.fail_with:
            raise ClientError({"Error": {"Code": self.fail_with, "Message": "x"}}, name)

    def send_task_success(self, **kwargs):
        self._call("success", **kwargs)

    def send_task_failure(self, **kwargs):
        self._call("failure", **kwargs)


@pytest.fixture
def sfn(monkeypatch, runs_table):
    return _record_sfn(monkeypatch, RecordingSfn())


def _record_sfn(monkeypatch, recorder):
    real = advance.aws.client
    fake = SimpleNamespace(client=lambda name: recorder if name == "stepfunctions" else real(name))
    monkeypatch.setattr(advance, "aws", fake)
    return recorder


def _submitted(table, job_id="j1", token="tok"):
    table.assign_attempt("run", "a", token)
    return table.register_job(JobRecord(job_id=job_id, state=JobState.SUBMITTED, token=token, run_id="run",
                                        task="a", attempt=1, output_prefix="s3://b/w/run/a/1/"))


STREAM = [JobState.RUNNABLE, JobState.STARTING, JobState.RUNNING, JobState.SUCCEEDED]


@pytest.mark.parametrize("order", list(itertools.permutations(STREAM)))
def test_any_order_with_duplicates_sends_one_success(runs_table, sfn, order):
    _submitted(runs_table)
    for state in [*order, *order]:
        apply(JobUpdate(job_id="j1", state=state, exit_code=0 if state == JobState.SUCCEEDED else None),
              runs_table)
    assert [c[0] for c in sfn.calls] == ["success"]
    output = json.loads(sfn.calls[0][1]["output"])
    assert output["manifest"] == "s3://b/w/run/a/1/manifest.json"
    assert runs_table.get_task("run", "a").status == "SUCCEEDED"


def test_failure_sends_failure_with_exit_code(runs_table, sfn):
    _submitted(runs_table)
    apply(JobUpdate(job_id="j1", state=JobState.FAILED, exit_code=3, status_reason="Essential container"),
          runs_table)
    [(name, kwargs)] = sfn.calls
    assert name == "failure" and kwargs["error"] == "dagtrail.TaskFailed"
    assert "exit code 3" in kwargs["cause"]


def test_terminal_event_before_submit_record_waits_for_submit(runs_table, sfn):
    outcome = apply(JobUpdate(job_id="j1", state=JobState.SUCCEEDED, exit_code=0), runs_table)
    assert outcome.token == "pending" and sfn.calls == []


def test_stale_token_is_logged_not_raised(runs_table, monkeypatch):
    recorder = _record_sfn(monkeypatch, RecordingSfn(fail_with="TaskTimedOut"))
    _submitted(runs_table)
    outcome = apply(JobUpdate(job_id="j1", state=JobState.SUCCEEDED, exit_code=0), runs_table)
    assert outcome.token == "stale"
    # and a redelivery does not try again
    apply(JobUpdate(job_id="j1", state=JobState.SUCCEEDED, exit_code=0), runs_table)
    assert len(recorder.calls) == 1


def test_unexpected_sfn_error_propagates_and_redelivery_resends(runs_table, monkeypatch):
    recorder = _record_sfn(monkeypatch, RecordingSfn(fail_with="ServiceUnavailable"))
    _submitted(runs_table)
    with pytest.raises(ClientError):
        apply(JobUpdate(job_id="j1", state=JobState.SUCCEEDED, exit_code=0), runs_table)
    recorder.fail_with = None
    assert apply(JobUpdate(job_id="j1", state=JobState.SUCCEEDED, exit_code=0), runs_table).token == "sent"
    assert len(recorder.calls) == 2


def _batch_event(status, **detail):
    return {"version": "0", "id": "e", "detail-type": "Batch Job State Change", "source": "aws.batch",
            "account": "1", "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"jobId": "j1", "jobName": "n", "jobQueue": "q", "status": status, **detail}}


def test_parse_batch_event_takes_the_last_attempt():
    update, why = parse_job_event(_batch_event("FAILED", statusReason="Host EC2 terminated", attempts=[
        {"container": {"exitCode": 1}, "startedAt": 1000, "stoppedAt": 2000},
        {"container": {"exitCode": 137, "logStreamName": "ls"}, "startedAt": 3000, "stoppedAt": 4000}]))
    assert why == "" and update.state == JobState.FAILED and update.exit_code == 137
    assert update.log_stream == "ls" and update.status_reason == "Host EC2 terminated"


def test_parse_ecs_stopped_event():
    update, _ = parse_job_event({
        "detail-type": "ECS Task State Change", "source": "aws.ecs", "detail": {
            "taskArn": "arn:t", "lastStatus": "STOPPED", "stoppedReason": "Essential container exited",
            "containers": [{"name": "task", "exitCode": 0, "imageDigest": "sha256:abc"}]}})
    assert update.state == JobState.SUCCEEDED and update.image_digest == "sha256:abc"


@pytest.mark.parametrize("event", [
    {}, {"detail-type": "Object Created", "source": "aws.s3", "detail": {}},
    _batch_event("EXPLODED"), {"detail-type": "Batch Job State Change", "source": "aws.batch", "detail": {}},
    {"detail-type": "Batch Job State Change", "source": "evil.source", "detail": {"jobId": "x", "status": "SUCCEEDED"}},
])
def test_events_we_do_not_own_are_ignored_with_a_reason(event):
    update, why = parse_job_event(event)
    assert update is None and why


def test_an_ending_event_sends_its_lineage_in_one_message(runs_table, sfn, monkeypatch):
    """The TaskRun's last status and the attempt's outputs travel together (one queue
    operation per event, not one per thing the event tells the graph)."""
    from dagtrail import aws

    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="lineage")["QueueUrl"]
    monkeypatch.setenv("DAGTRAIL_LINEAGE_QUEUE_URL", url)
    prefix = "s3://results-bucket/w/run/a/1/"
    aws.client("s3").create_bucket(Bucket="results-bucket")
    aws.client("s3").put_object(Bucket="results-bucket", Key="w/run/a/1/manifest.json", Body=json.dumps({
        "task": "a", "attempt": 1, "prefix": prefix,
        "artifacts": [{"name": "out.txt", "size": 1, "sha256": "0" * 64}]}).encode())
    runs_table.assign_attempt("run", "a", "tok")
    runs_table.register_job(JobRecord(job_id="j1", state=JobState.SUBMITTED, token="tok", run_id="run",
                                      task="a", attempt=1, output_prefix=prefix))
    sends = []
    real_send = sqs.send_message_batch
    monkeypatch.setattr(sqs, "send_message_batch", lambda **kw: sends.append(kw) or real_send(**kw))
    apply(JobUpdate(job_id="j1", state=JobState.RUNNING), runs_table)
    apply(JobUpdate(job_id="j1", state=JobState.SUCCEEDED, exit_code=0), runs_table)
    assert len(sends) == 2
    [ended] = sends[1]["Entries"]
    kinds = {(r["op"], r["label"]) for r in json.loads(ended["MessageBody"])}
    assert {("vertex", "TaskRun"), ("vertex", "Artifact"), ("edge", "wasGeneratedBy")} <= kinds
