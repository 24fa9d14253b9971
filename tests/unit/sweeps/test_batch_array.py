"""Sweeps on AWS Batch (moto): one array job per sweep/chunk with arrayProperties, a per-child
retryStrategy and the env the wrapper needs to find its item; a one-item array as a plain job."""

import json

import pytest

from dagtrail import aws
from dagtrail.compute.batch import sweep_retry_strategy
from dagtrail.runs.models import SubmitTaskInput
from dagtrail.runs.submit import submit_task
from dagtrail.sweeps import store

SPOT = {"onStatusReason": "Host EC2*", "action": "RETRY"}
EXIT_ALL = {"onReason": "*", "action": "EXIT"}


def definition(foreach, retries=2):
    return {"image": "python:3.11-slim", "command": ["python3", "solve.py", "{{ item.angle }}"],
            "env": {"MACH": "{{ item.mach }}"}, "depends_on": [], "retries": retries, "timeout": 120,
            "resources": {"vcpu": 1, "memory_mib": 2048, "gpu": 0}, "compute": "batch", "foreach": foreach}


def payload(defn, sweep, token="tok-1", **extra):
    return SubmitTaskInput(token=token, execution_arn="arn:aws:states:us-east-1:123456789012:execution:m:run-1",
                           run_id="run-1", params={}, workflow="wf", task="polar", definition=json.dumps(defn),
                           sweep=sweep, **extra)


@pytest.fixture
def batch(batch_account):
    b = batch_account(attempts=3)
    # moto drops retryStrategy on SubmitJob: capture what was sent
    b.sent = []
    b.meta.events.register("provide-client-params.batch.SubmitJob", lambda params, **_: b.sent.append(params))
    return b


def env_of(job):
    return {e["name"]: e["value"] for e in job["container"]["environment"]}


PRODUCT = {"product": {"angle": list(range(0, 150, 5)), "mach": [0.3, 0.5, 0.7, 0.9]}}  # 120 items


def test_an_array_sweep_is_one_array_job_with_per_child_retries_and_the_item_env(batch, runs_table):
    result = submit_task(payload(definition(PRODUCT), "array"), runs_table)
    assert result["items"] == 120 and result["attempt"] == 1
    [job] = batch.describe_jobs(jobs=[result["job_id"]])["jobs"]
    assert job["arrayProperties"]["size"] == 120
    env = env_of(job)
    assert env["DAGTRAIL_ITEMS_URI"] == "s3://results/wf/run-1/polar/1/_items/"
    assert env["DAGTRAIL_ITEM_OFFSET"] == "0" and env["DAGTRAIL_OUTPUT_URI"] == "s3://results/wf/run-1/polar/1/"
    assert "DAGTRAIL_ITEM_INDEX" not in env and "DAGTRAIL_ITEM" not in env
    # the wrapper renders each child's item: the command and env go out unrendered
    assert job["container"]["command"][-3:] == ["python3", "solve.py", "{{ item.angle }}"]
    assert env["MACH"] == "{{ item.mach }}"
    [sent] = batch.sent
    # retries: 2 → three tries per child; the catch-all EXIT is dropped so app errors retry
    assert sent["retryStrategy"] == {"attempts": 3, "evaluateOnExit": [SPOT]}
    assert sent["arrayProperties"] == {"size": 120}
    assert store.get_json(env["DAGTRAIL_ITEMS_URI"] + "0.json")[119] == {"angle": 145, "mach": 0.9}
    parent = runs_table.get_job(result["job_id"])
    assert parent.array_size == 120 and parent.item_offset == 0


def test_a_chunk_is_an_array_job_whose_children_start_at_its_offset(batch, runs_table):
    defn = definition({"range": {"start": 0, "stop": 25_000, "step": 1}}, retries=0)
    plan = submit_task(payload(defn, "plan", token="exec-1"), runs_table)
    assert plan["chunks"] == 3
    chunk = submit_task(payload(defn, "chunk", token="tok-c2", chunk={"chunk": 2, "offset": 20_000, "size": 5_000}),
                        runs_table)
    [job] = batch.describe_jobs(jobs=[chunk["job_id"]])["jobs"]
    assert job["arrayProperties"]["size"] == 5_000
    assert env_of(job)["DAGTRAIL_ITEM_OFFSET"] == "20000"
    # one try per item: the job definition's strategy stands (Spot reclaims retried, the rest exit)
    assert batch.sent[-1]["retryStrategy"] == {"attempts": 3, "evaluateOnExit": [SPOT, EXIT_ALL]}


def test_a_one_item_chunk_runs_as_a_plain_job_told_its_index(batch, runs_table):
    defn = definition({"range": {"start": 0, "stop": 10_001, "step": 1}}, retries=1)
    submit_task(payload(defn, "plan", token="exec-1"), runs_table)
    chunk = submit_task(payload(defn, "chunk", token="tok-c1", chunk={"chunk": 1, "offset": 10_000, "size": 1}),
                        runs_table)
    [job] = batch.describe_jobs(jobs=[chunk["job_id"]])["jobs"]
    assert "arrayProperties" not in batch.sent[-1] and "size" not in job.get("arrayProperties", {})
    env = env_of(job)
    # the wrapper writes under <prefix>10000/, where sweeps.events.finish_job records the item
    assert env["DAGTRAIL_ITEM_INDEX"] == "10000" and env["DAGTRAIL_ITEMS_URI"].endswith("/polar/1/_items/")
    assert batch.sent[-1]["retryStrategy"] == {"attempts": 2, "evaluateOnExit": [SPOT]}
    assert runs_table.get_job(chunk["job_id"]).array_size == 1


def test_an_inline_item_job_is_a_plain_job_with_the_item_rendered(batch, runs_table):
    defn = definition({"values": [{"angle": 0, "mach": 0.3}, {"angle": 5, "mach": 0.5}]})
    result = submit_task(payload(defn, "item", item_index=1), runs_table)
    [job] = batch.describe_jobs(jobs=[result["job_id"]])["jobs"]
    env = env_of(job)
    assert job["container"]["command"][-1] == "5" and env["MACH"] == "0.5"
    assert env["DAGTRAIL_ITEM_INDEX"] == "1" and "DAGTRAIL_ITEMS_URI" not in env
    # Step Functions retries an inline item: Batch only retries Spot reclaims, as for any task
    assert "retryStrategy" not in batch.sent[-1] and "arrayProperties" not in batch.sent[-1]


@pytest.mark.parametrize(("definition_strategy", "tries", "expected"), [
    ({"attempts": 3, "evaluateOnExit": [SPOT, EXIT_ALL]}, 1, {"attempts": 3, "evaluateOnExit": [SPOT, EXIT_ALL]}),
    ({"attempts": 3, "evaluateOnExit": [SPOT, EXIT_ALL]}, 4, {"attempts": 4, "evaluateOnExit": [SPOT]}),
    ({"attempts": 3, "evaluateOnExit": [SPOT, EXIT_ALL]}, 11, {"attempts": 10, "evaluateOnExit": [SPOT]}),
    # specific EXIT rules are the definition author's: kept
    ({"attempts": 2, "evaluateOnExit": [{"onExitCode": "137", "action": "EXIT"}, EXIT_ALL]}, 2,
     {"attempts": 2, "evaluateOnExit": [{"onExitCode": "137", "action": "EXIT"}]}),
    ({"attempts": 1, "evaluateOnExit": [EXIT_ALL]}, 3, {"attempts": 3}),
    (None, 1, {"attempts": 1, "evaluateOnExit": [SPOT]}),
    (None, 2, {"attempts": 2, "evaluateOnExit": [SPOT]}),
])
def test_sweep_retry_strategy(definition_strategy, tries, expected):
    assert sweep_retry_strategy(definition_strategy, tries) == expected
