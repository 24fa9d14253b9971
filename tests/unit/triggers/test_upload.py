"""start_from_upload: one upload starts one run of the right workflow, with the right key."""

import json
import time
import re

import pytest

from dagtrail import aws, settings
from dagtrail.triggers import upload
from dagtrail.triggers.models import S3Object
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from .s3_builders import S3_FORMS, eventbridge, in_sqs, notification

BUCKET = "dagtrail-dev-inputs-123456789012-us-east-1"
PREFIX = "arn:aws:states:us-east-1:123456789012:stateMachine:dagtrail-dev-"
NAME_RULE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")  # Step Functions names of machines that log

TRICKY_KEYS = {
    "space": "inputs/heat-diffusion/params nx=128.json",
    "plus": "inputs/heat-diffusion/a+b.csv",
    "plus-and-space": "inputs/heat-diffusion/a + b.csv",
    "unicode": "inputs/heat-diffusion/mesure–été 測試.csv",
    "url-encoded-literal": "inputs/heat-diffusion/already%20encoded%2Bkey.csv",
}


@pytest.fixture
def account(aws_mock, monkeypatch):
    """Versioned inputs bucket and a heat-diffusion machine named as template.yaml names it."""
    monkeypatch.setenv("DAGTRAIL_INPUTS_BUCKET", BUCKET)
    monkeypatch.setenv("DAGTRAIL_INPUTS_PREFIX", "inputs/")
    monkeypatch.setenv("DAGTRAIL_STATE_MACHINE_PREFIX", PREFIX)
    monkeypatch.delenv("DAGTRAIL_STATE_MACHINE_ARN", raising=False)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    # A role ARN only: moto checks its shape, and its IAM backend is slow to start.
    aws.client("stepfunctions").create_state_machine(
        name="dagtrail-dev-heat-diffusion", roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps({"StartAt": "w", "States": {"w": {"Type": "Pass", "End": True}}}))
    return s3


def executions():
    sfn = aws.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=PREFIX + "heat-diffusion")["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]


def put(s3, key, body=b"hello"):
    return s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]


@pytest.mark.parametrize("case", sorted(TRICKY_KEYS))
def test_odd_keys_reach_the_uploaded_object(account, case):
    key = TRICKY_KEYS[case]
    for form, build in sorted(S3_FORMS.items()):
        body = f"{case} via {form}".encode()
        version = put(account, key, body)  # a new version per form: a new run each
        result = upload.handle(build(BUCKET, key, version=version))
        assert [r["status"] for r in result["results"]] == ["started"], form
        execution = next(e for e in executions() if e["executionArn"] == result["results"][0]["execution_arn"])
        params = json.loads(execution["input"])["params"]
        assert params == {"input_bucket": BUCKET, "input_key": key, "input_version": version}, form
        # The run reads exactly what was uploaded, at that version.
        got = account.get_object(Bucket=params["input_bucket"], Key=params["input_key"],
                                 VersionId=params["input_version"])
        assert got["Body"].read() == body, form
    assert len(executions()) == len(S3_FORMS)


def test_every_delivery_of_one_upload_starts_one_run(account):
    key = TRICKY_KEYS["plus-and-space"]
    version = put(account, key)
    results = [upload.handle(build(BUCKET, key, version=version)) for build in S3_FORMS.values()]
    results.append(upload.handle(in_sqs(notification(BUCKET, key, version=version),
                                        eventbridge(BUCKET, key, version=version))))
    names = {r["execution_name"] for res in results for r in res["results"]}
    assert len(names) == 1 and len(executions()) == 1


def test_redelivery_after_the_run_ended_is_a_duplicate_not_an_error(account):
    version = put(account, "inputs/heat-diffusion/x.csv")
    first = upload.handle(eventbridge(BUCKET, "inputs/heat-diffusion/x.csv", version=version))["results"][0]
    sfn = aws.client("stepfunctions")
    sfn.stop_execution(executionArn=first["execution_arn"])
    for _ in range(500):  # moto runs the execution in a thread: wait until it has ended
        if sfn.describe_execution(executionArn=first["execution_arn"])["status"] != "RUNNING":
            break
        time.sleep(0.01)
    again = upload.handle(notification(BUCKET, "inputs/heat-diffusion/x.csv", version=version))["results"][0]
    assert again["status"] == "duplicate"
    assert again["execution_arn"] == first["execution_arn"]
    assert len(executions()) == 1


def test_a_new_version_of_the_same_key_is_a_new_run(account):
    key = "inputs/heat-diffusion/x.csv"
    for body in (b"1", b"2"):
        upload.handle(eventbridge(BUCKET, key, version=put(account, key, body)))
    assert len(executions()) == 2


@pytest.mark.parametrize("key, why", [
    ("inputs/../secrets/x.csv", "'..'"),
    ("inputs/heat-diffusion/../../x.csv", "'..'"),
    ("inputs/heat-diffusion/./x.csv", "'.'"),
    ("other/heat-diffusion/x.csv", "outside the inputs prefix"),
    ("inputsx/heat-diffusion/x.csv", "outside the inputs prefix"),
    ("x/inputs/heat-diffusion/x.csv", "outside the inputs prefix"),
    ("inputs/x.csv", "not under inputs/<workflow>/"),
    ("inputs/heat-diffusion/", "not under inputs/<workflow>/"),
    ("inputs/heat-diffusion/sub/", "folder marker"),
    ("inputs/Heat_Diffusion/x.csv", "not a workflow name"),
])
def test_refused_keys_start_nothing(account, key, why):
    result = upload.handle(notification(BUCKET, key))["results"][0]
    assert result["status"] == "ignored" and why in result["ignored"]
    assert executions() == []


def test_encoded_dot_dot_is_refused_after_decoding(account):
    raw = notification(BUCKET, "x")
    raw["Records"][0]["s3"]["object"]["key"] = "inputs/heat-diffusion/%2E%2E/x.csv"
    assert "'..'" in upload.handle(raw)["results"][0]["ignored"]


def test_other_buckets_are_refused(account):
    result = upload.handle(eventbridge("someone-elses", "inputs/heat-diffusion/x.csv"))["results"][0]
    assert result["status"] == "ignored" and "not the inputs bucket" in result["ignored"]


def test_a_workflow_without_a_machine_is_ignored(account):
    result = upload.handle(eventbridge(BUCKET, "inputs/no-such-flow/x.csv"))["results"][0]
    assert result["status"] == "ignored" and "no state machine for workflow 'no-such-flow'" in result["ignored"]


def test_a_fixed_state_machine_arn_wins(account, monkeypatch):
    monkeypatch.setenv("DAGTRAIL_STATE_MACHINE_ARN", PREFIX + "heat-diffusion")
    monkeypatch.delenv("DAGTRAIL_STATE_MACHINE_PREFIX")
    result = upload.handle(eventbridge(BUCKET, "inputs/anything/x.csv"))["results"][0]
    assert result["status"] == "started" and len(executions()) == 1


def test_no_state_machine_configured_is_an_error(account, monkeypatch):
    monkeypatch.delenv("DAGTRAIL_STATE_MACHINE_PREFIX")
    with pytest.raises(upload.TriggerConfigError, match="DAGTRAIL_STATE_MACHINE_ARN"):
        upload.handle(eventbridge(BUCKET, "inputs/heat-diffusion/x.csv"))


def test_events_that_are_not_uploads_are_ignored_whole(account):
    assert "not an S3 Object Created" in upload.handle({"detail-type": "Scheduled Event", "source": "aws.events",
                                                        "detail": {}})["ignored"]
    assert executions() == []


# ------------------------------------------------------------------ names


def _obj(key="inputs/wf/x.csv", **kw):
    return S3Object(bucket=kw.pop("bucket", BUCKET), key=key, form="eventbridge", **kw)


def test_the_name_depends_on_bucket_key_and_version_only():
    base = upload.execution_name(_obj(version_id="v1", sequencer="s1"), "wf")
    assert base == upload.execution_name(_obj(version_id="v1", sequencer="other", size=9), "wf")
    assert base != upload.execution_name(_obj(version_id="v2", sequencer="s1"), "wf")
    assert base != upload.execution_name(_obj(key="inputs/wf/y.csv", version_id="v1"), "wf")
    assert base != upload.execution_name(_obj(bucket="b2", version_id="v1"), "wf")


def test_unversioned_buckets_fall_back_to_the_sequencer():
    a = upload.execution_name(_obj(sequencer="s1"), "wf")
    assert a == upload.execution_name(_obj(version_id="null", sequencer="s1"), "wf")
    assert a != upload.execution_name(_obj(sequencer="s2"), "wf")


def test_the_input_is_byte_identical_across_forms():
    a = upload.execution_input(_obj(key="inputs/wf/é x.csv", version_id="v1"))
    b = upload.execution_input(S3Object(bucket=BUCKET, key="inputs/wf/é x.csv", version_id="v1",
                                        sequencer="zzz", form="notification"))
    assert a == b


@hsettings(max_examples=300, deadline=None)
@given(key=st.text(min_size=1, max_size=1024), workflow=st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?",
                                                                      fullmatch=True))
def test_names_are_always_valid_execution_names(key, workflow):
    assert NAME_RULE.match(upload.execution_name(_obj(key=key, version_id="v"), workflow))


def test_settings_read_the_template_variables(monkeypatch):
    monkeypatch.setenv("DAGTRAIL_INPUTS_PREFIX", "uploads/")
    monkeypatch.setenv("DAGTRAIL_ALARM_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t")
    cfg = settings.load()
    assert cfg.inputs_prefix == "uploads/" and cfg.alarm_topic_arn.endswith(":t")


def test_deployed_parameter_defaults_are_merged_under_the_upload(account):
    """A machine `dagtrail deploy` wrote records its defaults; the upload's own keys win."""
    from dagtrail.stack.machines import with_parameters

    asl = {"Comment": "dagtrail workflow upload-postprocess (sha256:" + "0" * 64 + ")",
           "StartAt": "w", "States": {"w": {"Type": "Pass", "End": True}}}
    aws.client("stepfunctions").create_state_machine(
        name="dagtrail-dev-upload-postprocess", roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps(with_parameters(asl, {"window_s": 2.5, "input_key": "default.csv"})))
    key = "inputs/upload-postprocess/probe 042.csv"
    result = upload.handle(eventbridge(BUCKET, key, version="v9"))["results"][0]
    described = aws.client("stepfunctions").describe_execution(executionArn=result["execution_arn"])
    assert json.loads(described["input"]) == {"params": {
        "window_s": 2.5, "input_bucket": BUCKET, "input_key": key, "input_version": "v9"}}


def test_a_machine_without_a_record_gets_the_upload_keys_only(account):
    version = put(account, "inputs/heat-diffusion/x.csv")
    upload.handle(eventbridge(BUCKET, "inputs/heat-diffusion/x.csv", version=version))
    assert json.loads(executions()[0]["input"]) == {"params": {
        "input_bucket": BUCKET, "input_key": "inputs/heat-diffusion/x.csv", "input_version": version}}
