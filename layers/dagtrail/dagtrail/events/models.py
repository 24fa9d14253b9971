"""Batch Job and ECS Task State Change: the events that advance a task (job_events, reconcile).

Step Functions' events are in dagtrail.events.executions, S3's and CloudWatch's in dagtrail.triggers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from dagtrail.events.envelope import EventEnvelope, Loose


class BatchContainer(Loose):
    exitCode: int | None = None
    reason: str | None = None
    logStreamName: str | None = None
    image: str | None = None


class BatchAttempt(Loose):
    container: BatchContainer = Field(default_factory=BatchContainer)
    startedAt: int | None = None
    stoppedAt: int | None = None
    statusReason: str | None = None


class BatchJobDetail(Loose):
    jobId: str
    jobName: str = ""
    jobQueue: str = ""
    status: str
    statusReason: str | None = None
    attempts: list[BatchAttempt] = Field(default_factory=list)
    container: BatchContainer = Field(default_factory=BatchContainer)
    createdAt: int | None = None
    startedAt: int | None = None
    stoppedAt: int | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class BatchJobStateChange(EventEnvelope):
    detail: BatchJobDetail  # type: ignore[assignment]


class EcsContainer(Loose):
    name: str = ""
    exitCode: int | None = None
    reason: str | None = None
    image: str | None = None
    imageDigest: str | None = None


class EcsTaskDetail(Loose):
    """As in the event, and as DescribeTasks returns it (datetimes there, strings here)."""

    taskArn: str
    clusterArn: str = ""
    lastStatus: str
    desiredStatus: str = ""
    stoppedReason: str | None = None
    stopCode: str | None = None
    containers: list[EcsContainer] = Field(default_factory=list)
    createdAt: str | None = None
    startedAt: str | None = None
    stoppedAt: str | None = None
    group: str | None = None
    startedBy: str | None = None

    @field_validator("createdAt", "startedAt", "stoppedAt", mode="before")
    @classmethod
    def _iso(cls, value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value


class EcsTaskStateChange(EventEnvelope):
    detail: EcsTaskDetail  # type: ignore[assignment]
