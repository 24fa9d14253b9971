"""`dagtrail deploy / start / status / logs` against a deployed stack, on moto in-process.

moto's CloudFormation cannot deploy the whole SAM template (the Serverless transform,
Batch, Neptune, Scheduler...), so the stack here is a small stand-in template that declares
the outputs these commands read, under the names template.yaml gives them — and a test
checks that template.yaml still declares each of them. The runs table is seeded through
RunsTable's own methods, the way submit_task and job_events write it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from dagtrail.cli.main import main

REPO = Path(__file__).resolve().parents[2]
DIAMOND = REPO / "tests" / "fixtures" / "specs" / "diamond.yaml"
STACK = "dt-test"
REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-HeatDiffusionStateMachineRole"
SUBMIT = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-SubmitTaskFunction"
RUNS_TABLE = f"{STACK}-RunsTable"
TASK_LOGS = f"/dagtrail/{STACK}/tasks"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-diamond"
OUTPUTS_READ = ("SubmitTaskFunctionArn", "StateMachineRoleArn", "StateMachineLogGroupArn",
                "RunsTableName", "TaskLogGroupName")


def _stand_in_template(outputs: tuple[str, ...] = OUTPUTS_READ) -> str:
    values = {
        "SubmitTaskFunctionArn": SUBMIT,
        "StateMachineRoleArn": ROLE,
        "StateMachineLogGroupArn": {"Fn::GetAtt": ["StateMachineLogGroup", "Arn"]},
        "RunsTableName": RUNS_TABLE,
        "TaskLogGroupName": {"Ref": "TaskLogGroup"},
    }
    return json.dumps({
        "Resources": {
            "StateMachineLogGroup": {"Type": "AWS::Logs::LogGroup",
                                     "Properties": {"LogGroupName": f"/aws/vendedlogs/states/{STACK}"}},
            "TaskLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": TASK_LOGS}},
        },
        "Outputs": {key: {"Value": values[key]} for key in outputs},
    })


@pytest.fixture
def stack():
    """A moto account holding the stand-in stack and the runs table it names."""
    from moto import mock_aws

    from dagtrail import aws
    from dagtrail.runs.table import table_definition

    # Executions stay RUNNING: nothing here should run the ASL (there is no submit_task).
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        aws.reset_clients()
        aws.client("cloudformation").create_stack(StackName=STACK, TemplateBody=_stand_in_template())
        aws.client("dynamodb").create_table(**table_definition(RUNS_TABLE))
        yield
    aws.reset_clients()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _deploy(capsys, spec: Path | str = DIAMOND) -> str:
    code, out, err = _run(capsys, "deploy", str(spec), "--stack", STACK)
    assert code == 0, err
    return out.strip()


def _describe_machine() -> dict:
    from dagtrail import aws

    return aws.client("stepfunctions").describe_state_machine(stateMachineArn=MACHINE_ARN)


def _count_calls(operation: str) -> list[str]:
    from dagtrail import aws

    calls: list[str] = []
    aws.client("stepfunctions", REGION).meta.events.register(  # the client the commands use
        f"before-call.sfn.{operation}", lambda **_: calls.append(operation))
    return calls


def _one_line_error(code: int, err: str) -> str:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dagtrail: error: "), err
    return lines[0]


# -- the stand-in matches the real template ----------------------------------------------
def test_template_declares_every_output_the_commands_read():
    from dagtrail.events.routing import load_template

    declared = load_template(REPO / "template.yaml")["Outputs"]
    assert set(OUTPUTS_READ) <= set(declared)


# -- deploy -------------------------------------------------------------------------------
def test_deploy_creates_the_machine_with_the_stack_settings(stack, capsys):
    assert _deploy(capsys) == f"created {MACHINE_ARN}"

    machine = _describe_machine()
    definition = json.loads(machine["definition"])
    assert "${" not in machine["definition"]
    payloads = [s["Parameters"] for s in _task_states(definition)]
    assert {p["FunctionName"] for p in payloads} == {SUBMIT}
    assert machine["roleArn"] == ROLE
    assert machine["tracingConfiguration"] == {"enabled": True}
    logging = machine["loggingConfiguration"]
    assert logging["level"] == "ALL" and logging["includeExecutionData"] is False
    assert logging["destinations"] == [{"cloudWatchLogsLogGroup": {
        "logGroupArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/vendedlogs/states/{STACK}:*"}}]
    # The Comment still starts as the compiler wrote it (execution_events reads the name)
    # and ends with the parameter defaults `dagtrail start` validates against.
    assert definition["Comment"].startswith("dagtrail workflow diamond (sha256:")
    recorded = json.loads(definition["Comment"].split(" parameters ", 1)[1])
    assert recorded == {"size": 10, "scale": 0.5, "verbose": False, "label": "run"}


def _task_states(machine: dict):
    for state in machine["States"].values():
        if state["Type"] == "Task":
            yield state
        for branch in state.get("Branches", []):
            yield from _task_states(branch)


def test_redeploying_an_unchanged_workflow_makes_no_update(stack, capsys):
    _deploy(capsys)
    updates = _count_calls("UpdateStateMachine")
    assert _deploy(capsys) == f"unchanged {MACHINE_ARN}"
    assert updates == []


def test_a_changed_workflow_updates_the_machine(stack, capsys, tmp_path):
    _deploy(capsys)
    spec = yaml.safe_load(DIAMOND.read_text())
    spec["parameters"]["size"] = 99
    changed = tmp_path / "diamond.yaml"
    changed.write_text(yaml.safe_dump(spec))
    updates = _count_calls("UpdateStateMachine")

    assert _deploy(capsys, changed) == f"updated {MACHINE_ARN}"
    assert updates == ["UpdateStateMachine"]
    comment = json.loads(_describe_machine()["definition"])["Comment"]
    assert json.loads(comment.split(" parameters ", 1)[1])["size"] == 99


def test_deploy_will_not_update_a_machine_the_stack_template_owns(stack, capsys):
    from dagtrail import aws
    from dagtrail.compiler import compile_workflow
    from dagtrail.spec import load_spec

    aws.client("stepfunctions").create_state_machine(
        name=f"{STACK}-diamond", roleArn=ROLE, definition=json.dumps(compile_workflow(load_spec(DIAMOND))),
        tags=[{"key": "aws:cloudformation:logical-id", "value": "DiamondStateMachine"}])
    updates = _count_calls("UpdateStateMachine")
    code, _, err = _run(capsys, "deploy", str(DIAMOND), "--stack", STACK)
    assert "DiamondStateMachine" in _one_line_error(code, err)
    assert updates == []


# -- start --------------------------------------------------------------------------------
def _execution_input(execution_arn: str) -> dict:
    from dagtrail import aws

    return json.loads(aws.client("stepfunctions").describe_execution(executionArn=execution_arn)["input"])


def test_start_merges_typed_overrides_into_the_defaults(stack, capsys):
    _deploy(capsys)
    code, out, err = _run(capsys, "start", "diamond", "--stack", STACK, "--param", "size=42",
                          "--param", "verbose=yes", "--param", "scale=2")
    assert code == 0, err
    run_id, link = out.strip().splitlines()
    assert run_id.startswith("diamond-")
    execution_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STACK}-diamond:{run_id}"
    assert link == (f"https://{REGION}.console.aws.amazon.com/states/home?region={REGION}"
                    f"#/v2/executions/details/{execution_arn}")
    assert _execution_input(execution_arn) == {
        "params": {"size": 42, "scale": 2.0, "verbose": True, "label": "run"}}


def test_start_with_a_run_id_and_a_taken_one(stack, capsys):
    _deploy(capsys)
    code, out, err = _run(capsys, "start", "diamond", "--stack", STACK, "--name", "nightly-1")
    assert code == 0, err
    assert out.splitlines()[0] == "nightly-1"
    # Same name, same input, still running: Step Functions answers with the same run.
    code, again, err = _run(capsys, "start", "diamond", "--stack", STACK, "--name", "nightly-1")
    assert (code, again) == (0, out), err
    code, _, err = _run(capsys, "start", "diamond", "--stack", STACK, "--name", "nightly-1", "--param", "size=1")
    assert "already taken" in _one_line_error(code, err)


@pytest.mark.parametrize(("argv", "message"), [
    (["--param", "sise=3"], "unknown parameter"),
    (["--param", "size=big"], "must be an integer"),
    (["--param", "size"], "NAME=VALUE"),
    (["--name", "has space"], "--name"),
])
def test_start_rejects_bad_input_before_starting(stack, capsys, argv, message):
    _deploy(capsys)
    starts = _count_calls("StartExecution")
    code, _, err = _run(capsys, "start", "diamond", "--stack", STACK, *argv)
    assert message in _one_line_error(code, err)
    assert starts == []


def test_start_of_an_undeployed_workflow(stack, capsys):
    code, _, err = _run(capsys, "start", "nope", "--stack", STACK)
    assert "not deployed" in _one_line_error(code, err)


def test_start_of_a_machine_without_parameter_record_takes_a_matching_spec(stack, capsys, tmp_path):
    """The stack's own machines (sam deploy from statemachines/) carry the compiler's Comment only."""
    from dagtrail import aws
    from dagtrail.compiler import compile_workflow
    from dagtrail.spec import load_spec

    aws.client("stepfunctions").create_state_machine(
        name=f"{STACK}-diamond", roleArn=ROLE, definition=json.dumps(compile_workflow(load_spec(DIAMOND))))
    code, _, err = _run(capsys, "start", "diamond", "--stack", STACK)
    assert "--spec" in _one_line_error(code, err)

    other = tmp_path / "diamond.yaml"
    other.write_text(DIAMOND.read_text().replace("size: 10", "size: 11"))
    code, _, err = _run(capsys, "start", "diamond", "--stack", STACK, "--spec", str(other))
    assert "differs from the one deployed" in _one_line_error(code, err)

    code, out, err = _run(capsys, "start", "diamond", "--stack", STACK, "--spec", str(DIAMOND),
                          "--param", "label=x")
    assert code == 0, err
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STACK}-diamond:{out.splitlines()[0]}"
    assert _execution_input(arn)["params"]["label"] == "x"


# -- status -------------------------------------------------------------------------------
def _start(capsys, run_id: str) -> str:
    _deploy(capsys)
    code, _, err = _run(capsys, "start", "diamond", "--stack", STACK, "--name", run_id)
    assert code == 0, err
    return f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STACK}-diamond:{run_id}"


def _seed_attempt(table, run_id: str, task: str, job_id: str, state: str, *, started: str | None = None,
                  stopped: str | None = None, exit_code: int | None = None, stream: str | None = None,
                  backend: str = "batch") -> None:
    """What submit_task (attempt, job record, link) then job_events (transition, finish) write."""
    from dagtrail.runs.models import JobRecord
    from dagtrail.runs.states import JobState

    token = f"token-{job_id}"
    attempt, _ = table.assign_attempt(run_id, task, token)
    table.register_job(JobRecord(job_id=job_id, state=JobState.SUBMITTED, token=token, run_id=run_id,
                                 workflow="diamond", task=task, attempt=attempt, backend=backend))
    table.link_job(run_id, task, token, attempt, job_id)
    table.transition(job_id, JobState(state), {"started_at": started, "stopped_at": stopped,
                                               "exit_code": exit_code, "log_stream": stream,
                                               "status_reason": "Essential container exited" if exit_code else None})
    if state in ("SUCCEEDED", "FAILED"):
        table.finish_task(run_id, task, attempt, state, f"s3://results/diamond/{run_id}/{task}/{attempt}/")


def _seed_run(run_id: str, execution_arn: str, *, run_record: bool = True):
    from dagtrail.runs.models import RunRecord
    from dagtrail.runs.table import RunsTable

    table = RunsTable(RUNS_TABLE)
    if run_record:
        table.put_run(RunRecord(run_id=run_id, workflow="diamond", execution_arn=execution_arn,
                                started_at="2025-01-01T00:00:00+00:00"))
    _seed_attempt(table, run_id, "prepare", "job-p1", "SUCCEEDED", started="2025-01-01T00:00:05+00:00",
                  stopped="2025-01-01T00:01:35+00:00", exit_code=0, stream="batch/default/p1")
    _seed_attempt(table, run_id, "left", "job-l1", "FAILED", started="2025-01-01T00:02:00+00:00",
                  stopped="2025-01-01T00:02:12.5+00:00", exit_code=3, stream="batch/default/l1")
    _seed_attempt(table, run_id, "left", "job-l2", "RUNNING", started="2025-01-01T00:03:00+00:00",
                  stream="batch/default/l2")
    return table


def test_status_json_has_each_task_state_attempts_and_durations(stack, capsys):
    execution_arn = _start(capsys, "r1")
    _seed_run("r1", execution_arn)

    code, out, err = _run(capsys, "status", "r1", "--stack", STACK, "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["execution_status"] == "RUNNING"
    assert status["workflow"] == "diamond" and status["execution_arn"] == execution_arn
    tasks = {t["name"]: t for t in status["tasks"]}
    assert list(tasks)[0] == "prepare" and set(tasks) == {"prepare", "left", "right", "report"}
    assert (tasks["prepare"]["status"], tasks["prepare"]["attempts"], tasks["prepare"]["duration_seconds"]) \
        == ("SUCCEEDED", 1, 90.0)
    left = tasks["left"]
    assert (left["status"], left["attempts"], left["duration_seconds"]) == ("RUNNING", 2, None)
    assert [(a["attempt"], a["state"], a["duration_seconds"], a["exit_code"]) for a in left["history"]] \
        == [(1, "FAILED", 12.5, 3), (2, "RUNNING", None, None)]
    assert left["history"][0]["reason"] == "Essential container exited"
    assert tasks["right"]["status"] == tasks["report"]["status"] == "NOT_STARTED"


def test_status_for_people_is_a_table(stack, capsys):
    _seed_run("r1", _start(capsys, "r1"))
    code, out, err = _run(capsys, "status", "r1", "--stack", STACK)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "run r1 (diamond): RUNNING"
    rows = {line.split()[0]: line.split() for line in lines if line and not line.startswith(("run ", "https:"))}
    assert rows["TASK"] == ["TASK", "STATE", "ATTEMPTS", "DURATION", "EXIT"]
    assert rows["prepare"] == ["prepare", "SUCCEEDED", "1", "1m30s", "0"]
    assert rows["left"][:3] == ["left", "RUNNING", "2"]
    assert rows["#1"] == ["#1", "FAILED", "12.5s", "3"]
    assert rows["right"] == ["right", "NOT_STARTED", "0", "-"]
    assert lines[-1].startswith(f"https://{REGION}.console.aws.amazon.com/states/")


def test_status_finds_the_execution_when_its_status_event_was_lost(stack, capsys):
    """No run record (execution_events has not run): the run is found among the stack's machines."""
    _seed_run("r2", _start(capsys, "r2"), run_record=False)
    code, out, err = _run(capsys, "status", "r2", "--stack", STACK, "--json")
    assert code == 0, err
    assert json.loads(out)["workflow"] == "diamond"


def test_status_of_an_unknown_run(stack, capsys):
    _deploy(capsys)
    code, _, err = _run(capsys, "status", "nope", "--stack", STACK)
    assert "no run 'nope'" in _one_line_error(code, err)


# -- logs ---------------------------------------------------------------------------------
def _put_log(stream: str, messages: list[str]) -> None:
    from dagtrail import aws

    logs = aws.client("logs")
    logs.create_log_stream(logGroupName=TASK_LOGS, logStreamName=stream)
    now = int(time.time() * 1000)  # CloudWatch refuses events older than 14 days
    logs.put_log_events(logGroupName=TASK_LOGS, logStreamName=stream,
                        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(messages)])


def test_logs_prints_the_latest_attempt_or_the_one_asked_for(stack, capsys):
    _seed_run("r1", _start(capsys, "r1"))
    _put_log("batch/default/l1", ["first try\n", "Traceback: boom"])
    _put_log("batch/default/l2", ["second try"])

    code, out, err = _run(capsys, "logs", "r1", "left", "--stack", STACK)
    assert (code, out) == (0, "second try\n"), err
    assert "batch/default/l2" in err
    code, out, err = _run(capsys, "logs", "r1", "left", "--stack", STACK, "--attempt", "1")
    assert (code, out) == (0, "first try\nTraceback: boom\n"), err


def test_logs_reads_every_page(stack, capsys):
    from dagtrail.stack import load_stack, log_lines, log_source

    _seed_run("r1", _start(capsys, "r1"))
    messages = [f"line {i}" for i in range(7)]
    _put_log("batch/default/p1", messages)
    found = load_stack(STACK)
    assert list(log_lines(found, log_source(found, "r1", "prepare"), page_size=2)) == messages


def test_ecs_attempts_take_the_stream_the_task_definition_names(stack, capsys):
    from dagtrail.runs.table import RunsTable

    _start(capsys, "r3")
    task_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{STACK}/0f1e2d3c4b5a"
    _seed_attempt(RunsTable(RUNS_TABLE), "r3", "right", task_arn, "SUCCEEDED", backend="ecs",
                  started="2025-01-01T00:00:00+00:00", stopped="2025-01-01T00:00:01+00:00", exit_code=0)
    _put_log("ecs/task/0f1e2d3c4b5a", ["from ecs"])
    code, out, err = _run(capsys, "logs", "r3", "right", "--stack", STACK)
    assert (code, out) == (0, "from ecs\n"), err


@pytest.mark.parametrize(("argv", "message"), [
    (["r1", "nope"], "has no task 'nope'"),
    (["r1", "right"], "has no task 'right'"),  # not started yet: no task record
    (["r1", "left", "--attempt", "5"], "has attempts 1, 2"),
    (["zz", "left"], "no run 'zz'"),
    (["r1", "prepare"], "no log stream batch/default/p1"),  # expired or never written
])
def test_logs_errors(stack, capsys, argv, message):
    _seed_run("r1", _start(capsys, "r1"))
    code, _, err = _run(capsys, "logs", *argv, "--stack", STACK)
    assert message in _one_line_error(code, err)


# -- the stack itself ---------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["deploy", str(DIAMOND)], ["start", "diamond"], ["status", "r1"], ["logs", "r1", "left"]])
def test_an_unknown_stack_is_one_line(stack, capsys, argv):
    code, _, err = _run(capsys, *argv, "--stack", "no-such-stack")
    assert "no stack 'no-such-stack'" in _one_line_error(code, err)


def test_a_stack_without_an_output_names_it(capsys):
    from moto import mock_aws

    from dagtrail import aws

    with mock_aws():
        aws.reset_clients()
        aws.client("cloudformation").create_stack(
            StackName="old", TemplateBody=_stand_in_template(("SubmitTaskFunctionArn", "StateMachineRoleArn")))
        code, _, err = _run(capsys, "deploy", str(DIAMOND), "--stack", "old")
    aws.reset_clients()
    assert "no output 'StateMachineLogGroupArn'" in _one_line_error(code, err)


def test_region_selects_where_the_stack_is_looked_up(stack, capsys):
    assert _run(capsys, "deploy", str(DIAMOND), "--stack", STACK, "--region", REGION)[0] == 0
    code, _, err = _run(capsys, "start", "diamond", "--stack", STACK, "--region", "eu-west-1")
    assert "no stack 'dt-test' in eu-west-1" in _one_line_error(code, err)


def test_no_region_is_one_line(capsys, monkeypatch, tmp_path):
    from dagtrail import aws

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    aws.reset_clients()
    try:
        code, _, err = _run(capsys, "status", "r1", "--stack", STACK)
    finally:
        aws.reset_clients()
    assert "no AWS region" in _one_line_error(code, err)
