"""What the workflow handlers tell the lineage graph. Lineage never blocks the workflow:
a failure here is logged and counted, and the workflow goes on."""

from __future__ import annotations

import logging

from dagtrail.runs.models import JobRecord, RunRecord

log = logging.getLogger(__name__)


def _emit(build) -> None:
    try:
        from dagtrail.lineage import records, sink

        sink.emit(build(records))
    except Exception:
        log.exception("lineage emission failed; the workflow continues")


def execution(run: RunRecord, definition_hash: str | None = None) -> None:
    _emit(lambda r: r.execution(
        run.run_id, run.workflow, execution_arn=run.execution_arn, status=run.status,
        started_at=run.started_at, stopped_at=run.stopped_at, params=run.params or None,
        definition_hash=definition_hash,
    ))


def task_run(job: JobRecord, image_digest: str | None = None) -> None:
    _emit(lambda r: r.task_run(
        job.run_id, job.workflow, job.task, job.attempt, status=job.state.value, job_id=job.job_id,
        backend=job.backend, image=job.image, image_digest=image_digest, command=job.command,
        started_at=job.started_at, stopped_at=job.stopped_at, exit_code=job.exit_code,
        status_reason=job.status_reason, log_stream=job.log_stream,
        item_index=job.item_index, item_try=job.item_try,
    ))


def task_outputs(job: JobRecord) -> None:
    """Artifacts the attempt produced (its manifest) and used (its dependencies' manifests)."""
    from dagtrail.results.store import read_manifest

    def build(r):
        out = []
        # An item's outputs are named as the sweep's merged manifest names them (`<index>/<name>`),
        # which is how a dependant's `used` records name them: one Artifact, whichever lands last.
        within = "" if job.item_index is None else f"{job.item_index}/"
        produced = _refs(r, read_manifest(job.output_prefix), within) if job.output_prefix else []
        used = []
        for dep, prefix in sorted(job.inputs.items()):
            manifest = read_manifest(prefix)
            used += _refs(r, manifest)
            if manifest is not None:
                out += r.informed_by(job.run_id, job.task, job.attempt, dep, manifest.attempt)
        return r.artifacts(job.run_id, job.task, job.attempt, produced=produced, used=used,
                           item_index=job.item_index, item_try=job.item_try) + out

    _emit(build)


def cache_hit(job: JobRecord) -> None:
    """A TaskRun that ran nothing: cached, pointing (used) at the outputs it served, which keep
    their wasGeneratedBy edge to the attempt that really made them."""
    from dagtrail.results.store import read_manifest

    def build(r):
        served = _refs(r, read_manifest(job.output_prefix)) if job.output_prefix else []
        return (r.task_run(job.run_id, job.workflow, job.task, job.attempt, status=job.state.value,
                           job_id=job.job_id, backend="cache", image=job.image, command=job.command,
                           started_at=job.started_at, stopped_at=job.stopped_at, exit_code=0,
                           status_reason=f"cache hit: outputs of {job.cached_from}", cached=True)
                + r.artifacts(job.run_id, job.task, job.attempt, produced=[], used=served))

    _emit(build)


def _refs(r, manifest, within: str = ""):
    if manifest is None:
        return []
    return [r.ArtifactRef(uri=manifest.uri(e), name=within + e.name, size=e.size, sha256=e.sha256, etag=e.etag)
            for e in manifest.artifacts]


