"""`dagtrail logs`: one attempt's CloudWatch log stream, read from the start, page by page.

The stream is what job_events recorded from the Batch event (the job record's log_stream)
in the stack's task log group. ECS task events carry no stream name: it follows from the
task definition's awslogs options in template.yaml (prefix "ecs", container "task").
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from dagtrail.errors import NotFoundError, UsageError
from dagtrail.runs.models import JobRecord
from dagtrail.stack.errors import aws_call, error_code
from dagtrail.stack.outputs import Stack
from dagtrail.stack.status import runs_table

ECS_STREAM_PREFIX = "ecs"
ECS_CONTAINER = "task"


class LogSource(BaseModel):
    run_id: str
    task: str
    attempt: int
    job_id: str
    log_group: str
    log_stream: str


def log_source(stack: Stack, run_id: str, task: str, attempt: int | None = None) -> LogSource:
    table = runs_table(stack)
    with aws_call(f"read run {run_id}"):
        record = table.get_task(run_id, task)
        if record is None:
            known = sorted(r.task for r in table.list_tasks(run_id))
            if not known and table.get_run(run_id) is None:
                raise NotFoundError(f"no run {run_id!r} on stack {stack.name}")
            raise NotFoundError(f"run {run_id} has no task {task!r} (started tasks: {', '.join(known) or 'none'})")
        if not record.jobs:
            raise NotFoundError(f"task {task!r} of run {run_id} has not started an attempt yet")
        attempts = sorted(int(k) for k in record.jobs)
        number = attempt if attempt is not None else attempts[-1]
        if number not in attempts:
            raise UsageError(f"--attempt {number}: task {task!r} of run {run_id} has attempts "
                             f"{', '.join(map(str, attempts))}")
        job = table.get_job(record.jobs[str(number)])
    if job is None:
        raise NotFoundError(f"attempt {number} of task {task!r}: job {record.jobs[str(number)]} is not recorded")
    stream = stream_of(job)
    if not stream:
        raise NotFoundError(f"attempt {number} of task {task!r} ({job.state.value}) has no log stream yet")
    return LogSource(run_id=run_id, task=task, attempt=number, job_id=job.job_id,
                     log_group=stack.task_log_group(), log_stream=stream)


def stream_of(job: JobRecord) -> str | None:
    if job.log_stream:
        return job.log_stream
    if job.backend == "ecs" and job.job_id.startswith("arn:"):
        return f"{ECS_STREAM_PREFIX}/{ECS_CONTAINER}/{job.job_id.rsplit('/', 1)[-1]}"
    return None


def log_lines(stack: Stack, source: LogSource, page_size: int | None = None) -> Iterator[str]:
    """Every message of the stream, oldest first; pages are fetched as they are consumed."""
    from botocore.exceptions import ClientError

    logs = stack.client("logs")
    kwargs = {"logGroupName": source.log_group, "logStreamName": source.log_stream, "startFromHead": True}
    if page_size:
        kwargs["limit"] = page_size
    with aws_call(f"read log stream {source.log_stream}"):
        while True:
            try:
                page = logs.get_log_events(**kwargs)
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    raise NotFoundError(f"no log stream {source.log_stream} in {source.log_group} "
                                        "(expired by the retention period, or not written yet)") from None
                raise
            for event in page.get("events", []):
                yield event.get("message", "").rstrip("\n")
            # The last page repeats its token: that is how CloudWatch says "no more".
            token = page.get("nextForwardToken")
            if not token or token == kwargs.get("nextToken"):
                return
            kwargs["nextToken"] = token
