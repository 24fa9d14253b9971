"""Models of the AWS events dagtrail consumes, named after their detail-type.

Tolerant of fields AWS adds later (extra fields are ignored), strict about what we use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Loose(BaseModel):
    # defer_build: each handler validates one or two of these detail-types; the rest never
    # pay pydantic's schema build at cold start.
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)


class EventEnvelope(_Loose):
    id: str = ""
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str = ""
    time: str = ""
    region: str = ""
    resources: list[str] = Field(default_factory=list)
    detail: dict[str, Any]


class BatchContainer(_Loose):
    exitCode: int | None = None
    reason: str | None = None
    logStreamName: str | None = None
    image: str | None = None


class BatchAttempt(_Loose):
    container: BatchContainer = Field(default_factory=BatchContainer)
    startedAt: int | None = None
    stoppedAt: int | None = None
    statusReason: str | None = None


class BatchJobDetail(_Loose):
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


class EcsContainer(_Loose):
    name: str = ""
    exitCode: int | None = None
    reason: str | None = None
    image: str | None = None
    imageDigest: str | None = None


class EcsTaskDetail(_Loose):
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

    @field_validator("createdAt", "startedAt", "stoppedAt", mode="before")
    @classmethod
    def _iso(cls, value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value
    startedBy: str | None = None


class EcsTaskStateChange(EventEnvelope):
    detail: EcsTaskDetail  # type: ignore[assignment]


class ExecutionDetail(_Loose):
    executionArn: str = Field(pattern=r"^arn:")
    stateMachineArn: str = Field(pattern=r"^arn:")
    name: str = Field(min_length=1)
    status: str
    startDate: int | None = None
    stopDate: int | None = None
    input: str | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None


class ExecutionStatusChange(EventEnvelope):
    detail: ExecutionDetail  # type: ignore[assignment]
