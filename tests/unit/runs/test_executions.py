import json

import pytest

from dagtrail import aws
from dagtrail.runs import executions
from dagtrail.runs.executions import parse_execution_event, record_status


@pytest.fixture
def machine(runs_table, monkeypatch):
    monkeypatch.setenv("DAGTRAIL_LINEAGE_QUEUE_URL", "")
    executions.workflow_of.cache_clear()
    definition = {"Comment": "dagtrail workflow diamond (sha256:x)", "StartAt": "P",
                  "States": {"P": {"Type": "Pass", "End": True}}}
    return aws.client("stepfunctions").create_state_machine(
        name="mystack-diamond", definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]


def event(machine, status, stop=None):
    return {"version": "0", "id": "1", "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states", "account": "123456789012", "time": "t", "region": "us-east-1",
            "resources": [], "detail": {
                "executionArn": machine.replace(":stateMachine:", ":execution:") + ":run-1",
                "stateMachineArn": machine, "name": "run-1", "status": status, "startDate": 1_700_000_000_000,
                "stopDate": stop, "input": json.dumps({"params": {"n": 3}})}}


def test_status_changes_in_any_order_end_in_the_terminal_status(machine, runs_table):
    parsed, _ = parse_execution_event(event(machine, "SUCCEEDED", 1_700_000_100_000))
    assert record_status(parsed, runs_table)["changed"]
    late, _ = parse_execution_event(event(machine, "RUNNING"))  # a late RUNNING
    assert record_status(late, runs_table) == {"run_id": "run-1", "status": "SUCCEEDED", "changed": False}
    run = runs_table.get_run("run-1")
    assert run.workflow == "diamond" and run.params == {"n": 3} and run.status == "SUCCEEDED"
    assert run.started_at.startswith("2023-11-14") and run.stopped_at


@pytest.mark.parametrize("bad", [{}, {"detail-type": "Batch Job State Change", "source": "aws.batch", "detail": {}},
                                 {"detail-type": "Step Functions Execution Status Change", "source": "aws.states",
                                  "detail": {"status": "RUNNING"}}])
def test_foreign_or_malformed_events_are_ignored_with_a_reason(bad):
    parsed, why = parse_execution_event(bad)
    assert parsed is None and why
