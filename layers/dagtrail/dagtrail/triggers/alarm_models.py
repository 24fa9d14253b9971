"""CloudWatch Alarm State Change (alarm_events) and what the handler returns.

Apart from the S3 models (dagtrail.triggers.models) so that alarm_events defines none of them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dagtrail.events.envelope import EventEnvelope, Loose


class AlarmState(Loose):
    value: str
    reason: str = ""
    timestamp: str = ""


class AlarmConfiguration(Loose):
    description: str | None = None


class AlarmDetail(Loose):
    alarmName: str = Field(min_length=1)
    state: AlarmState
    previousState: AlarmState | None = None
    configuration: AlarmConfiguration = Field(default_factory=AlarmConfiguration)


class AlarmStateChange(EventEnvelope):
    """EventBridge detail-type "CloudWatch Alarm State Change" (source aws.cloudwatch)."""

    detail: AlarmDetail  # type: ignore[assignment]


class AlarmResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    status: Literal["notified", "recorded", "ignored"]
    alarm: str | None = None
    state: str | None = None
    previous_state: str | None = None
    ignored: str | None = None
    message_id: str | None = None


