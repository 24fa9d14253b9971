"""alarm_events: a CloudWatch alarm changed state → a structured log line, a metric (in the
handler) and, for a transition into or out of ALARM, a notification on the alarm topic.

The lineage graph has no vertex for operational events (records.VERTEX_LABELS), so alarms
are not written there. SNS standard topics cannot deduplicate: a redelivered event can
notify twice; an event whose state equals its previous state (a re-evaluation, not a
transition) notifies nobody.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from pydantic import ValidationError

from dagtrail import aws, settings
from dagtrail.triggers.alarm_models import AlarmResult, AlarmStateChange

log = logging.getLogger(__name__)

DETAIL_TYPE = "CloudWatch Alarm State Change"
NOTIFY = "ALARM"  # transitions into or out of this state reach people
_SUBJECT_MAX = 100  # SNS Subject: ASCII, no line breaks, at most 100 characters


def handle(event: Any) -> dict[str, Any]:
    parsed, why = parse_alarm_event(event)
    if parsed is None:
        log.info("ignored event", extra={"reason": why})
        return AlarmResult(status="ignored", ignored=why).model_dump(exclude_none=True)
    return record_alarm(parsed).model_dump(exclude_none=True)


def parse_alarm_event(event: Any) -> tuple[AlarmStateChange | None, str]:
    kind = event.get("detail-type") if isinstance(event, dict) else None
    source = event.get("source") if isinstance(event, dict) else None
    if kind != DETAIL_TYPE or source != "aws.cloudwatch":
        return None, f"not a CloudWatch alarm state change (source {source!r}, detail-type {kind!r})"
    try:
        return AlarmStateChange.model_validate(event), ""
    except ValidationError as exc:
        err = exc.errors()[0]
        return None, f"malformed {kind}: {'.'.join(map(str, err['loc']))}: {err['msg']}"


def record_alarm(event: AlarmStateChange, cfg: settings.Settings | None = None) -> AlarmResult:
    cfg = cfg or settings.load()
    d = event.detail
    state, previous = d.state.value, d.previousState.value if d.previousState else None
    result = AlarmResult(status="recorded", alarm=d.alarmName, state=state, previous_state=previous)
    log.warning("alarm state change", extra={
        "alarm": d.alarmName, "state": state, "previous_state": previous, "reason": d.state.reason,
        "alarm_arn": event.resources[0] if event.resources else None, "time": d.state.timestamp or event.time,
    })
    if previous == state or NOTIFY not in (state, previous) or not cfg.alarm_topic_arn:
        return result
    resp = aws.client("sns").publish(
        TopicArn=cfg.alarm_topic_arn, Subject=subject(event), Message=message(event),
        MessageAttributes={"alarm": {"DataType": "String", "StringValue": d.alarmName},
                           "state": {"DataType": "String", "StringValue": state}},
    )
    return result.model_copy(update={"status": "notified", "message_id": resp["MessageId"]})


def subject(event: AlarmStateChange) -> str:
    d = event.detail
    text = f"{d.state.value}: {d.alarmName}"
    text = re.sub(r"[^\x20-\x7e]", "?", text)
    return text[:_SUBJECT_MAX]


def message(event: AlarmStateChange) -> str:
    d = event.detail
    lines = [
        f"Alarm {d.alarmName} is {d.state.value}"
        + (f" (was {d.previousState.value})" if d.previousState else "") + ".",
        d.configuration.description,
        f"Reason: {d.state.reason}" if d.state.reason else None,
        f"When: {d.state.timestamp or event.time}",
        f"Alarm: {event.resources[0]}" if event.resources else None,
        f"Account {event.account}, region {event.region}.",
    ]
    facts = {"alarm": d.alarmName, "state": d.state.value,
             "previous_state": d.previousState.value if d.previousState else None}
    return "\n".join(line for line in lines if line) + "\n\n" + json.dumps(facts)
