"""Every way an S3 "object created" reaches a Lambda, reduced to `S3Object`s with decoded keys.

- EventBridge "Object Created": the key is the key, byte for byte.
- classic notification records (`Records[].s3`): the key is URL-encoded with '+' for
  space, so "a+b c.txt" arrives as "a%2Bb+c.txt" and must be decoded with unquote_plus;
- those records inside SQS messages (`body`), SNS notifications (`Sns.Message`), or SNS
  envelopes delivered to SQS without raw delivery; EventBridge events inside SQS too.

Anything else is not ours; the reasons say why, so handlers can answer "ignored: why".
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from dagtrail.triggers.models import ObjectCreated, S3NotificationRecord, S3Object

MAX_DEPTH = 3  # SQS → SNS → S3 is the deepest real nesting


def objects_created(event: Any) -> tuple[list[S3Object], list[str]]:
    """(created objects, reasons for every part that was not an object creation)."""
    found: list[S3Object] = []
    reasons: list[str] = []
    _walk(event, found, reasons, 0)
    return found, reasons


def _walk(event: Any, found: list[S3Object], reasons: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        reasons.append("envelopes nested too deep")
        return
    if not isinstance(event, dict):
        reasons.append(f"not a JSON object ({type(event).__name__})")
        return
    if "detail-type" in event:
        _eventbridge(event, found, reasons)
    elif isinstance(event.get("Records"), list):
        for record in event["Records"]:
            _record(record, found, reasons, depth)
    elif event.get("Type") == "Notification" and "Message" in event:  # SNS envelope in SQS
        _nested(event["Message"], "SNS message", found, reasons, depth)
    elif event.get("Event") == "s3:TestEvent":
        reasons.append("S3 test event")
    else:
        reasons.append("not an S3 event (no detail-type or Records)")


def _eventbridge(event: dict[str, Any], found: list[S3Object], reasons: list[str]) -> None:
    kind, source = event.get("detail-type"), event.get("source")
    if source != "aws.s3" or kind != "Object Created":
        reasons.append(f"not an S3 Object Created event (source {source!r}, detail-type {kind!r})")
        return
    _parse(ObjectCreated, event, "Object Created event", found, reasons)


def _record(record: Any, found: list[S3Object], reasons: list[str], depth: int) -> None:
    if not isinstance(record, dict):
        reasons.append("record is not a JSON object")
        return
    source = record.get("eventSource") or record.get("EventSource")
    if source == "aws:s3":
        _s3_record(record, found, reasons)
    elif source == "aws:sqs":
        _nested(record.get("body"), "SQS message body", found, reasons, depth)
    elif source == "aws:sns":
        _nested((record.get("Sns") or {}).get("Message"), "SNS message", found, reasons, depth)
    else:
        reasons.append(f"record from {source!r}, not S3, SQS or SNS")


def _s3_record(record: dict[str, Any], found: list[S3Object], reasons: list[str]) -> None:
    name = str(record.get("eventName", ""))
    if not name.startswith("ObjectCreated:"):
        reasons.append(f"S3 {name or 'event'} is not an object creation")
        return
    _parse(S3NotificationRecord, record, "S3 notification record", found, reasons)


def _parse(form: type[ObjectCreated] | type[S3NotificationRecord], event: dict[str, Any], what: str,
           found: list[S3Object], reasons: list[str]) -> None:
    """One created object from either delivery form; its model decodes the key as that form needs."""
    try:
        parsed = form.model_validate(event)
    except ValidationError as exc:
        reasons.append(f"malformed {what}: {_first_error(exc)}")
        return
    found.append(parsed.s3_object())


def _nested(text: Any, what: str, found: list[S3Object], reasons: list[str], depth: int) -> None:
    if not isinstance(text, str):
        reasons.append(f"{what} is missing")
        return
    try:
        inner = json.loads(text)
    except ValueError:
        reasons.append(f"{what} is not JSON")
        return
    _walk(inner, found, reasons, depth + 1)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "event"
    return f"{where}: {err['msg']}"
