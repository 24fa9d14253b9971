"""submit_task against moto's Batch and ECS: one job per attempt, tags, per-image definitions."""

import json

import pytest
from botocore.exceptions import ClientError

from dagtrail import aws
from dagtrail.compute import SubmitThrottled
from dagtrail.runs.models import SubmitTaskInput
from dagtrail.runs.submit import DependencyNotReady, submit_task

DEFINITION = {"image": "python:3.11-slim", "command": ["python3", "-c", "print({{ params.n }})"],
              "env": {"N": "{{ params.n }}"}, "depends_on": [], "retries": 0, "timeout": 120,
              "resources": {"vcpu": 2, "memory_mib": 4096, "gpu": 0}, "compute": "batch"}


def payload(token="tok-1", task="a", definition=None, **extra):
    return SubmitTaskInput(token=token, execution_arn="arn:aws:states:us-east-1:123456789012:execution:m:run-1",
                           run_id="run-1", params={"n": 5}, workflow="wf", task=task,
                           definition=json.dumps(definition or DEFINITION), **extra)


@pytest.fixture
def batch(batch_account):
    return batch_account(attempts=2)


def test_submit_starts_one_batch_job_with_rendered_command_and_tags(batch, runs_table):
    result = submit_task(payload(), runs_table)
    assert result == {"job_id": result["job_id"], "attempt": 1, "duplicate": False}
    [job] = batch.describe_jobs(jobs=[result["job_id"]])["jobs"]
    # the wrapper stages inputs and streams outputs, then runs the rendered argv unchanged
    assert job["container"]["command"] == ["python3", "-m", "dagtrail.task", "--", "python3", "-c", "print(5)"]
    env = {e["name"]: e["value"] for e in job["container"]["environment"]}
    assert env["N"] == "5" and env["DAGTRAIL_ATTEMPT"] == "1" and env["DAGTRAIL_RUN_ID"] == "run-1"
    assert env["DAGTRAIL_OUTPUT_URI"] == "s3://results/wf/run-1/a/1/"
    assert job["tags"]["dagtrail:task"] == "a" and job["tags"]["dagtrail:attempt"] == "1"
    [definition] = batch.describe_job_definitions(jobDefinitions=[job["jobDefinition"]])["jobDefinitions"]
    assert definition["containerProperties"]["image"] == "python:3.11-slim"
    assert definition["retryStrategy"]["evaluateOnExit"][0]["onStatusReason"] == "Host EC2*"
    record = runs_table.get_job(result["job_id"])
    assert record.token == "tok-1" and record.attempt == 1 and record.task == "a"


def test_the_wrapper_can_be_replaced_or_turned_off(batch, runs_table, monkeypatch):
    monkeypatch.setenv("DAGTRAIL_TASK_WRAPPER", "[]")
    [job] = batch.describe_jobs(jobs=[submit_task(payload(), runs_table)["job_id"]])["jobs"]
    assert job["container"]["command"] == ["python3", "-c", "print(5)"]


def test_a_duplicate_invocation_submits_nothing_new(batch, runs_table):
    first = submit_task(payload(), runs_table)
    again = submit_task(payload(), runs_table)
    assert again == {"job_id": first["job_id"], "attempt": 1, "duplicate": True}
    assert len(batch.list_jobs(jobQueue="queue", filters=[{"name": "JOB_NAME", "values": ["*"]}])["jobSummaryList"]) == 1


def test_a_retry_gets_the_next_attempt_and_its_own_prefix(batch, runs_table):
    submit_task(payload("tok-1"), runs_table)
    second = submit_task(payload("tok-2"), runs_table)
    assert second["attempt"] == 2
    assert runs_table.get_job(second["job_id"]).output_prefix == "s3://results/wf/run-1/a/2/"


def test_a_dependant_cannot_start_before_its_dependency_succeeded(batch, runs_table):
    with pytest.raises(DependencyNotReady, match="'a'"):
        submit_task(payload(task="b", definition=DEFINITION | {"depends_on": ["a"]}), runs_table)
    runs_table.assign_attempt("run-1", "a", "t")
    runs_table.finish_task("run-1", "a", 1, "SUCCEEDED", "s3://results/wf/run-1/a/1/")
    result = submit_task(payload("tok-b", task="b", definition=DEFINITION | {"depends_on": ["a"]}), runs_table)
    assert runs_table.get_job(result["job_id"]).inputs == {"a": "s3://results/wf/run-1/a/1/"}


def test_throttling_surfaces_as_the_error_the_state_machine_retries(batch, runs_table, monkeypatch):
    def throttled(**kwargs):
        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"},
                           "ResponseMetadata": {"HTTPStatusCode": 429}}, "SubmitJob")

    monkeypatch.setattr(batch, "submit_job", throttled)
    with pytest.raises(SubmitThrottled) as info:
        submit_task(payload(), runs_table)
    assert type(info.value).__name__ == "dagtrail.SubmitThrottled"


def test_a_throttled_submit_gives_its_attempt_number_to_the_retry(batch, runs_table, monkeypatch):
    real_submit, calls = batch.submit_job, []

    def submit_job(**kwargs):
        calls.append(kwargs["jobName"])
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"},
                               "ResponseMetadata": {"HTTPStatusCode": 429}}, "SubmitJob")
        return real_submit(**kwargs)

    monkeypatch.setattr(batch, "submit_job", submit_job)
    with pytest.raises(SubmitThrottled):
        submit_task(payload("tok-1"), runs_table)
    # The state machine's retry comes with a new token and runs as attempt 1, not 2.
    retried = submit_task(payload("tok-2"), runs_table)
    assert retried == {"job_id": retried["job_id"], "attempt": 1, "duplicate": False}
    [job] = batch.describe_jobs(jobs=[retried["job_id"]])["jobs"]
    env = {e["name"]: e["value"] for e in job["container"]["environment"]}
    assert env["DAGTRAIL_ATTEMPT"] == "1" and env["DAGTRAIL_OUTPUT_URI"] == "s3://results/wf/run-1/a/1/"
    # Repeated deliveries: the throttled token starts nothing, the retried one is a duplicate.
    with pytest.raises(SubmitThrottled):
        submit_task(payload("tok-1"), runs_table)
    assert submit_task(payload("tok-2"), runs_table) == {"job_id": retried["job_id"], "attempt": 1, "duplicate": True}
    assert len(calls) == 2
    record = runs_table.get_task("run-1", "a")
    assert (record.attempts, record.jobs) == (1, {"1": retried["job_id"]})
    # A later attempt (a task retry) still gets the next number.
    assert submit_task(payload("tok-3"), runs_table)["attempt"] == 2


def test_ecs_tasks_run_on_fargate_with_a_per_image_definition(runs_table, monkeypatch):
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="c")
    template = ecs.register_task_definition(
        family="dagtrail-template", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256",
        memory="512", containerDefinitions=[{"name": "task", "image": "placeholder", "essential": True, "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    monkeypatch.setenv("DAGTRAIL_ECS_CLUSTER", "c")
    monkeypatch.setenv("DAGTRAIL_ECS_TASK_DEFINITION", template)
    # moto 5.2.5 cannot place an awsvpc task (it crashes creating the ENI), so RunTask is
    # recorded here; the per-image task definition is still registered in moto.
    sent = []

    def run_task(**params):
        sent.append(params)
        return {"tasks": [{"taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/abc",
                           "taskDefinitionArn": params["taskDefinition"]}], "failures": []}

    monkeypatch.setattr(ecs, "run_task", run_task)
    monkeypatch.setenv("DAGTRAIL_ECS_SUBNETS", "subnet-1,subnet-2")
    monkeypatch.setenv("DAGTRAIL_LINEAGE_QUEUE_URL", "")
    result = submit_task(payload(definition=DEFINITION | {"compute": "ecs"}), runs_table)
    [params] = sent
    definition = ecs.describe_task_definition(taskDefinition=params["taskDefinition"])["taskDefinition"]
    assert definition["containerDefinitions"][0]["image"] == "python:3.11-slim"
    assert runs_table.get_job(result["job_id"]).backend == "ecs"
    assert params["launchType"] == "FARGATE" and params["overrides"]["cpu"] == "2048"
    network = params["networkConfiguration"]["awsvpcConfiguration"]
    assert network == {"subnets": ["subnet-1", "subnet-2"], "securityGroups": [], "assignPublicIp": "DISABLED"}
    assert {"key": "dagtrail:run", "value": "run-1"} in params["tags"]
