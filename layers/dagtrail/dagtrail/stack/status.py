"""`dagtrail status`: a deployed run as the handlers recorded it, plus its execution's status.

Task states and attempts come from the runs table (the same rule as `dagtrail run`'s
summary); the execution status from Step Functions, which is the authority on whether the
run is still going.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from dagtrail.errors import NotFoundError
from dagtrail.runs.models import JobRecord, RunRecord
from dagtrail.runs.table import RunsTable
from dagtrail.stack import outputs
from dagtrail.stack.errors import aws_call, error_code
from dagtrail.stack.machines import read_comment, task_names
from dagtrail.stack.outputs import Stack
from dagtrail.stack.start import console_url


class AttemptStatus(BaseModel):
    attempt: int
    job_id: str
    backend: str | None = None
    state: str
    started_at: str | None = None
    stopped_at: str | None = None
    duration_seconds: float | None = None  # of a finished attempt
    exit_code: int | None = None
    reason: str | None = None
    log_stream: str | None = None


class TaskStatus(BaseModel):
    name: str
    status: str  # SUCCEEDED | FAILED | a job state while it runs | NOT_STARTED
    attempts: int = 0
    duration_seconds: float | None = None  # of the latest attempt
    items: dict[str, int] | None = None  # a sweep's item counts: total, succeeded, failed
    history: list[AttemptStatus] = Field(default_factory=list)


class RunStatus(BaseModel):
    run_id: str
    workflow: str
    execution_arn: str
    execution_status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED | PENDING_REDRIVE
    started_at: str | None = None
    stopped_at: str | None = None
    error: str | None = None
    cause: str | None = None
    console_url: str
    tasks: list[TaskStatus] = Field(default_factory=list)


def runs_table(stack: Stack) -> RunsTable:
    return RunsTable(stack.output(outputs.RUNS_TABLE), region=stack.region)


def run_status(stack: Stack, run_id: str) -> RunStatus:
    from dagtrail.local.summary import task_states

    table = runs_table(stack)
    with aws_call(f"read run {run_id}"):
        run, execution = run_execution(stack, table, run_id)
        definition = json.loads(stack.client("stepfunctions").describe_state_machine_for_execution(
            executionArn=execution["executionArn"])["definition"])
        deployed = read_comment(definition)
        names = task_names(definition)
        records = {r.task: r for r in table.list_tasks(run_id)}
        names += sorted(set(records) - set(names))  # recorded, though the definition no longer has it
        summaries = task_states(table, run_id, names)
        tasks = [_task(summaries[name], records.get(name), table) for name in names]
    return RunStatus(
        run_id=run_id,
        workflow=deployed.name if deployed else (run.workflow if run else ""),
        execution_arn=execution["executionArn"],
        execution_status=execution["status"],
        started_at=_iso(execution.get("startDate")),
        stopped_at=_iso(execution.get("stopDate")),
        error=execution.get("error") or (run.error if run else None) or None,
        cause=execution.get("cause") or (run.cause if run else None) or None,
        console_url=console_url(stack.region, execution["executionArn"]),
        tasks=tasks,
    )


def run_execution(stack: Stack, table: RunsTable, run_id: str) -> tuple[RunRecord | None, dict[str, Any]]:
    """The run's record (if any) and its Step Functions execution, by recorded ARN or by name."""
    run = table.get_run(run_id)
    execution = _find_execution(stack, run.execution_arn if run else "", run_id)
    if execution is None:
        raise NotFoundError(f"no run {run_id!r} on stack {stack.name}")
    return run, execution


def _find_execution(stack: Stack, recorded_arn: str, run_id: str) -> dict[str, Any] | None:
    """The execution named run_id: by the run record's ARN, or else (its status event was
    lost or is late) by trying each of the stack's machines."""
    from botocore.exceptions import ClientError

    sfn = stack.client("stepfunctions")
    candidates = [recorded_arn] if recorded_arn else []
    if not candidates:
        prefix = f"{stack.name}-"
        for page in sfn.get_paginator("list_state_machines").paginate():
            candidates += [stack.execution_arn(m["name"], run_id)
                           for m in page["stateMachines"] if m["name"].startswith(prefix)]
    for arn in candidates:
        try:
            return sfn.describe_execution(executionArn=arn)
        except ClientError as exc:
            if error_code(exc) != "ExecutionDoesNotExist":
                raise
    return None


def _task(summary, record, table: RunsTable) -> TaskStatus:
    history = []
    for key in sorted((record.jobs if record else {}), key=int):
        job = table.get_job(record.jobs[key])
        if job is not None:
            history.append(_attempt(int(key), job))
    items = getattr(summary, "items", None)  # set by task_states for sweeps
    return TaskStatus(name=summary.name, status=summary.status, attempts=summary.attempts,
                      duration_seconds=history[-1].duration_seconds if history else None,
                      items=items.model_dump() if items is not None else None, history=history)


def _attempt(number: int, job: JobRecord) -> AttemptStatus:
    return AttemptStatus(
        attempt=number, job_id=job.job_id, backend=job.backend, state=job.state.value,
        started_at=job.started_at, stopped_at=job.stopped_at, duration_seconds=_seconds(job),
        exit_code=job.exit_code, reason=job.status_reason if job.state.value == "FAILED" else None,
        log_stream=job.log_stream,
    )


def _seconds(job: JobRecord) -> float | None:
    if not (job.terminal and job.started_at and job.stopped_at):
        return None
    try:
        delta = datetime.fromisoformat(job.stopped_at) - datetime.fromisoformat(job.started_at)
    except (TypeError, ValueError):
        return None
    return max(0.0, round(delta.total_seconds(), 3))


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value else None)
