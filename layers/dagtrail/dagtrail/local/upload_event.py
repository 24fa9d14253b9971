"""`dagtrail run SPEC --event FILE`: an S3 "Object Created" event as the workflow's parameters.

The same event that starts a workflow on AWS (EventBridge → start_from_upload) gives a local
run the parameters `input_bucket` and `input_key`; the workflow decides how to read the object.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dagtrail.errors import UsageError


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Bucket(_Loose):
    name: str = Field(min_length=1)


class _Object(_Loose):
    key: str = Field(min_length=1)


class _Detail(_Loose):
    bucket: _Bucket
    object: _Object


class S3ObjectCreated(_Loose):
    source: str
    detail_type: str = Field(alias="detail-type")
    detail: _Detail


def params_from_event(path: str | Path) -> dict[str, str]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--event {path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"--event {path}: not a JSON event ({exc})") from None
    try:
        event = S3ObjectCreated.model_validate(data)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise UsageError(f"--event {path}: not an S3 Object Created event ({where}: {exc.errors()[0]['msg']})") from None
    if event.source != "aws.s3" or event.detail_type != "Object Created":
        raise UsageError(f"--event {path}: expected source aws.s3 and detail-type 'Object Created', "
                         f"got {event.source!r} / {event.detail_type!r}")
    return {"input_bucket": event.detail.bucket.name, "input_key": event.detail.object.key}
