"""job_events for array children (dagtrail.sweeps.events): the parent lookup each child
needs is cached per warm handler, without caching a parent that is not registered yet."""

import pytest

from dagtrail.runs.advance import JobUpdate
from dagtrail.runs.models import JobRecord
from dagtrail.runs.states import JobState
from dagtrail.sweeps import events
from dagtrail.sweeps import table as sweeps_table

T0, T1 = "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:01+00:00"


@pytest.fixture
def queue(runs_table, monkeypatch):
    from dagtrail import aws

    url = aws.client("sqs").create_queue(QueueName="lineage-sweeps")["QueueUrl"]
    monkeypatch.setenv("DAGTRAIL_LINEAGE_QUEUE_URL", url)
    monkeypatch.setattr(events, "_PARENTS", {})
    return url


def parent(table, job_id="arr"):
    return table.register_job(JobRecord(
        job_id=job_id, state=JobState.SUBMITTED, token="tok", run_id="run-1", workflow="wf", task="seeds",
        attempt=1, backend="local", image="x", command=["true"], output_prefix="s3://results-r/wf/run-1/seeds/1/",
        array_size=3, item_offset=0, chunk=0,
    ))


def messages(url):
    from dagtrail import aws

    got = aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [m["Body"] for m in got]


def test_children_of_an_unregistered_parent_wait_and_the_parent_is_read_once(runs_table, queue, monkeypatch):
    sweeps_table.start_sweep(runs_table, "run-1", "seeds", total=3, attempt=1, mode="array")
    early = events.apply_child(JobUpdate(job_id="arr:0", state=JobState.RUNNING), runs_table)
    assert early["token"] == "unknown-parent" and events._PARENTS == {}

    parent(runs_table)
    reads = []
    real_get = runs_table.get_job
    monkeypatch.setattr(runs_table, "get_job", lambda job_id: reads.append(job_id) or real_get(job_id))
    for i in range(3):
        events.apply_child(JobUpdate(job_id=f"arr:{i}", state=JobState.RUNNING, started_at=T0), runs_table)
        done = JobUpdate(job_id=f"arr:{i}", state=JobState.SUCCEEDED, started_at=T0, stopped_at=T1,
                         exit_code=0, tries=1)
        assert events.apply_child(done, runs_table)["applied"]
        assert not events.apply_child(done, runs_table)["applied"]  # a duplicate counts once
    assert reads == ["arr"]
    assert runs_table.get_task("run-1", "seeds").items_succeeded == 3
    assert sweeps_table.get_item(runs_table, "run-1", "seeds", 2)["output_prefix"] == "s3://results-r/wf/run-1/seeds/1/2/"


def test_a_succeeded_child_sends_its_task_run_and_outputs_in_one_message(runs_table, queue):
    from dagtrail.lineage.writer import parse_body

    from dagtrail import aws
    from dagtrail.results.manifest import Manifest, ManifestEntry

    aws.client("s3").create_bucket(Bucket="results-r")
    manifest = Manifest(task="seeds", attempt=1, prefix="s3://results-r/wf/run-1/seeds/1/1/",
                        artifacts=[ManifestEntry(name="out.txt", size=2, sha256="0" * 64)])
    aws.client("s3").put_object(Bucket="results-r", Key="wf/run-1/seeds/1/1/manifest.json",
                                Body=manifest.model_dump_json().encode())
    parent(runs_table)
    events.apply_child(JobUpdate(job_id="arr:1", state=JobState.SUCCEEDED, stopped_at=T1, exit_code=0, tries=1),
                       runs_table)
    [body] = messages(queue)
    records = parse_body(body)
    assert {(r.op, r.label) for r in records} >= {("vertex", "TaskRun"), ("vertex", "Artifact"),
                                                   ("edge", "wasGeneratedBy")}
    assert "taskrun:run-1:seeds:1:1:1" in {r.uid for r in records}
    # Named as the sweep's merged manifest names it, as a dependant's `used` records do.
    assert [r.props["name"] for r in records if r.label == "Artifact"] == ["1/out.txt"]


def test_a_succeeded_child_records_the_sweep_inputs_it_used(runs_table, queue):
    """Without these edges an item's outputs would not trace back past the sweep."""
    from dagtrail.lineage.writer import parse_body

    from dagtrail import aws
    from dagtrail.results.manifest import Manifest, ManifestEntry

    aws.client("s3").create_bucket(Bucket="results-r")
    prep = Manifest(task="prep", attempt=2, prefix="s3://results-r/wf/run-1/prep/2/",
                    artifacts=[ManifestEntry(name="train.csv", size=2, sha256="1" * 64)])
    aws.client("s3").put_object(Bucket="results-r", Key="wf/run-1/prep/2/manifest.json",
                                Body=prep.model_dump_json().encode())
    record = parent(runs_table).model_copy(update={"inputs": {"prep": "s3://results-r/wf/run-1/prep/2/"}})
    runs_table.register_job(record.model_copy(update={"job_id": "arr2"}))
    events.apply_child(JobUpdate(job_id="arr2:0", state=JobState.SUCCEEDED, stopped_at=T1, exit_code=0, tries=1),
                       runs_table)
    records = [r for body in messages(queue) for r in parse_body(body)]
    used = {(r.out_uid, r.in_uid) for r in records if r.op == "edge" and r.label == "used"}
    assert used == {("taskrun:run-1:seeds:1:0:1", "artifact:s3://results-r/wf/run-1/prep/2/train.csv")}


def test_a_retried_childs_earlier_tries_are_failed_task_runs_whichever_event_comes(runs_table, queue):
    """Batch lists a child's earlier tries in `attempts`: its final event alone (the first
    try's own events late, or lost) records try 1 as FAILED, with that try's exit code."""
    from dagtrail.events.models import BatchJobDetail
    from dagtrail.lineage.writer import parse_body
    from dagtrail.runs.advance import from_batch_detail

    parent(runs_table)
    first = {"container": {"exitCode": 4, "logStreamName": "log-1"}, "startedAt": 1_000, "stoppedAt": 2_000,
             "statusReason": "Essential container in task exited"}
    second = {"container": {"exitCode": 0, "logStreamName": "log-2"}, "startedAt": 3_000, "stoppedAt": 4_000}
    done = from_batch_detail(BatchJobDetail.model_validate({
        "jobId": "arr:1", "status": "SUCCEEDED", "startedAt": 3_000, "stoppedAt": 4_000,
        "container": {"exitCode": 0}, "attempts": [first, second]}))
    assert events.apply_child(done, runs_table)["applied"]
    runs = {r.uid: r.props for body in messages(queue) for r in parse_body(body) if r.label == "TaskRun"}
    assert runs["taskrun:run-1:seeds:1:1:1"]["status"] == "FAILED"
    assert runs["taskrun:run-1:seeds:1:1:1"]["exit_code"] == 4
    assert runs["taskrun:run-1:seeds:1:1:2"]["status"] == "SUCCEEDED"
    # The second try's RUNNING event lists only the first: the same FAILED try 1.
    running = from_batch_detail(BatchJobDetail.model_validate({
        "jobId": "arr:1", "status": "RUNNING", "startedAt": 3_000, "attempts": [first]}))
    assert [t.exit_code for t in running.earlier_tries] == [4] and running.tries == 1
    assert not events.apply_child(running, runs_table)["applied"]  # late: the item is past it
