"""artifact_events: an attempt's manifest.json written → its artifacts in the lineage graph.

The container wrapper writes manifest.json last under
`<workflow>/<run_id>/<task>/<attempt>/`, so one event per finished attempt. Records:
Artifact-wasGeneratedBy→TaskRun for every file in the manifest and, when the runs table
knows the attempt's inputs, TaskRun-used→Artifact and TaskRun-wasInformedBy→TaskRun.

job_events emits the same records from the other side (same uids, upserts), so whichever
arrives first, and however often, the graph ends up the same.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from dagtrail.lineage import records, sink
from dagtrail.names import TASK_NAME, WORKFLOW_NAME
from dagtrail.results.layout import MANIFEST
from dagtrail.results.manifest import Manifest
from dagtrail.results.store import read_manifest
from dagtrail.triggers.models import ArtifactResult, S3Object, report
from dagtrail.triggers.s3_events import objects_created

log = logging.getLogger(__name__)

_ATTEMPT = re.compile(r"^[1-9][0-9]{0,5}$")  # canonical: "01" would be another prefix
# A run id is an execution name: at most 80 characters, none of these (Step Functions' rule).
_RUN_ID = re.compile(r"^[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/]{1,80}$")


class AttemptKey(BaseModel):
    workflow: str
    run_id: str
    task: str
    attempt: int

    def prefix(self, bucket: str) -> str:
        return f"s3://{bucket}/{self.workflow}/{self.run_id}/{self.task}/{self.attempt}/"


def handle(event: Any) -> dict[str, Any]:
    objects, reasons = objects_created(event)
    results = [record_manifest(obj) for obj in objects]
    return report(results, "; ".join(reasons) or "no S3 objects in the event")


def parse_key(key: str) -> tuple[AttemptKey | None, str]:
    """(attempt, "") for `<workflow>/<run_id>/<task>/<attempt>/manifest.json`; (None, why)."""
    parts = key.split("/")
    if parts[-1] != MANIFEST:
        return None, f"not a manifest: {key!r}"
    if len(parts) != 5:
        return None, f"not a manifest: {key!r} is not <workflow>/<run_id>/<task>/<attempt>/{MANIFEST}"
    workflow, run_id, task, attempt, _ = parts
    if not WORKFLOW_NAME.match(workflow):
        return None, f"not a manifest: {workflow!r} is not a workflow name"
    if run_id in (".", "..") or not _RUN_ID.match(run_id):
        return None, f"not a manifest: {run_id!r} is not a run id"
    if not TASK_NAME.match(task):
        return None, f"not a manifest: {task!r} is not a task name"
    if not _ATTEMPT.match(attempt):
        return None, f"not a manifest: {attempt!r} is not an attempt number"
    return AttemptKey(workflow=workflow, run_id=run_id, task=task, attempt=int(attempt)), ""


def record_manifest(obj: S3Object) -> ArtifactResult:
    where, why = parse_key(obj.key)
    if where is None:
        return _ignored(obj, why)
    base = {"uri": obj.uri, "run_id": where.run_id, "task": where.task, "attempt": where.attempt}
    try:
        manifest = read_manifest(where.prefix(obj.bucket))
    except (ValidationError, ValueError) as exc:
        return _ignored(obj, f"malformed manifest: {str(exc).splitlines()[0]}", **base)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise  # access or service trouble: retried, then dead-lettered
        return _ignored(obj, f"bucket {obj.bucket!r} does not exist", **base)
    if manifest is None:
        return _ignored(obj, "manifest not found (deleted since the event?)", **base)
    if (manifest.task, manifest.attempt) != (where.task, where.attempt):
        return _ignored(obj, f"manifest says task {manifest.task!r} attempt {manifest.attempt}, "
                             f"its key says {where.task!r} attempt {where.attempt}", **base)

    produced = refs(manifest)
    used: list[records.ArtifactRef] = []
    informed: list[records.LineageRecord] = []
    for dep, upstream in sorted(upstream_manifests(where).items()):
        used += refs(upstream)
        informed += records.informed_by(where.run_id, where.task, where.attempt, dep, upstream.attempt)
    out = records.artifacts(where.run_id, where.task, where.attempt, produced=produced, used=used) + informed
    sink.emit(out)  # raises when the queue refuses: the event is retried, then dead-lettered
    return ArtifactResult(status="recorded", produced=len(produced), used=len(used), records=len(out), **base)


def refs(manifest: Manifest) -> list[records.ArtifactRef]:
    # Same URIs as dagtrail.runs.lineage builds, so both emitters upsert the same vertices.
    return [records.ArtifactRef(uri=manifest.uri(e), name=e.name, size=e.size, sha256=e.sha256, etag=e.etag)
            for e in manifest.artifacts]


def upstream_manifests(where: AttemptKey) -> dict[str, Manifest]:
    """The manifests this attempt read, via its job record. Best effort: without the runs
    table the produced side is still recorded, and job_events adds the rest."""
    from dagtrail.runs.table import RunsTable

    try:
        table = RunsTable()
        task = table.get_task(where.run_id, where.task)
        job_id = task.jobs.get(str(where.attempt)) if task else None
        job = table.get_job(job_id) if job_id else None
    except ClientError as exc:
        log.warning("runs table unavailable; recording produced artifacts only",
                    extra={"error": exc.response.get("Error", {}).get("Code")})
        return {}
    out: dict[str, Manifest] = {}
    for dep, prefix in sorted((job.inputs if job else {}).items()):
        try:
            manifest = read_manifest(prefix)
        except (ValidationError, ValueError, ClientError) as exc:
            log.warning("upstream manifest unreadable", extra={"prefix": prefix, "error": str(exc)[:200]})
            continue
        if manifest is not None:
            out[dep] = manifest
    return out


def _ignored(obj: S3Object, why: str, **fields: Any) -> ArtifactResult:
    log.info("object ignored", extra={"uri": obj.uri, "reason": why})
    return ArtifactResult(status="ignored", ignored=why, **({"uri": obj.uri} | fields))
