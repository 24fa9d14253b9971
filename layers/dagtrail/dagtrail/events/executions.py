"""Step Functions Execution Status Change (execution_events)."""

from __future__ import annotations

from pydantic import Field

from dagtrail.events.envelope import EventEnvelope, Loose


class ExecutionDetail(Loose):
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
