"""Is there an earlier attempt whose outputs answer this one? (submit_task asks before it
starts a job.)

- `dagtrail resume OLD`: a task that succeeded in OLD with the same cache key is reused,
  even when the task says `cache: false` — resuming means keeping what succeeded.
- otherwise the cache index, unless the task says `cache: false` or the run `--no-cache`.
A hit is used only while its manifest still exists (results may have expired).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from dagtrail.cache.index import CacheIndex
from dagtrail.cache.key import cache_key
from dagtrail.results.store import read_manifest
from dagtrail.runs.table import RunsTable
from dagtrail.spec.models import TaskSpec


class Reuse(BaseModel):
    output_prefix: str
    source: str  # "<run_id>/<task>/<attempt>" whose outputs are served


def lookup(table: RunsTable, run_id: str, task_name: str, task: TaskSpec,
           inputs: Mapping[str, str]) -> tuple[str, Reuse | None]:
    """(this attempt's cache key, what to reuse or None)."""
    manifests = {dep: read_manifest(prefix) for dep, prefix in inputs.items()}
    key = cache_key(image=task.image, command=task.command, env=task.env, inputs=manifests,
                    cache_version=task.cache_version)
    run = table.get_run(run_id)
    options = run.options if run else {}
    resume_from = options.get("resume_from")
    if resume_from:
        reuse = _from_run(table, resume_from, task_name, key)
        if reuse:
            return key, reuse
    if options.get("no_cache") or not task.cache:
        return key, None
    index = CacheIndex(table.name)
    entry = index.get(key)
    if entry is None:
        return key, None
    if read_manifest(entry.output_prefix) is None:
        index.forget(key)  # its outputs are gone: recompute, and let the new result take the key
        return key, None
    return key, Reuse(output_prefix=entry.output_prefix, source=f"{entry.run_id}/{entry.task}/{entry.attempt}")


def _from_run(table: RunsTable, run_id: str, task_name: str, key: str) -> Reuse | None:
    record = table.get_task(run_id, task_name)
    if record is None or record.succeeded_attempt is None:
        return None
    job_id = record.jobs.get(str(record.succeeded_attempt))
    job = table.get_job(job_id) if job_id else None
    if job is None or job.cache_key != key or not job.output_prefix or read_manifest(job.output_prefix) is None:
        return None
    source = job.cached_from or f"{run_id}/{task_name}/{record.succeeded_attempt}"
    return Reuse(output_prefix=job.output_prefix, source=source)
