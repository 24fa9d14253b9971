"""S3 events the trigger handlers consume, named after their detail-type, and what they return
(CloudWatch alarms: dagtrail.triggers.alarm_models).

S3 reaches us in two shapes: EventBridge "Object Created" (key as stored) and the classic
notification record (key URL-encoded, '+' for spaces), the latter directly or inside SQS
or SNS envelopes. Both become one `S3Object` with the key decoded.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field

from dagtrail.events.envelope import EventEnvelope, Loose

# defer_build on every model here: start_from_upload and artifact_events each build the
# shapes they validate and return, on first use, and never the other's.
_DEFERRED = ConfigDict(defer_build=True)


# ---------------------------------------------------------------- S3, EventBridge form


class S3Bucket(Loose):
    name: str = Field(min_length=1)


class ObjectCreatedObject(Loose):
    key: str = Field(min_length=1)
    size: int | None = None
    etag: str | None = None
    version_id: str | None = Field(default=None, alias="version-id")
    sequencer: str | None = None


class ObjectCreatedDetail(Loose):
    bucket: S3Bucket
    object: ObjectCreatedObject
    reason: str | None = None


class ObjectCreated(EventEnvelope):
    """EventBridge detail-type "Object Created" (source aws.s3)."""

    detail: ObjectCreatedDetail  # type: ignore[assignment]

    def s3_object(self) -> S3Object:
        obj = self.detail.object
        return S3Object(bucket=self.detail.bucket.name, key=obj.key, version_id=obj.version_id,
                        sequencer=obj.sequencer, size=obj.size, etag=obj.etag, form="eventbridge")


# ---------------------------------------------------------------- S3, classic notification


class S3NotificationObject(Loose):
    key: str = Field(min_length=1)  # URL-encoded, '+' for space
    size: int | None = None
    eTag: str | None = None
    versionId: str | None = None
    sequencer: str | None = None


class S3NotificationEntity(Loose):
    bucket: S3Bucket
    object: S3NotificationObject


class S3NotificationRecord(Loose):
    eventSource: str
    eventName: str
    s3: S3NotificationEntity

    def s3_object(self) -> S3Object:
        obj = self.s3.object
        return S3Object(bucket=self.s3.bucket.name, key=unquote_plus(obj.key), version_id=obj.versionId,
                        sequencer=obj.sequencer, size=obj.size, etag=obj.eTag, form="notification")


# ---------------------------------------------------------------- one object, either form


class S3Object(BaseModel):
    """A created object, key decoded: what both delivery forms of one upload agree on."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    bucket: str
    key: str
    version_id: str | None = None
    sequencer: str | None = None
    size: int | None = None
    etag: str | None = None
    form: Literal["eventbridge", "notification"]

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


# ---------------------------------------------------------------- results


class UploadResult(BaseModel):
    """What start_from_upload did with one object."""

    model_config = _DEFERRED

    status: Literal["started", "duplicate", "ignored"]
    uri: str | None = None
    ignored: str | None = None  # why, when status is "ignored"
    workflow: str | None = None
    execution_name: str | None = None
    execution_arn: str | None = None
    state_machine_arn: str | None = None


class ArtifactResult(BaseModel):
    """What artifact_events did with one object."""

    model_config = _DEFERRED

    status: Literal["recorded", "ignored"]
    uri: str | None = None
    ignored: str | None = None
    run_id: str | None = None
    task: str | None = None
    attempt: int | None = None
    produced: int = 0
    used: int = 0
    records: int = 0


def report(results: list[BaseModel], ignored: str) -> dict[str, Any]:
    """A handler's answer: one result per object, or why the whole event was not ours."""
    if not results:
        return {"ignored": ignored}
    return {"results": [r.model_dump(mode="json", exclude_none=True) for r in results]}
