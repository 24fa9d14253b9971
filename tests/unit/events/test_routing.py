"""Routing events through template.yaml: the samples reach their functions, others do not."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dagtrail.events.routing import RoutingError, load_routes, route

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "template.yaml"
EVENTS = REPO / "events"
SAMPLES = sorted(EVENTS.glob("*/*.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_every_function_has_samples():
    functions = {lid for lid, res in _resources().items() if res["Type"] == "AWS::Serverless::Function"}
    assert functions == {p.parent.name for p in SAMPLES}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_routes_to_the_function_it_was_written_for(sample):
    assert route(_load(sample), TEMPLATE) == [sample.parent.name]


def test_another_stacks_resources_do_not_route():
    cases = {
        "JobEventsFunction/batch-job-succeeded.json": ("detail", "jobQueue", "arn:aws:batch:us-east-1:123456789012:job-queue/other-fargate"),
        "JobEventsFunction/ecs-task-stopped.json": ("detail", "clusterArn", "arn:aws:ecs:us-east-1:123456789012:cluster/other"),
        "ExecutionEventsFunction/execution-succeeded.json": ("detail", "stateMachineArn", "arn:aws:states:us-east-1:123456789012:stateMachine:other"),
        "StartFromUploadFunction/s3-input-created.json": ("detail", "bucket", {"name": "someone-elses-bucket"}),
    }
    for name, (outer, key, value) in cases.items():
        event = _load(EVENTS / name)
        event[outer][key] = value
        assert route(event, TEMPLATE) == [], name
    alarm = _load(EVENTS / "AlarmEventsFunction/alarm-task-failures.json")
    alarm["resources"] = ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:someone-elses-alarm"]
    assert route(alarm, TEMPLATE) == []


def test_filters_inside_this_stack():
    upload = _load(EVENTS / "StartFromUploadFunction/s3-input-created.json")
    upload["detail"]["object"]["key"] = "scratch/params.json"            # outside the inputs prefix
    assert route(upload, TEMPLATE) == []
    result = _load(EVENTS / "ArtifactEventsFunction/s3-result-manifest-created.json")
    result["detail"]["object"]["key"] = result["detail"]["object"]["key"].replace("manifest.json", "field/t.csv")
    assert route(result, TEMPLATE) == []                                 # only manifests
    submitted = _load(EVENTS / "JobEventsFunction/batch-job-running.json")
    submitted["detail"]["status"] = "SUBMITTED"
    assert route(submitted, TEMPLATE) == []
    other_queue = _load(EVENTS / "LineageWriterFunction/sqs-lineage-batch.json")
    for record in other_queue["Records"]:
        record["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:dagtrail-dev-event-dlq"
    assert route(other_queue, TEMPLATE) == []
    foreign_execution = _load(EVENTS / "SubmitTaskFunction/task-simulate.json")
    foreign_execution["execution_arn"] = "arn:aws:states:us-east-1:123456789012:execution:other:run-1"
    assert route(foreign_execution, TEMPLATE) == []


def test_resolved_names_replace_the_derived_ones():
    event = _load(EVENTS / "JobEventsFunction/ecs-task-stopped.json")
    arn = "arn:aws:ecs:eu-west-1:999999999999:cluster/prod-cluster"
    event["detail"]["clusterArn"] = arn
    assert route(event, TEMPLATE) == []
    assert route(event, TEMPLATE, {"EcsCluster.Arn": arn}) == ["JobEventsFunction"]
    # a different stack name renames every derived resource
    batch = _load(EVENTS / "JobEventsFunction/batch-job-succeeded.json")
    batch["detail"]["jobQueue"] = batch["detail"]["jobQueue"].replace("dagtrail-dev", "dagtrail-prod")
    assert route(batch, TEMPLATE, {"AWS::StackName": "dagtrail-prod"}) == ["JobEventsFunction"]
    assert route(batch, TEMPLATE) == []


def test_conditional_resources_follow_their_conditions():
    gpu = _load(EVENTS / "JobEventsFunction/batch-job-running.json")
    gpu["detail"]["jobQueue"] = "arn:aws:batch:us-east-1:123456789012:job-queue/dagtrail-dev-gpu"
    assert route(gpu, TEMPLATE) == []                                    # GpuInstanceTypes empty
    assert route(gpu, TEMPLATE, {"GpuInstanceTypes": ["g5.xlarge"]}) == ["JobEventsFunction"]


def test_routes_are_parsed_once_and_reparsed_after_an_edit(tmp_path):
    copy_ = tmp_path / "template.yaml"
    copy_.write_text(TEMPLATE.read_text())
    first = load_routes(copy_)
    assert load_routes(copy_) is first
    copy_.write_text(copy_.read_text().replace("lastStatus: [RUNNING, STOPPED]", "lastStatus: [RUNNING]"))
    assert load_routes(copy_) is not first
    assert route(_load(EVENTS / "JobEventsFunction/ecs-task-stopped.json"), copy_) == []


MINI = textwrap.dedent("""\
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      Prefix: {Type: String, Default: uploads/}
    Resources:
      Bucket:
        Type: AWS::S3::Bucket
        Properties:
          BucketName: !Sub "${AWS::StackName}-data"
          NotificationConfiguration:
            LambdaConfigurations:
              - Event: s3:ObjectCreated:*
                Function: !GetAtt Classic.Arn
                Filter: {S3Key: {Rules: [{Name: prefix, Value: !Ref Prefix}, {Name: suffix, Value: .csv}]}}
      Queue:
        Type: AWS::SQS::Queue
      Classic:
        Type: AWS::Serverless::Function
        Properties:
          Events:
            Removed:
              Type: S3
              Properties: {Bucket: !Ref Bucket, Events: s3:ObjectRemoved:Delete}
      Poller:
        Type: AWS::Serverless::Function
        Properties:
          Events:
            Messages: {Type: SQS, Properties: {Queue: !GetAtt Queue.Arn}}
            Custom:
              Type: EventBridgeRule
              Properties:
                Pattern: {source: [my.app], detail: {size: [{numeric: [">", 10]}]}}
      Off:
        Type: AWS::Events::Rule
        Properties:
          State: DISABLED
          EventPattern: {source: [my.app]}
          Targets: [{Id: t, Arn: !GetAtt Poller.Arn}]
      Json:
        Type: AWS::Events::Rule
        Properties:
          EventPattern: '{"source": ["json.app"]}'
          Targets: [{Id: t, Arn: !GetAtt Classic.Arn}, {Id: u, Arn: !GetAtt Poller.Arn}]
    """)


def _s3_record(event_name: str, key: str) -> dict:
    return {"Records": [{"eventSource": "aws:s3", "eventName": event_name,
                         "s3": {"bucket": {"name": "dagtrail-dev-data"}, "object": {"key": key}}}]}


def test_sam_and_classic_triggers(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(MINI)
    assert route(_s3_record("ObjectCreated:Put", "uploads/a.csv"), template) == ["Classic"]
    assert route(_s3_record("ObjectCreated:Put", "uploads/a.txt"), template) == []
    assert route(_s3_record("ObjectCreated:Put", "other/a.csv"), template) == []
    assert route(_s3_record("ObjectRemoved:Delete", "x"), template) == ["Classic"]
    sqs = {"Records": [{"eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:dagtrail-dev-Queue"}]}
    assert route(sqs, template) == ["Poller"]
    assert route({"source": "my.app", "detail": {"size": 11}}, template) == ["Poller"]
    assert route({"source": "my.app", "detail": {"size": 9}}, template) == []       # the disabled rule adds nothing
    assert route({"source": "json.app"}, template) == ["Classic", "Poller"]


@pytest.mark.parametrize(("text", "message"), [
    ("Resources: [", "invalid YAML"),
    ("Description: no resources\n", "no Resources"),
    ("Resources:\n  R: {Type: AWS::Events::Rule, Properties: {EventPattern: {source: x}, "
     "Targets: [{Id: t, Arn: !GetAtt F.Arn}]}}\n  F: {Type: AWS::Serverless::Function}\n", "leaf values must be lists"),
])
def test_bad_templates_are_one_line_errors(tmp_path, text, message):
    template = tmp_path / "template.yaml"
    template.write_text(text)
    with pytest.raises(RoutingError, match=message):
        route({}, template)


def test_cli_prints_one_logical_id_per_line_and_nothing_on_no_match(tmp_path):
    cli = [sys.executable, "-m", "dagtrail.cli.main", "events", "route"]
    sample = EVENTS / "JobEventsFunction/batch-job-failed.json"
    done = subprocess.run([*cli, str(sample)], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout == "JobEventsFunction\n"
    stray = tmp_path / "stray.json"
    stray.write_text(json.dumps({"source": "aws.ec2", "detail-type": "x", "detail": {}}))
    done = subprocess.run([*cli, str(stray), "--template", str(TEMPLATE)], capture_output=True, text=True, check=True)
    assert done.stdout == ""
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    done = subprocess.run([*cli, str(bad)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "bad.json:1: invalid JSON" in done.stderr


def _resources() -> dict:
    from dagtrail.events.routing import load_template

    return load_template(TEMPLATE)["Resources"]


def test_samples_are_not_mutated_by_routing():
    event = _load(SAMPLES[0])
    before = copy.deepcopy(event)
    route(event, TEMPLATE)
    assert event == before
