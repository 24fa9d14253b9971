"""job_events: Batch/ECS state changes → monotonic transition → SendTaskSuccess/Failure once.

A terminal event is applied once (the conditional transition), but the token is sent until
`token_sent` is recorded, so a crash between the two is repaired by the next delivery or by
the reconciler, and a duplicate after that is a no-op.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from dagtrail import aws
from dagtrail.events.models import BatchJobDetail, BatchJobStateChange, EcsTaskDetail, EcsTaskStateChange
from dagtrail.runs import lineage as runs_lineage
from dagtrail.runs.models import JobRecord
from dagtrail.runs.states import JobState, from_batch, from_ecs
from dagtrail.runs.table import RunsTable

log = logging.getLogger(__name__)

TASK_FAILED = "dagtrail.TaskFailed"
# The token is gone: the execution ended, the state timed out, or it was already answered.
_STALE_TOKEN = {"TaskDoesNotExist", "TaskTimedOut", "InvalidToken", "ExecutionDoesNotExist"}


class EndedTry(BaseModel):
    """A try Batch already retried, as the job's `attempts` list reports it."""

    started_at: str | None = None
    stopped_at: str | None = None
    exit_code: int | None = None
    status_reason: str | None = None
    log_stream: str | None = None


class JobUpdate(BaseModel):
    """A backend-neutral job state change."""

    job_id: str
    state: JobState
    started_at: str | None = None
    stopped_at: str | None = None
    exit_code: int | None = None
    status_reason: str | None = None
    log_stream: str | None = None
    image_digest: str | None = None
    tries: int | None = None  # Batch attempts so far (array children are retried by Batch)
    earlier_tries: list[EndedTry] = []  # the tries before this state's (failed, retried)


class Outcome(BaseModel):
    job_id: str
    applied: bool
    state: JobState
    token: str  # sent | stale | pending | not-terminal
    duration_seconds: float | None = None  # of a job that just reached its terminal state


def _ms(value: int | None) -> str | None:
    return datetime.fromtimestamp(value / 1000, UTC).isoformat() if value else None


def from_batch_event(event: BatchJobStateChange) -> JobUpdate:
    return from_batch_detail(event.detail)


def from_batch_detail(d: BatchJobDetail) -> JobUpdate:
    """A Batch job as the event reports it, or as DescribeJobs does (same shape)."""
    last = d.attempts[-1] if d.attempts else None
    container = last.container if last else d.container
    return JobUpdate(
        job_id=d.jobId, state=from_batch(d.status),
        started_at=_ms(d.startedAt or (last.startedAt if last else None)),
        stopped_at=_ms(d.stoppedAt or (last.stoppedAt if last else None)),
        exit_code=container.exitCode if container.exitCode is not None else d.container.exitCode,
        status_reason=d.statusReason or (last.statusReason if last else None) or container.reason,
        log_stream=container.logStreamName or d.container.logStreamName,
        tries=len(d.attempts),
        # A terminal job lists its own try last; a running one only those that came before.
        earlier_tries=[EndedTry(started_at=_ms(a.startedAt), stopped_at=_ms(a.stoppedAt),
                                exit_code=a.container.exitCode, status_reason=a.statusReason,
                                log_stream=a.container.logStreamName)
                       for a in (d.attempts[:-1] if d.stoppedAt else d.attempts)],
    )


def from_ecs_event(event: EcsTaskStateChange) -> JobUpdate:
    return from_ecs_detail(event.detail)


def from_ecs_detail(d: EcsTaskDetail) -> JobUpdate:
    codes = [c.exitCode for c in d.containers]
    first = d.containers[0] if d.containers else None
    return JobUpdate(
        job_id=d.taskArn, state=from_ecs(d.lastStatus, codes),
        started_at=d.startedAt, stopped_at=d.stoppedAt,
        exit_code=first.exitCode if first else None,
        status_reason=d.stoppedReason or (first.reason if first else None),
        image_digest=first.imageDigest if first else None,
    )


def apply(update: JobUpdate, table: RunsTable | None = None) -> Outcome:
    from dagtrail.lineage.sink import together

    with together():  # the attempt's TaskRun and, when it ends, its outputs: one send, not two
        return _apply(update, table or RunsTable())


def _apply(update: JobUpdate, table: RunsTable) -> Outcome:
    from dagtrail.sweeps.events import apply_child, child_of

    if child_of(update.job_id):  # a Batch array child: an item of a sweep, no token of its own
        result = apply_child(update, table)
        return Outcome(job_id=update.job_id, applied=result["applied"], state=update.state, token=result["token"])
    fields = update.model_dump(exclude={"job_id", "state", "image_digest", "tries", "earlier_tries"})
    applied, record = table.transition(update.job_id, update.state, fields)
    if applied and record.submitted:
        runs_lineage.task_run(record, image_digest=update.image_digest)
    if not record.terminal:
        return Outcome(job_id=update.job_id, applied=applied, state=record.state, token="not-terminal")
    if not record.submitted:
        # Arrived before submit_task recorded the token; submit_task completes it.
        return Outcome(job_id=update.job_id, applied=applied, state=record.state, token="pending")
    duration = _duration(record) if applied else None
    if record.token_sent:
        return Outcome(job_id=update.job_id, applied=applied, state=record.state, token="sent",
                       duration_seconds=duration)
    return Outcome(job_id=update.job_id, applied=applied, state=record.state, token=complete(record, table),
                   duration_seconds=duration)


def _duration(record: JobRecord) -> float | None:
    if not (record.started_at and record.stopped_at):
        return None
    start, stop = datetime.fromisoformat(record.started_at), datetime.fromisoformat(record.stopped_at)
    return max(0.0, (stop - start).total_seconds())


def complete(record: JobRecord, table: RunsTable) -> str:
    """Record the attempt's outcome, then answer its task token. Returns 'sent' or 'stale'."""
    assert record.token and record.run_id and record.task and record.attempt
    sfn = aws.client("stepfunctions")
    status = "SUCCEEDED" if record.state == JobState.SUCCEEDED else "FAILED"
    # The task record first: a dependant's submit_task must find this output when it starts.
    if record.item_index is not None or record.array_size is not None:
        from dagtrail.sweeps.events import finish_job

        # Items, counters, and the sweep's outputs when all are done. Each item's TaskRun
        # records its own artifacts; the sweep's merged manifest would only repeat them.
        finish_job(record, table, status)
    else:
        table.finish_task(record.run_id, record.task, record.attempt, status, record.output_prefix)
        if status == "SUCCEEDED" and record.backend == "cache":
            runs_lineage.cache_hit(record)
        elif status == "SUCCEEDED":
            runs_lineage.task_outputs(record)
            _remember(record, table)
    try:
        if status == "SUCCEEDED":
            sfn.send_task_success(taskToken=record.token, output=json.dumps(_output(record)))
        else:
            sfn.send_task_failure(taskToken=record.token, error=TASK_FAILED, cause=_cause(record))
        result = "sent"
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in _STALE_TOKEN:
            raise
        log.warning("token for %s attempt %s not accepted (%s): the state moved on",
                    record.task, record.attempt, code)
        result = "stale"
    table.mark_token_sent(record.job_id)
    return result


def _remember(record: JobRecord, table: RunsTable) -> None:
    """A succeeded attempt answers its cache key from now on (first writer wins)."""
    if not (record.cache_key and record.output_prefix):
        return
    from dagtrail.cache import CacheEntry, CacheIndex

    CacheIndex(table.name).put(CacheEntry(
        key=record.cache_key, run_id=record.run_id, workflow=record.workflow or "", task=record.task,
        attempt=record.attempt, output_prefix=record.output_prefix,
        created_at=record.stopped_at or datetime.now(UTC).isoformat(),
    ))


def _output(record: JobRecord) -> dict[str, Any]:
    return {
        "task": record.task, "attempt": record.attempt, "job_id": record.job_id,
        "cached": record.backend == "cache",
        "output_prefix": record.output_prefix,
        "manifest": f"{record.output_prefix}manifest.json" if record.output_prefix else None,
    }


def _cause(record: JobRecord) -> str:
    parts = [f"task {record.task!r} attempt {record.attempt} failed"]
    if record.exit_code is not None:
        parts.append(f"exit code {record.exit_code}")
    if record.status_reason:
        parts.append(record.status_reason)
    return ": ".join(parts)[:32768]


def parse_job_event(event: dict) -> tuple[JobUpdate | None, str]:
    """(update, "") for a Batch/ECS state change we own; (None, why) for anything else."""
    from pydantic import ValidationError

    kind = event.get("detail-type") if isinstance(event, dict) else None
    try:
        if kind == "Batch Job State Change" and event.get("source") == "aws.batch":
            return from_batch_event(BatchJobStateChange.model_validate(event)), ""
        if kind == "ECS Task State Change" and event.get("source") == "aws.ecs":
            return from_ecs_event(EcsTaskStateChange.model_validate(event)), ""
    except (ValidationError, ValueError) as exc:
        return None, f"malformed {kind}: {str(exc).splitlines()[0]}"
    return None, f"not a Batch or ECS state change (detail-type {kind!r})"
