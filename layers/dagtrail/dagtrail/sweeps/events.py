"""job_events for sweeps: array children update their items; a sweep's jobs finish it.

* A Batch array child (job id `<parent>:<i>`) moves item offset+i forward (try, state) and,
  at its final outcome, the task's counters: never a token (children have none).
* An inline item's job, at its terminal state, records the item; the token is answered by
  advance.complete as for any job.
* An array job (or a Distributed Map chunk) at its terminal state: succeeded → the chunk is
  done, and when every chunk is, the sweep is finalised (sweep.json, manifest.json, task
  record SUCCEEDED) before the token goes out, so a dependant always finds the outputs.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dagtrail import settings
from dagtrail.results.layout import MANIFEST, output_prefix
from dagtrail.results.manifest import Manifest, ManifestEntry
from dagtrail.runs import lineage as runs_lineage
from dagtrail.runs.models import JobRecord
from dagtrail.runs.states import JobState
from dagtrail.runs.table import RunsTable
from dagtrail.sweeps import store
from dagtrail.sweeps import table as sweeps_table

log = logging.getLogger(__name__)
# Above this many items the merged manifest lists only sweep.json: a dependant of a larger
# sweep reads item outputs by prefix, and finalising stays a few seconds of reads.
MERGE_LIMIT = 10_000
# Array jobs whose children this (warm) handler has seen: a child reads only what submit_task
# registered on its parent, which never changes, so one read serves every child.
_PARENTS: dict[tuple[str, str], JobRecord] = {}
_PARENTS_MAX = 256


def child_of(job_id: str) -> tuple[str, int] | None:
    """(parent job id, array index) of a Batch array child id `<parent>:<index>`."""
    parent, sep, index = job_id.rpartition(":")
    if not sep or not parent or not index.isdigit() or parent.startswith("arn:"):
        return None
    return parent, int(index)


def apply_child(update: Any, table: RunsTable) -> dict[str, Any]:
    """A child's state change (a runs.advance.JobUpdate). Returns what happened."""
    parent_id, array_index = child_of(update.job_id)  # type: ignore[misc]
    parent = _parent(table, parent_id)
    if parent is None or parent.run_id is None or parent.task is None:
        # submit_task registers the parent before children can start; the reconciler
        # describes the parent later.
        log.warning("child %s of an unknown array job", update.job_id)
        return {"applied": False, "state": update.state, "token": "unknown-parent"}
    index = (parent.item_offset or 0) + array_index
    terminal = update.state in (JobState.SUCCEEDED, JobState.FAILED)
    tries = update.tries or 0
    item_try = max(1, tries if terminal else tries + 1)
    child = _child_record(parent, update, index, item_try)
    # Batch retries a failed child itself (retryStrategy): a child's terminal state is final.
    applied = record_item(table, child, final=terminal)
    if applied:
        _record_earlier_tries(child, update.earlier_tries[:item_try - 1])
    return {"applied": applied, "state": update.state, "token": "child"}


def _record_earlier_tries(child: JobRecord, tries: list[Any]) -> None:
    """The failed tries before this one, from the event's `attempts`: their TaskRuns end
    FAILED however their own events were ordered, delayed or lost (lineage only: the item's
    record holds its latest try)."""
    for number, ended in enumerate(tries, start=1):
        runs_lineage.task_run(child.model_copy(update={
            "state": JobState.FAILED, "item_try": number, **ended.model_dump()}))


def _parent(table: RunsTable, job_id: str) -> JobRecord | None:
    key = (table.name, job_id)
    parent = _PARENTS.get(key)
    if parent is None:
        parent = table.get_job(job_id)
        if parent is not None and parent.run_id is not None and parent.task is not None:
            if len(_PARENTS) >= _PARENTS_MAX:
                _PARENTS.clear()
            _PARENTS[key] = parent
    return parent


def _child_record(parent: JobRecord, update: Any, index: int, item_try: int) -> JobRecord:
    return JobRecord(
        job_id=update.job_id, state=update.state, run_id=parent.run_id, workflow=parent.workflow,
        task=parent.task, attempt=parent.attempt, backend=parent.backend, image=parent.image,
        command=parent.command, inputs=parent.inputs, output_prefix=f"{parent.output_prefix}{index}/", item_index=index,
        item_try=item_try, started_at=update.started_at, stopped_at=update.stopped_at,
        exit_code=update.exit_code, status_reason=update.status_reason, log_stream=update.log_stream,
    )


def record_item(table: RunsTable, job: JobRecord, *, final: bool) -> bool:
    """Move the item forward, emit its TaskRun (and outputs when it succeeded)."""
    assert job.run_id and job.task and job.item_index is not None
    fields = {"job_id": job.job_id, "started_at": job.started_at, "stopped_at": job.stopped_at,
              "exit_code": job.exit_code, "status_reason": job.status_reason, "log_stream": job.log_stream,
              "output_prefix": job.output_prefix}
    applied = sweeps_table.item_transition(table, job.run_id, job.task, job.item_index, item_try=job.item_try or 1,
                                           state=job.state, fields=fields, final=final)
    if applied:
        from dagtrail.lineage.sink import together

        with together():  # the TaskRun, its outputs and the inputs it used in one send
            runs_lineage.task_run(job)
            if job.state == JobState.SUCCEEDED:
                # Each item used the sweep's inputs: without these edges an item's outputs
                # would not trace back past the sweep (no sweep-level TaskRun holds them).
                runs_lineage.task_outputs(job)
    return applied


def finish_job(record: JobRecord, table: RunsTable, status: str) -> None:
    """advance.complete's bookkeeping for a sweep's job, before its token is answered."""
    assert record.run_id and record.task and record.attempt
    if record.item_index is not None:  # an inline Map item
        final = status == "SUCCEEDED" or (record.item_try or 1) >= (record.max_tries or 1)
        record_item(table, record, final=final)
        sweep = table.get_task(record.run_id, record.task)
        if status == "FAILED" and final:
            table.finish_task(record.run_id, record.task, record.attempt, "FAILED", None)
        elif sweep is not None and sweep.items_total and sweep.items_succeeded >= sweep.items_total:
            finalize(record, table, sweep.items_total)
        return
    if record.array_size == 1:  # Batch runs a one-item array as a plain job: no child events
        item = record.model_copy(update={"item_index": record.item_offset or 0, "item_try": 1,
                                         "output_prefix": f"{record.output_prefix}{record.item_offset or 0}/"})
        record_item(table, item, final=True)
    if status != "SUCCEEDED":
        table.finish_task(record.run_id, record.task, record.attempt, "FAILED", None)
        return
    sweep, done = sweeps_table.mark_chunk_done(table, record.run_id, record.task, record.chunk or 0)
    if done >= (sweep.chunks_total or 1):
        finalize(record, table, sweep.items_total or 0)


def finalize(record: JobRecord, table: RunsTable, total: int) -> str:
    """Write sweep.json and the merged manifest.json; mark the task SUCCEEDED. Idempotent."""
    assert record.run_id and record.task and record.workflow and record.attempt
    prefix = output_prefix(settings.load().results_bucket, record.workflow, record.run_id, record.task,
                           record.attempt)
    sweep: dict[str, Any] = {"task": record.task, "attempt": record.attempt, "count": total,
                             "item_prefix": prefix + "{index}/", "items": prefix + store.ITEMS_DIR}
    entries: list[ManifestEntry] = []
    if total <= MERGE_LIMIT:
        manifests = _item_manifests(prefix, total)
        sweep["outputs"] = [{"index": i, "prefix": f"{prefix}{i}/",
                             "artifacts": [e.name for e in m.artifacts] if m else []}
                            for i, m in enumerate(manifests)]
        for i, m in enumerate(manifests):
            for e in m.artifacts if m else []:
                entries.append(e.model_copy(update={"name": f"{i}/{e.name}"}))
    body = store.put_json(prefix + store.SWEEP_MANIFEST, sweep)
    import hashlib

    entries.append(ManifestEntry(name=store.SWEEP_MANIFEST, size=len(body), sha256=hashlib.sha256(body).hexdigest()))
    manifest = Manifest(task=record.task, attempt=record.attempt, prefix=prefix, artifacts=entries)
    store.put_json(prefix + MANIFEST, manifest.model_dump(mode="json"))
    table.finish_task(record.run_id, record.task, record.attempt, "SUCCEEDED", prefix)
    return prefix


def _item_manifests(prefix: str, total: int) -> list[Manifest | None]:
    from dagtrail.results.store import read_manifest

    with ThreadPoolExecutor(16, thread_name_prefix="manifests") as pool:
        return list(pool.map(lambda i: read_manifest(f"{prefix}{i}/"), range(total)))
