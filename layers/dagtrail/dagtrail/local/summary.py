"""The outcome of a run as the user sees it (`dagtrail run --json`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from dagtrail.results.store import local_path, read_manifest
from dagtrail.runs.table import RunsTable


class ItemCounts(BaseModel):
    """A sweep's items: how many there are and how many ended for good."""

    total: int
    succeeded: int = 0
    failed: int = 0


class TaskSummary(BaseModel):
    name: str
    status: str  # SUCCEEDED | FAILED | RUNNING | NOT_STARTED
    attempts: int = 0
    started_at: str | None = None
    stopped_at: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    log: str | None = None
    cached: bool = False  # served from the cache: no process ran
    items: ItemCounts | None = None  # sweeps only


class ArtifactSummary(BaseModel):
    task: str
    name: str
    uri: str
    size: int
    sha256: str
    path: str | None = None


class RunSummary(BaseModel):
    run_id: str
    workflow: str
    status: str  # SUCCEEDED | FAILED
    started_at: str | None = None
    stopped_at: str | None = None
    error: str | None = None
    cause: str | None = None
    tasks: list[TaskSummary] = Field(default_factory=list)
    artifacts: list[ArtifactSummary] = Field(default_factory=list)

    @property
    def failed_tasks(self) -> list[TaskSummary]:
        return [t for t in self.tasks if t.status == "FAILED"]


def task_states(table: RunsTable, run_id: str, task_names: list[str]) -> dict[str, TaskSummary]:
    """Each task's current state, from the runs table (what the handlers recorded)."""
    records = {r.task: r for r in table.list_tasks(run_id)}
    known = table.get_jobs([job for r in records.values() if not r.items_total for job in r.jobs.values()])
    out: dict[str, TaskSummary] = {}
    for name in task_names:
        record = records.get(name)
        if record is not None and record.items_total:
            out[name] = _sweep_state(name, record, table)
            continue
        if record is None or not record.jobs:
            out[name] = TaskSummary(name=name, status="NOT_STARTED", attempts=record.attempts if record else 0)
            continue
        jobs = [known[record.jobs[k]] for k in sorted(record.jobs, key=int) if record.jobs[k] in known]
        last = jobs[-1] if jobs else None
        if record.status in ("SUCCEEDED", "FAILED") and last is not None and last.terminal:
            status = record.status
        else:
            status = last.state.value if last else "SUBMITTED"
        out[name] = TaskSummary(
            name=name, status=status, attempts=len(record.jobs),
            started_at=next((j.started_at for j in jobs if j.started_at), None),
            stopped_at=last.stopped_at if last else None,
            exit_code=last.exit_code if last else None,
            reason=last.status_reason if last and last.state.value == "FAILED" else None,
            log=last.log_stream if last else None,
            cached=bool(last and last.backend == "cache"),
        )
    return out


def _sweep_state(name: str, record, table: RunsTable) -> TaskSummary:
    items = ItemCounts(total=record.items_total, succeeded=record.items_succeeded, failed=record.items_failed)
    status = record.status if record.status in ("SUCCEEDED", "FAILED") else "RUNNING"
    summary = TaskSummary(name=name, status=status, attempts=max(record.attempts, 1), items=items)
    if status == "FAILED" and items.failed:
        summary.reason = f"{items.failed} of {items.total} items failed"
        from dagtrail.sweeps.table import list_items

        first = next((i for i in list_items(table, record.run_id, name) if i.get("state") == "FAILED"), None)
        if first:
            summary.exit_code, summary.log = first.get("exit_code"), first.get("log_stream")
            summary.reason += f" (first: item {first['index']}, {first.get('status_reason') or 'failed'})"
    return summary


def artifacts(table: RunsTable, run_id: str, task_names: list[str]) -> list[ArtifactSummary]:
    out = []
    for name in task_names:
        record = table.get_task(run_id, name)
        if record is None or not record.output_prefix:
            continue
        manifest = read_manifest(record.output_prefix)
        for entry in manifest.artifacts if manifest else []:
            uri = manifest.uri(entry)
            path = local_path(uri)
            out.append(ArtifactSummary(task=name, name=entry.name, uri=uri, size=entry.size,
                                       sha256=entry.sha256, path=str(path) if path else None))
    return out
