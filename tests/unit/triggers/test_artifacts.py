"""artifact_events: a manifest written → exactly the lineage job_events would record, once."""

import json

import pytest

from dagtrail import aws
from dagtrail.lineage.writer import parse_body
from dagtrail.results.manifest import Manifest, ManifestEntry
from dagtrail.runs import lineage as runs_lineage
from dagtrail.runs.models import JobRecord
from dagtrail.runs.states import JobState
from dagtrail.triggers import artifacts

from .s3_builders import eventbridge, notification

BUCKET = "dagtrail-dev-results-123456789012-us-east-1"
RUN = "heat-diffusion-20261125T100000-abc123"


@pytest.fixture
def results(runs_table, monkeypatch):
    """Results bucket, runs table and the lineage queue (what emit sends to)."""
    monkeypatch.delenv("DAGTRAIL_RESULTS_DIR", raising=False)
    aws.client("s3").create_bucket(Bucket=BUCKET)
    url = aws.client("sqs").create_queue(QueueName="lineage")["QueueUrl"]
    monkeypatch.setenv("DAGTRAIL_LINEAGE_QUEUE_URL", url)
    return url


def prefix(task, attempt):
    return f"s3://{BUCKET}/heat-diffusion/{RUN}/{task}/{attempt}/"


def write_manifest(task, attempt, names=("out.csv",), **overrides):
    manifest = Manifest(task=task, attempt=attempt, prefix=prefix(task, attempt), artifacts=[
        ManifestEntry(name=n, size=len(n), sha256=f"{i:064x}") for i, n in enumerate(names)])
    body = overrides.pop("body", None) or manifest.model_dump_json()
    key = f"heat-diffusion/{RUN}/{task}/{attempt}/manifest.json"
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
    return key


def sent(queue_url):
    sqs, out = aws.client("sqs"), []
    while msgs := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for m in msgs:
            out += parse_body(m["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return out


def content(records):
    return sorted({(r.op, r.label, r.uid, json.dumps(r.props, sort_keys=True)) for r in records})


def test_produced_artifacts_are_generated_by_the_attempt(results):
    key = write_manifest("simulate", 2, ["run.json", "field/temperature.csv"])
    out = artifacts.handle(eventbridge(BUCKET, key))
    assert out["results"][0] | {"uri": None} == {
        "status": "recorded", "uri": None, "run_id": RUN, "task": "simulate", "attempt": 2,
        "produced": 2, "used": 0, "records": 4}
    records = sent(results)
    edges = {(r.out_uid, r.label, r.in_uid) for r in records if r.op == "edge"}
    taskrun = f"taskrun:{RUN}:simulate:2"
    assert edges == {(f"artifact:{prefix('simulate', 2)}{n}", "wasGeneratedBy", taskrun)
                     for n in ("run.json", "field/temperature.csv")}
    sizes = {r.props["name"]: r.props["size"] for r in records if r.label == "Artifact"}
    assert sizes == {"run.json": 8, "field/temperature.csv": 21}


def _job_with_input(runs_table):
    """energy attempt 1 read simulate attempt 2, as submit_task records it."""
    runs_table.assign_attempt(RUN, "energy", "tok")
    job = runs_table.register_job(JobRecord(
        job_id="job-energy-1", state=JobState.SUCCEEDED, token="tok", run_id=RUN, workflow="heat-diffusion",
        task="energy", attempt=1, output_prefix=prefix("energy", 1), inputs={"simulate": prefix("simulate", 2)}))
    runs_table.link_job(RUN, "energy", "tok", 1, "job-energy-1")
    return job


def test_inputs_from_the_runs_table_become_used_and_informed_by(results, runs_table):
    write_manifest("simulate", 2, ["run.json", "field/temperature.csv"])
    key = write_manifest("energy", 1, ["energy.json"])
    _job_with_input(runs_table)
    out = artifacts.handle(eventbridge(BUCKET, key))["results"][0]
    assert (out["produced"], out["used"]) == (1, 2)
    edges = {(r.label, r.out_uid, r.in_uid) for r in sent(results) if r.op == "edge"}
    energy = f"taskrun:{RUN}:energy:1"
    assert ("wasInformedBy", energy, f"taskrun:{RUN}:simulate:2") in edges
    assert ("used", energy, f"artifact:{prefix('simulate', 2)}run.json") in edges
    assert ("wasGeneratedBy", f"artifact:{prefix('energy', 1)}energy.json", energy) in edges


def test_records_equal_what_job_events_emits_for_the_attempt(results, runs_table):
    """Both emitters upsert the same uids with the same properties: whichever comes first,
    and however often, the graph is the same."""
    write_manifest("simulate", 2, ["run.json"])
    key = write_manifest("energy", 1, ["energy.json", "plots/a.svg"])
    job = _job_with_input(runs_table)
    artifacts.handle(eventbridge(BUCKET, key))
    from_trigger = sent(results)
    runs_lineage.task_outputs(job)
    assert content(from_trigger) == content(sent(results))


def test_duplicates_send_identical_records(results):
    key = write_manifest("simulate", 1, ["a", "b"])
    artifacts.handle(eventbridge(BUCKET, key))
    first = sent(results)
    artifacts.handle(notification(BUCKET, key))
    artifacts.handle(eventbridge(BUCKET, key))
    again = sent(results)
    assert len(again) == 2 * len(first) and content(again) == content(first)


def test_without_a_runs_table_the_produced_side_is_still_recorded(results, monkeypatch):
    monkeypatch.setenv("DAGTRAIL_RUNS_TABLE", "no-such-table")
    key = write_manifest("simulate", 1)
    assert artifacts.handle(eventbridge(BUCKET, key))["results"][0]["status"] == "recorded"
    assert len(sent(results)) == 2


def test_local_mode_reads_the_manifest_from_disk(results, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGTRAIL_RESULTS_DIR", str(tmp_path))
    attempt_dir = tmp_path / "heat-diffusion" / RUN / "report" / "1"
    attempt_dir.mkdir(parents=True)
    (attempt_dir / "manifest.json").write_text(Manifest(
        task="report", attempt=1, prefix=prefix("report", 1),
        artifacts=[ManifestEntry(name="report.md", size=3, sha256="0" * 64)]).model_dump_json())
    out = artifacts.handle(eventbridge(BUCKET, f"heat-diffusion/{RUN}/report/1/manifest.json"))
    assert out["results"][0]["produced"] == 1


@pytest.mark.parametrize("key, why", [
    (f"heat-diffusion/{RUN}/simulate/1/out.csv", "not a manifest"),
    (f"heat-diffusion/{RUN}/simulate/manifest.json", "is not <workflow>/<run_id>/<task>/<attempt>"),
    (f"x/heat-diffusion/{RUN}/simulate/1/manifest.json", "is not <workflow>/<run_id>/<task>/<attempt>"),
    (f"heat-diffusion/{RUN}/simulate/01/manifest.json", "'01' is not an attempt number"),
    (f"heat-diffusion/{RUN}/simulate/0/manifest.json", "'0' is not an attempt number"),
    (f"heat-diffusion/{RUN}/Simulate!/1/manifest.json", "is not a task name"),
    (f"heat-diffusion/../simulate/1/manifest.json", "is not a run id"),
    (f"Heat/{RUN}/simulate/1/manifest.json", "is not a workflow name"),
])
def test_other_keys_are_ignored_without_reading(results, key, why, monkeypatch):
    monkeypatch.setattr(artifacts, "read_manifest", lambda prefix: pytest.fail("read " + prefix))
    out = artifacts.handle(eventbridge(BUCKET, key))["results"][0]
    assert out["status"] == "ignored" and why in out["ignored"]
    assert sent(results) == []


def test_missing_mismatched_and_malformed_manifests_are_ignored(results):
    missing = f"heat-diffusion/{RUN}/simulate/9/manifest.json"
    assert "manifest not found" in artifacts.handle(eventbridge(BUCKET, missing))["results"][0]["ignored"]
    other = Manifest(task="profile", attempt=1, prefix=prefix("profile", 1)).model_dump_json()
    key = write_manifest("simulate", 1, body=other)
    assert "manifest says task 'profile'" in artifacts.handle(eventbridge(BUCKET, key))["results"][0]["ignored"]
    key = write_manifest("simulate", 2, body="{not json")
    assert "malformed manifest" in artifacts.handle(eventbridge(BUCKET, key))["results"][0]["ignored"]
    assert sent(results) == []


def test_events_that_are_not_object_creations_are_ignored_whole(results):
    assert "ignored" in artifacts.handle({"detail-type": "Object Deleted", "source": "aws.s3", "detail": {}})
