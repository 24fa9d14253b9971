"""submit_task: allocate the attempt, start the job, hold the task token in the runs table."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from dagtrail import compute, settings
from dagtrail.compute import JobRequest, SubmitThrottled
from dagtrail.compute.registries import check_image
from dagtrail.results.layout import output_prefix
from dagtrail.runs import lineage as runs_lineage
from dagtrail.runs.models import JobRecord, SubmitTaskInput
from dagtrail.runs.states import JobState
from dagtrail.runs.table import AttemptReleased, RunsTable
from dagtrail.spec.models import TaskSpec
from dagtrail.spec.render import render_task

log = logging.getLogger(__name__)


class DependencyNotReady(Exception):
    """A dependency has no succeeded attempt: the state machine is out of order (a bug)."""


def dependency_inputs(table: RunsTable, payload: SubmitTaskInput, task: TaskSpec) -> dict[str, str]:
    """Each dependency's output prefix; a dependency that has not succeeded is not ready."""
    inputs = {}
    for dep in task.depends_on:
        record = table.get_task(payload.run_id, dep)
        if record is None or record.succeeded_attempt is None or not record.output_prefix:
            raise DependencyNotReady(f"task {payload.task!r}: dependency {dep!r} has not succeeded")
        inputs[dep] = record.output_prefix
    return inputs


def task_env(payload: SubmitTaskInput, task: TaskSpec, attempt: int, prefix: str,
             inputs: dict[str, str]) -> dict[str, str]:
    """The task's own env and what the task wrapper reads (dagtrail.task.config)."""
    return dict(task.env) | {
        "DAGTRAIL_WORKFLOW": payload.workflow,
        "DAGTRAIL_RUN_ID": payload.run_id,
        "DAGTRAIL_TASK": payload.task,
        "DAGTRAIL_ATTEMPT": str(attempt),
        "DAGTRAIL_OUTPUT_URI": prefix,
        "DAGTRAIL_INPUT_URIS": ",".join(f"{dep}={uri}" for dep, uri in sorted(inputs.items())),
    }


def submit_task(payload: SubmitTaskInput, table: RunsTable | None = None) -> dict:
    table = table or RunsTable()
    if payload.sweep:  # a foreach task: dagtrail.sweeps.submit (docs/sweeps.md)
        from dagtrail.sweeps.submit import submit_sweep

        return submit_sweep(payload, table)
    cfg = settings.load()
    try:
        attempt, existing_job = table.assign_attempt(payload.run_id, payload.task, payload.token)
    except AttemptReleased:  # a repeated delivery of a throttled submit: the same answer
        raise SubmitThrottled(f"task {payload.task!r}: this submit was throttled before") from None
    if existing_job:
        log.info("duplicate invocation for %s attempt %s: job %s", payload.task, attempt, existing_job)
        return {"job_id": existing_job, "attempt": attempt, "duplicate": True}

    task = render_task(TaskSpec.model_validate(payload.definition), payload.params)
    check_image(task.image, cfg.allowed_registries, task=payload.task)  # before anything starts
    inputs = dependency_inputs(table, payload, task)
    from dagtrail.cache.lookup import lookup

    key, reuse = lookup(table, payload.run_id, payload.task, task, inputs)
    if reuse is not None:
        return _serve_from_cache(payload, table, task, attempt, inputs, key, reuse)
    prefix = output_prefix(cfg.results_bucket, payload.workflow, payload.run_id, payload.task, attempt)
    env = task_env(payload, task, attempt, prefix, inputs)
    request = JobRequest(
        workflow=payload.workflow, run_id=payload.run_id, task=payload.task, attempt=attempt,
        image=task.image, command=task.command, env=env, resources=task.resources,
        timeout=task.timeout, compute=task.compute, output_prefix=prefix, inputs=inputs,
    )
    backend = compute.backend_for(task.compute)
    _stop_earlier_attempts(table, backend, payload.run_id, payload.task, attempt)
    job_id = submit_or_release(backend, request, table, payload.token)

    now = datetime.now(UTC).isoformat()
    record = table.register_job(JobRecord(
        job_id=job_id, state=JobState.SUBMITTED, token=payload.token, run_id=payload.run_id,
        workflow=payload.workflow, task=payload.task, attempt=attempt, backend=backend.name,
        image=task.image, command=list(task.command), output_prefix=prefix, inputs=inputs,
        created_at=now, cache_key=key,
    ))
    table.link_job(payload.run_id, payload.task, payload.token, attempt, job_id)
    runs_lineage.task_run(record)

    if record.terminal and not record.token_sent:
        # The job's terminal event beat this write and could not send the token: send it now.
        from dagtrail.runs.advance import complete

        complete(record, table)
    return {"job_id": job_id, "attempt": attempt, "duplicate": False}


def submit_or_release(backend, request: JobRequest, table: RunsTable, token: str) -> str:
    """Start the job; when the backend throttles, give the attempt number back first, so
    the state machine's retry runs as this attempt and no attempt appears that never ran."""
    try:
        return backend.submit(request)
    except SubmitThrottled:
        table.release_attempt(request.run_id, request.task, token, request.attempt)
        raise


def _serve_from_cache(payload: SubmitTaskInput, table: RunsTable, task: TaskSpec, attempt: int,
                      inputs: dict[str, str], key: str, reuse) -> dict:
    """Complete the task at once with earlier outputs: no job, no process, the same record
    and token path as a finished job (so duplicates and lineage behave the same)."""
    from dagtrail.runs.advance import complete

    now = datetime.now(UTC).isoformat()
    job_id = f"cache:{payload.run_id}:{payload.task}:{attempt}"
    record = table.register_job(JobRecord(
        job_id=job_id, state=JobState.SUCCEEDED, token=payload.token, run_id=payload.run_id,
        workflow=payload.workflow, task=payload.task, attempt=attempt, backend="cache",
        image=task.image, command=list(task.command), output_prefix=reuse.output_prefix, inputs=inputs,
        created_at=now, started_at=now, stopped_at=now, exit_code=0, cache_key=key,
        cached_from=reuse.source,
    ))
    table.link_job(payload.run_id, payload.task, payload.token, attempt, job_id)
    if not record.token_sent:
        complete(record, table)
    return {"job_id": job_id, "attempt": attempt, "duplicate": False, "cached": True}


def _stop_earlier_attempts(table: RunsTable, backend, run_id: str, task: str, attempt: int) -> None:
    """A Step Functions timeout leaves the old job running: stop it before starting another."""
    record = table.get_task(run_id, task)
    for earlier, job_id in (record.jobs if record else {}).items():
        if int(earlier) >= attempt:
            continue
        job = table.get_job(job_id)
        if job and not job.terminal:
            try:
                backend.terminate(job_id, f"superseded by attempt {attempt}")
            except Exception:  # best effort: the reconciler finds it later
                log.warning("could not stop %s (attempt %s of %s)", job_id, earlier, task, exc_info=True)
