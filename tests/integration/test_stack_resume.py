"""`dagtrail resume RUN_ID --stack`: redrive when the definition is unchanged, else a new run
that reuses what succeeded (its run record names the resumed run)."""

from __future__ import annotations

import json

import yaml

from dagtrail import aws
from dagtrail.runs.table import RunsTable

from .test_stack_cli import DIAMOND, REGION, RUNS_TABLE, STACK, _deploy, _run, _start, stack  # noqa: F401


def _fail(execution_arn: str) -> None:
    aws.client("stepfunctions", REGION).stop_execution(executionArn=execution_arn, error="x", cause="y")


def test_an_unchanged_failed_run_is_redriven(stack, capsys, monkeypatch):  # noqa: F811
    arn = _start(capsys, "run-1")
    _fail(arn)
    redriven = []
    # moto 5.2.5 has no RedriveExecution: record the call the command makes.
    monkeypatch.setattr(aws.client("stepfunctions", REGION), "redrive_execution",
                        lambda **kw: redriven.append(kw) or {"redriveDate": "now"}, raising=False)
    code, out, err = _run(capsys, "resume", "run-1", "--stack", STACK, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["how"] == "redrive" and result["execution_arn"] == arn
    assert redriven == [{"executionArn": arn}]


def test_a_changed_definition_gets_a_new_run_that_reuses_the_old_one(stack, capsys, tmp_path,  # noqa: F811
                                                                     monkeypatch):
    arn = _start(capsys, "run-1")
    _fail(arn)
    sfn = aws.client("stepfunctions", REGION)
    # moto answers DescribeStateMachineForExecution with the machine's current definition;
    # AWS answers with the one the execution ran, which is what the command compares.
    ran = sfn.describe_state_machine_for_execution(executionArn=arn)
    monkeypatch.setattr(sfn, "describe_state_machine_for_execution", lambda **kw: ran)
    spec = yaml.safe_load(DIAMOND.read_text())
    spec["description"] = "changed"
    changed = tmp_path / "diamond.yaml"
    changed.write_text(yaml.safe_dump(spec))
    _deploy(capsys, changed)
    code, out, err = _run(capsys, "resume", "run-1", "--stack", STACK, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["how"] == "new-run" and result["run_id"] != "run-1"
    started = sfn.describe_execution(executionArn=result["execution_arn"])
    old = sfn.describe_execution(executionArn=arn)
    assert json.loads(started["input"])["params"] == json.loads(old["input"])["params"]
    record = RunsTable(RUNS_TABLE, region=REGION).get_run(result["run_id"])
    assert record.options == {"resume_from": "run-1"}


def test_a_running_run_does_not_resume(stack, capsys):  # noqa: F811
    _start(capsys, "run-1")
    code, _, err = _run(capsys, "resume", "run-1", "--stack", STACK)
    assert code == 2 and "RUNNING" in err and len(err.strip().splitlines()) == 1
