"""One small builder per kind of state the compiler emits (contracts: docs/internals.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from dagtrail.spec.models import TaskSpec

SUBMIT_TASK_RESOURCE = "arn:aws:states:::lambda:invoke.waitForTaskToken"
SUBMIT_TASK_FUNCTION = "${SubmitTaskFunctionArn}"
TASK_FAILED = "dagtrail.TaskFailed"
SUBMIT_THROTTLED = "dagtrail.SubmitThrottled"
# Transient: the submit Lambda could not run or Batch/ECS throttled it. Retried whatever the
# task's own `retries`, because no attempt of the task has started.
TRANSIENT_SUBMIT_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    SUBMIT_THROTTLED,
)
MAX_STATE_NAME = 80

State = dict[str, Any]


def task_state(workflow: str, name: str, task: TaskSpec, *, next_state: str | None) -> State:
    """Submit one attempt of a task and wait, holding the task token, for its job to end."""
    retry: list[State] = [
        {
            "ErrorEquals": list(TRANSIENT_SUBMIT_ERRORS),
            "IntervalSeconds": 2,
            "BackoffRate": 2,
            "MaxAttempts": 6,
            "JitterStrategy": "FULL",
        }
    ]
    if task.retries > 0:
        retry.append(
            {
                "ErrorEquals": [TASK_FAILED, "States.Timeout"],
                "IntervalSeconds": 1,
                "BackoffRate": 2,
                "MaxAttempts": task.retries,
            }
        )
    state: State = {
        "Type": "Task",
        "Resource": SUBMIT_TASK_RESOURCE,
        "Parameters": {
            "FunctionName": SUBMIT_TASK_FUNCTION,
            "Payload": {
                "token.$": "$$.Task.Token",
                "execution_arn.$": "$$.Execution.Id",
                "run_id.$": "$$.Execution.Name",
                "retry_count.$": "$$.State.RetryCount",
                "params.$": "$.params",
                "workflow": workflow,
                "task": name,
                "definition": definition_text(task),
            },
        },
        # State data stays the execution input: no run data ever travels in state.
        "ResultPath": None,
        "TimeoutSeconds": task.timeout,
        "Retry": retry,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": failed_state_name(name)}],
    }
    return _link(state, next_state)


def definition_text(task: TaskSpec) -> str:
    """The static task definition as canonical JSON text.

    Text, not an object: asl-validator 4.0.0 rejects an array item in a payload template
    that is empty or spans lines (its "not JSONata" pattern is `^(?!\\{% )(.+)(?! %\\})$`,
    no dotall), and argv items such as a `python3 -c` script do both. Step Functions
    itself accepts either; a string value is valid for both.
    """
    return json.dumps(task.definition(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def task_failed(name: str) -> State:
    """Where a task lands when its retries are spent: fails the branch, hence the execution,
    so no dependant starts. The cause is the failure's own (job_events names the task,
    attempt, exit code and reason there), so the execution says why it failed."""
    return {"Type": "Fail", "Error": TASK_FAILED, "CausePath": "$.error.Cause"}


def fan_out(branches: Iterable[tuple[str, dict[str, State]]], *, next_state: str | None) -> State:
    """Run independent chains of tasks at once; continue when all have succeeded."""
    state: State = {
        "Type": "Parallel",
        "Branches": [{"StartAt": start, "States": states} for start, states in branches],
        "ResultPath": None,
    }
    return _link(state, next_state)


def failed_state_name(task: str) -> str:
    # Task names have no spaces, so this never collides with one.
    return f"{task} failed"


def fan_out_name(members: Iterable[str]) -> str:
    """Named after its tasks; too long -> truncated and made unique with a hash of them all."""
    full = "parallel " + "+".join(sorted(members))
    if len(full) <= MAX_STATE_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:10]
    return f"{full[: MAX_STATE_NAME - 12]}.~{digest}"


def _link(state: State, next_state: str | None) -> State:
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state
    return state
