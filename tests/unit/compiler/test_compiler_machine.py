"""The state machine contract (docs/internals.md): payload, retries, catch, timeout, bytes."""

from __future__ import annotations

import json
from pathlib import Path

from dagtrail.compiler import compile_workflow, to_json
from dagtrail.spec import TaskSpec, load_spec, load_spec_text

DIAMOND = Path(__file__).resolve().parents[2] / "fixtures" / "specs" / "diamond.yaml"
TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "dagtrail.SubmitThrottled",
]


def states_by_name(asl) -> dict:
    """Every state of the machine, branches included."""
    found = {}

    def walk(machine):
        for name, state in machine["States"].items():
            found[name] = state
            for branch in state.get("Branches", []):
                walk(branch)

    walk(asl)
    return found


def test_task_state_payload_follows_the_contract():
    spec = load_spec(DIAMOND)
    state = states_by_name(compile_workflow(spec))["left"]
    assert state["Type"] == "Task"
    assert state["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert state["ResultPath"] is None
    assert state["Parameters"]["FunctionName"] == "${SubmitTaskFunctionArn}"
    payload = state["Parameters"]["Payload"]
    definition = payload.pop("definition")
    assert payload == {
        "token.$": "$$.Task.Token",
        "execution_arn.$": "$$.Execution.Id",
        "run_id.$": "$$.Execution.Name",
        "retry_count.$": "$$.State.RetryCount",
        "params.$": "$.params",
        "workflow": "diamond",
        "task": "left",
    }
    assert json.loads(definition) == spec.tasks["left"].definition()
    assert TaskSpec.model_validate_json(definition) == spec.tasks["left"]
    assert "{{ params.scale }}" in definition, "definitions travel unrendered"


def test_every_task_retries_transient_submit_errors_with_jitter():
    for name, state in states_by_name(compile_workflow(load_spec(DIAMOND))).items():
        if state["Type"] == "Task":
            assert state["Retry"][0] == {
                "ErrorEquals": TRANSIENT,
                "IntervalSeconds": 2,
                "BackoffRate": 2,
                "MaxAttempts": 6,
                "JitterStrategy": "FULL",
            }, name


def test_task_retries_become_a_retrier_for_failures_and_timeouts():
    states = states_by_name(compile_workflow(load_spec(DIAMOND)))
    assert states["left"]["Retry"][1:] == [
        {"ErrorEquals": ["dagtrail.TaskFailed", "States.Timeout"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 2}
    ]
    assert len(states["report"]["Retry"]) == 1, "retries: 0 adds no retrier"


def test_timeout_comes_from_the_spec():
    states = states_by_name(compile_workflow(load_spec(DIAMOND)))
    assert states["prepare"]["TimeoutSeconds"] == 5400
    assert states["left"]["TimeoutSeconds"] == 3600
    assert states["report"]["TimeoutSeconds"] == 7200


def test_failures_are_caught_into_a_fail_state_per_task():
    states = states_by_name(compile_workflow(load_spec(DIAMOND)))
    for task in ("prepare", "left", "right", "report"):
        assert states[task]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": f"{task} failed"}]
        assert states[f"{task} failed"] == {"Type": "Fail", "Error": "dagtrail.TaskFailed", "CausePath": "$.error.Cause"}


def test_fail_state_lives_in_the_same_branch_as_its_task():
    asl = compile_workflow(load_spec(DIAMOND))
    branch_states = [b["States"] for b in asl["States"]["parallel left+right"]["Branches"]]
    assert set(branch_states[0]) == {"left", "left failed"}
    assert set(branch_states[1]) == {"right", "right failed"}


def test_comment_names_the_workflow_and_its_content_hash():
    spec = load_spec(DIAMOND)
    asl = compile_workflow(spec)
    assert asl["Comment"] == f"dagtrail workflow diamond ({spec.content_hash()})"
    assert set(asl) == {"Comment", "StartAt", "States"}


def test_jsonpath_only():
    text = to_json(compile_workflow(load_spec(DIAMOND)))
    assert "QueryLanguage" not in text and "{%" not in text
    assert text.count("${") == text.count("${SubmitTaskFunctionArn}")


def test_output_is_deterministic_and_independent_of_task_order():
    text = DIAMOND.read_text()
    once = to_json(compile_workflow(load_spec_text(text)))
    assert to_json(compile_workflow(load_spec_text(text))) == once
    # Same workflow, tasks listed in another order: the same bytes.
    spec = load_spec_text(text)
    reordered = spec.model_copy(update={"tasks": dict(reversed(list(spec.tasks.items())))})
    assert list(reordered.tasks) != list(spec.tasks)
    assert to_json(compile_workflow(reordered)) == once


def test_to_json_layout():
    text = to_json({"b": 1, "a": {"d": [1, 2], "c": "é"}})
    assert text == '{\n  "a": {\n    "c": "é",\n    "d": [\n      1,\n      2\n    ]\n  },\n  "b": 1\n}\n'


def test_compiling_changes_nothing_in_the_spec():
    spec = load_spec(DIAMOND)
    before = spec.model_dump()
    compile_workflow(spec)
    assert spec.model_dump() == before


def test_the_machine_fills_in_parameter_defaults_for_any_starter(aws_mock):
    """Console, schedule and upload starts pass some or no params; every task sees them all."""
    import json
    import time

    import boto3

    from dagtrail.compiler.machine import parameter_defaults

    defaults = {"nx": 32, "label": "it's {x}", "on": True}
    states = parameter_defaults(defaults, next_state="done") | {"done": {"Type": "Succeed"}}
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(name="m", roleArn="arn:aws:iam::123456789012:role/r",
                                   definition=json.dumps({"StartAt": "Parameters", "States": states}))["stateMachineArn"]
    outputs = {}
    for i, given in enumerate([{"params": {"nx": 5}}, {}, {"params": {}}]):
        execution = sfn.start_execution(stateMachineArn=arn, name=f"e{i}", input=json.dumps(given))["executionArn"]
        for _ in range(200):
            described = sfn.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                break
            time.sleep(0.02)
        outputs[i] = json.loads(described["output"])["params"]
    assert outputs[0] == defaults | {"nx": 5}
    assert outputs[1] == outputs[2] == defaults
