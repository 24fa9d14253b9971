"""Builders for sweep tasks (`foreach`), one per compiled shape (dagtrail.sweeps.sizing).

Every shape starts at a state named after the task, ends in the chain's next state, and
fails into "<task> failed", like a plain task. No item ever travels in state data: an
inline Map iterates over indices (States.ArrayRange), an array job and a Distributed Map
read their items from S3 by index.
"""

from __future__ import annotations

from typing import Any

from dagtrail.compiler.states import (
    SUBMIT_TASK_FUNCTION, State, _link, definition_text, failed_state_name, task_failed, task_state,
)
from dagtrail.spec.models import TaskSpec
from dagtrail.sweeps import sizing

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
S3_GET_OBJECT = "arn:aws:states:::s3:getObject"


def sweep_states(workflow: str, name: str, task: TaskSpec, *, next_state: str | None) -> dict[str, State]:
    """The states of one sweep task, keyed by name; the first is the task's own name."""
    assert task.foreach is not None
    mode = sizing.sweep_mode(task.foreach.count(), task.compute)
    if mode == "inline":
        states = inline_map(workflow, name, task, next_state=next_state)
    elif mode == "array":
        states = array_job(workflow, name, task, next_state=next_state)
    else:
        states = distributed_map(workflow, name, task, next_state=next_state)
    states[failed_state_name(name)] = task_failed(name)
    return states


def item_state_name(task: str) -> str:
    return f"{task} item"


def map_state_name(task: str) -> str:
    return f"{task} map"


def chunk_state_name(task: str) -> str:
    return f"{task} chunk"


def inline_map(workflow: str, name: str, task: TaskSpec, *, next_state: str | None) -> dict[str, State]:
    """Pass (the indices 0..N-1) → Map, one waitForTaskToken Task state per index.

    Each item is retried on its own by the Task state's Retry; an item whose retries are
    spent fails the Map, hence the task."""
    count = task.foreach.count()  # type: ignore[union-attr]
    assert count is not None and count <= sizing.ARRAY_RANGE_MAX
    item = task_state(workflow, name, task, next_state=None)
    item["Parameters"]["Payload"].update({"sweep": "item", "item_index.$": "$.index"})
    item["Catch"][0]["Next"] = failed_state_name(item_state_name(name))
    indices: State = {
        "Type": "Pass",
        # Indices are pointers: each item's job finds its item from the definition.
        "Parameters": {"indices.$": f"States.ArrayRange(0, {count - 1}, 1)"},
        "ResultPath": "$.sweep",
        "Next": map_state_name(name),
    }
    mapped: State = {
        "Type": "Map",
        "ItemsPath": "$.sweep.indices",
        "ItemSelector": {"index.$": "$$.Map.Item.Value", "params.$": "$.params"},
        "MaxConcurrency": sizing.inline_concurrency(task.max_parallel),
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": item_state_name(name),
            "States": {
                item_state_name(name): item,
                failed_state_name(item_state_name(name)): task_failed(item_state_name(name)),
            },
        },
        "ResultPath": None,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": failed_state_name(name)}],
    }
    return {name: indices, map_state_name(name): _link(mapped, next_state)}


def array_job(workflow: str, name: str, task: TaskSpec, *, next_state: str | None) -> dict[str, State]:
    """One Task state, one Batch array job: constant transitions for up to 10,000 items.

    The task's `retries` go to Batch (retryStrategy, per child): retrying the Task state
    would rerun every item, including those that succeeded."""
    state = task_state(workflow, name, task, next_state=next_state)
    state["Parameters"]["Payload"]["sweep"] = "array"
    state["Retry"] = state["Retry"][:1]  # the transient submit errors only
    return {name: state}


def distributed_map(workflow: str, name: str, task: TaskSpec, *, next_state: str | None) -> dict[str, State]:
    """Plan (items and the chunk manifest to S3; pointers back) → Distributed Map over the
    chunks, each chunk one array job in a child execution with its own history."""
    transient = task_state(workflow, name, task, next_state=None)["Retry"][:1]
    definition = definition_text(task)
    plan: State = {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {
            "FunctionName": SUBMIT_TASK_FUNCTION,
            "Payload": {
                "token.$": "$$.Execution.Id",  # the plan answers no token: one plan per execution
                "execution_arn.$": "$$.Execution.Id",
                "run_id.$": "$$.Execution.Name",
                "params.$": "$.params",
                "workflow": workflow,
                "task": name,
                "definition": definition,
                "sweep": "plan",
            },
        },
        "ResultSelector": {"bucket.$": "$.Payload.bucket", "key.$": "$.Payload.key"},
        "ResultPath": "$.sweep",
        "Retry": transient,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": failed_state_name(name)}],
        "Next": map_state_name(name),
    }
    chunk = task_state(workflow, name, task, next_state=None)
    chunk["Parameters"]["Payload"].update({
        "execution_arn.$": "$.execution_arn", "run_id.$": "$.run_id", "sweep": "chunk", "chunk.$": "$.chunk",
    })
    chunk["Retry"] = chunk["Retry"][:1]  # item retries are Batch's, per child (see array_job)
    chunk["Catch"][0]["Next"] = failed_state_name(chunk_state_name(name))
    mapped: State = {
        "Type": "Map",
        "ItemReader": {
            "Resource": S3_GET_OBJECT,
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket.$": "$.sweep.bucket", "Key.$": "$.sweep.key"},
        },
        # Child executions have their own name and id: hand them the run's.
        "ItemSelector": {"chunk.$": "$$.Map.Item.Value", "params.$": "$.params",
                         "run_id.$": "$$.Execution.Name", "execution_arn.$": "$$.Execution.Id"},
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": chunk_state_name(name),
            "States": {
                chunk_state_name(name): chunk,
                failed_state_name(chunk_state_name(name)): task_failed(chunk_state_name(name)),
            },
        },
        "Label": _label(name),
        "ResultPath": None,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": failed_state_name(name)}],
    }
    concurrency = sizing.distributed_concurrency(task.max_parallel)
    if concurrency is not None:
        mapped["MaxConcurrency"] = concurrency
    return {name: plan, map_state_name(name): _link(mapped, next_state)}


def _label(name: str) -> str:
    """Map run label: at most 40 characters, no spaces or special characters."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40]


def sweep_summary(task: TaskSpec) -> dict[str, Any]:
    """How a sweep task compiles (for tools and the bench)."""
    assert task.foreach is not None
    count = task.foreach.count()
    return {"mode": sizing.sweep_mode(count, task.compute), "items": count}
