"""Compute backends: AWS Batch, ECS on Fargate, and local processes for local mode."""

from __future__ import annotations

from typing import Protocol

from dagtrail.compute.models import JobRequest, SubmitThrottled


class Backend(Protocol):
    name: str

    def submit(self, request: JobRequest) -> str:
        """Start the job; return its id (Batch job id or ECS task ARN)."""

    def terminate(self, job_id: str, reason: str) -> None:
        """Stop a job that is no longer wanted (best effort)."""

    def describe(self, job_ids: list[str]) -> dict:
        """Current state of each job the backend still knows: {job_id: JobUpdate}."""


_local_backend: Backend | None = None


def use_local(backend: Backend | None) -> None:
    """Local mode installs its process runner here; handlers then submit to it."""
    global _local_backend
    _local_backend = backend


def backend_for(compute: str) -> Backend:
    if _local_backend is not None:
        return _local_backend
    if compute == "ecs":
        from dagtrail.compute.ecs import EcsBackend

        return EcsBackend()
    from dagtrail.compute.batch import BatchBackend

    return BatchBackend()


__all__ = ["Backend", "JobRequest", "SubmitThrottled", "backend_for", "use_local"]
