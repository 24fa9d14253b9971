"""submit_task for sweeps: one item (inline Map), one array job (array), the plan and the
chunks of a Distributed Map. Contracts: docs/internals.md; design: docs/sweeps.md."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from dagtrail import compute, settings
from dagtrail.compute import JobRequest, SubmitThrottled
from dagtrail.results.layout import output_prefix, split_uri
from dagtrail.runs import lineage as runs_lineage
from dagtrail.runs.models import JobRecord, SubmitTaskInput
from dagtrail.runs.states import JobState
from dagtrail.runs.table import AttemptReleased, RunsTable
from dagtrail.spec.models import TaskSpec
from dagtrail.spec.render import render_task
from dagtrail.sweeps import sizing, store
from dagtrail.sweeps import table as sweeps_table
from dagtrail.sweeps.foreach import MAX_ITEMS
from dagtrail.sweeps.template import item_env, render_item

log = logging.getLogger(__name__)
INLINE_ATTEMPT = 1  # an inline Map is never retried whole: its items retry on their own


class SweepItemsError(Exception):
    """A `from` sweep's item list is missing or not a JSON list of items (fails the task)."""


SweepItemsError.__name__ = SweepItemsError.__qualname__ = "dagtrail.SweepItemsError"


def submit_sweep(payload: SubmitTaskInput, table: RunsTable) -> dict[str, Any]:
    task = render_task(TaskSpec.model_validate(payload.definition), payload.params)
    if task.foreach is None:
        raise ValueError(f"task {payload.task!r}: sweep {payload.sweep!r} without foreach")
    handlers = {"item": _submit_item, "array": _submit_array, "plan": _plan, "chunk": _submit_chunk}
    if payload.sweep not in handlers:
        raise ValueError(f"task {payload.task!r}: unknown sweep mode {payload.sweep!r}")
    return handlers[payload.sweep](payload, task, table)


def _prefix(payload: SubmitTaskInput, attempt: int) -> str:
    return output_prefix(settings.load().results_bucket, payload.workflow, payload.run_id, payload.task, attempt)


def _submit_item(payload: SubmitTaskInput, task: TaskSpec, table: RunsTable) -> dict[str, Any]:
    assert task.foreach is not None and payload.item_index is not None
    index = payload.item_index
    sweeps_table.start_sweep(table, payload.run_id, payload.task, total=task.foreach.count() or 0,
                             attempt=INLINE_ATTEMPT, mode="inline")
    sk = sweeps_table.item_sk(payload.task, index)
    item_try, existing = sweeps_table.assign_item(table, payload.run_id, sk, payload.token)
    if existing:
        return {"job_id": existing, "attempt": INLINE_ATTEMPT, "item_try": item_try, "duplicate": True}
    item = task.foreach.item_at(index)
    prefix = _prefix(payload, INLINE_ATTEMPT)
    rendered = task.model_copy(update={
        "command": tuple(render_item(a, item) for a in task.command),
        "env": {k: render_item(v, item) for k, v in task.env.items()} | item_env(item, index),
    })
    job_id, record = _submit_job(payload, rendered, table, attempt=INLINE_ATTEMPT, prefix=prefix,
                                 item_index=index, item_try=item_try)
    sweeps_table.link_item_job(table, payload.run_id, sk, payload.token, job_id)
    return {"job_id": job_id, "attempt": INLINE_ATTEMPT, "item_try": item_try, "duplicate": False}


def _submit_array(payload: SubmitTaskInput, task: TaskSpec, table: RunsTable) -> dict[str, Any]:
    assert task.foreach is not None
    try:
        attempt, existing = table.assign_attempt(payload.run_id, payload.task, payload.token)
    except AttemptReleased:  # a repeated delivery of a throttled submit: the same answer
        raise SubmitThrottled(f"task {payload.task!r}: this submit was throttled before") from None
    if existing:
        return {"job_id": existing, "attempt": attempt, "duplicate": True}
    prefix = _prefix(payload, attempt)
    count = store.write_items(prefix, task.foreach.items())
    sweeps_table.start_sweep(table, payload.run_id, payload.task, total=count, attempt=attempt, mode="array")
    job_id, _ = _submit_job(payload, task, table, attempt=attempt, prefix=prefix, array_size=count,
                            item_offset=0, chunk=0)
    table.link_job(payload.run_id, payload.task, payload.token, attempt, job_id)
    return {"job_id": job_id, "attempt": attempt, "items": count, "duplicate": False}


def _plan(payload: SubmitTaskInput, task: TaskSpec, table: RunsTable) -> dict[str, Any]:
    """Store the items and the chunk manifest; return pointers for the ItemReader. The
    `token` of a plan is the execution id: one attempt per execution, however often the
    Lambda is retried."""
    assert task.foreach is not None
    attempt, _ = table.assign_attempt(payload.run_id, payload.task, payload.token)
    prefix = _prefix(payload, attempt)
    items: Iterable[Any] = task.foreach.items() if task.foreach.from_ is None else _from_items(payload, task, table)
    count = store.write_items(prefix, items)
    chunks = sizing.chunks(count)
    store.put_json(prefix + store.CHUNKS, chunks, s3_too=True)  # the ItemReader reads it
    sweeps_table.start_sweep(table, payload.run_id, payload.task, total=count, attempt=attempt,
                             mode="distributed", chunks=len(chunks))
    bucket, key = split_uri(prefix + store.CHUNKS)
    return {"bucket": bucket, "key": key, "items": count, "chunks": len(chunks), "attempt": attempt,
            "duplicate": False}


def _from_items(payload: SubmitTaskInput, task: TaskSpec, table: RunsTable) -> list[Any]:
    foreach = task.foreach
    assert foreach is not None and foreach.source_task and foreach.source_path
    record = table.get_task(payload.run_id, foreach.source_task)
    if record is None or not record.output_prefix:
        raise SweepItemsError(f"task {payload.task!r}: {foreach.source_task!r} has no outputs")
    uri = record.output_prefix + foreach.source_path
    try:
        items = store.get_json(uri)
    except FileNotFoundError:
        raise SweepItemsError(f"task {payload.task!r}: foreach.from: no {uri}") from None
    except ValueError as exc:
        raise SweepItemsError(f"task {payload.task!r}: foreach.from: {uri} is not JSON: {exc}") from None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise SweepItemsError(f"task {payload.task!r}: foreach.from: {uri} must hold a JSON list of "
                              f"1 to {MAX_ITEMS} items")
    return items


def _submit_chunk(payload: SubmitTaskInput, task: TaskSpec, table: RunsTable) -> dict[str, Any]:
    assert payload.chunk is not None
    chunk, offset, size = payload.chunk["chunk"], payload.chunk["offset"], payload.chunk["size"]
    sweep = table.get_task(payload.run_id, payload.task)
    if sweep is None or sweep.sweep_attempt is None:
        raise ValueError(f"task {payload.task!r}: chunk {chunk} before the sweep's plan")
    attempt = sweep.sweep_attempt
    sk = sweeps_table.chunk_sk(payload.task, chunk)
    _, existing = sweeps_table.assign_item(table, payload.run_id, sk, payload.token)
    if existing:
        return {"job_id": existing, "attempt": attempt, "chunk": chunk, "duplicate": True}
    job_id, _ = _submit_job(payload, task, table, attempt=attempt, prefix=_prefix(payload, attempt),
                            array_size=size, item_offset=offset, chunk=chunk)
    sweeps_table.link_item_job(table, payload.run_id, sk, payload.token, job_id)
    return {"job_id": job_id, "attempt": attempt, "chunk": chunk, "duplicate": False}


def _submit_job(payload: SubmitTaskInput, task: TaskSpec, table: RunsTable, *, attempt: int, prefix: str,
                item_index: int | None = None, item_try: int | None = None, array_size: int | None = None,
                item_offset: int = 0, chunk: int | None = None) -> tuple[str, JobRecord]:
    """Start one job (an item's, or an array of items) and record it, as submit_task does."""
    from dagtrail.runs.submit import dependency_inputs, submit_or_release, task_env

    inputs = dependency_inputs(table, payload, task)
    # The wrapper appends the item's index to DAGTRAIL_OUTPUT_URI (DAGTRAIL_ITEM_INDEX, or
    # offset + array index).
    env = task_env(payload, task, attempt, prefix, inputs)
    items_uri = None
    if array_size is not None:
        items_uri = prefix + store.ITEMS_DIR
        env |= {"DAGTRAIL_ITEMS_URI": items_uri, "DAGTRAIL_ITEM_OFFSET": str(item_offset)}
    job_prefix = prefix if item_index is None else f"{prefix}{item_index}/"
    request = JobRequest(
        workflow=payload.workflow, run_id=payload.run_id, task=payload.task, attempt=attempt,
        image=task.image, command=task.command, env=env, resources=task.resources, timeout=task.timeout,
        compute=task.compute, output_prefix=job_prefix, inputs=inputs, array_size=array_size,
        item_offset=item_offset, items_uri=items_uri, item_tries=task.retries + 1,
        max_parallel=task.max_parallel, item_index=item_index, item_try=item_try,
    )
    backend = compute.backend_for(task.compute)
    job_id = submit_or_release(backend, request, table, payload.token)
    record = table.register_job(JobRecord(
        job_id=job_id, state=JobState.SUBMITTED, token=payload.token, run_id=payload.run_id,
        workflow=payload.workflow, task=payload.task, attempt=attempt, backend=backend.name, image=task.image,
        command=list(task.command), output_prefix=job_prefix, inputs=inputs,
        created_at=datetime.now(UTC).isoformat(), item_index=item_index, item_try=item_try,
        max_tries=task.retries + 1, array_size=array_size, item_offset=item_offset if array_size else None,
        chunk=chunk,
    ))
    runs_lineage.task_run(record)
    if record.terminal and not record.token_sent:
        from dagtrail.runs.advance import complete

        complete(record, table)
    return job_id, record
