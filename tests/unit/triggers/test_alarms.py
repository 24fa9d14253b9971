"""alarm_events: transitions into and out of ALARM notify; everything else is only logged."""

import copy
import json
from pathlib import Path

import pytest

from dagtrail import aws
from dagtrail.triggers import alarms

SAMPLE = json.loads((Path(__file__).resolve().parents[3] / "events" / "AlarmEventsFunction"
                     / "alarm-task-failures.json").read_text())


@pytest.fixture
def inbox(aws_mock, monkeypatch):
    """The alarm topic with a queue subscribed (raw delivery), standing in for the on-call email."""
    topic = aws.client("sns").create_topic(Name="dagtrail-dev-alarms")["TopicArn"]
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    monkeypatch.setenv("DAGTRAIL_ALARM_TOPIC_ARN", topic)

    def received():
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in msgs]
    return received


def transition(previous, state):
    event = copy.deepcopy(SAMPLE)
    event["detail"]["state"]["value"] = state
    if previous is None:
        del event["detail"]["previousState"]
    else:
        event["detail"]["previousState"]["value"] = previous
    return event


def test_the_sample_alarm_notifies_with_subject_and_reason(inbox):
    result = alarms.handle(SAMPLE)
    assert result["status"] == "notified" and result["state"] == "ALARM" and result["previous_state"] == "OK"
    [note] = inbox()
    assert note["Subject"] == "ALARM: dagtrail-dev-task-failures"
    assert "Many task attempts failed in 15 minutes." in note["Message"]
    assert "Threshold Crossed" in note["Message"]
    assert note["MessageAttributes"]["state"]["Value"] == "ALARM"
    assert json.loads(note["Message"].rsplit("\n", 1)[1]) == {
        "alarm": "dagtrail-dev-task-failures", "state": "ALARM", "previous_state": "OK"}


@pytest.mark.parametrize("previous, state, notified", [
    ("OK", "ALARM", True),
    ("ALARM", "OK", True),
    ("INSUFFICIENT_DATA", "ALARM", True),
    ("ALARM", "INSUFFICIENT_DATA", True),
    (None, "ALARM", True),
    ("ALARM", "ALARM", False),  # re-evaluation, not a transition
    ("OK", "INSUFFICIENT_DATA", False),
    ("INSUFFICIENT_DATA", "OK", False),
])
def test_who_gets_told(inbox, previous, state, notified):
    result = alarms.handle(transition(previous, state))
    assert result["status"] == ("notified" if notified else "recorded")
    assert len(inbox()) == (1 if notified else 0)


def test_without_a_topic_the_change_is_only_recorded(aws_mock, monkeypatch):
    monkeypatch.delenv("DAGTRAIL_ALARM_TOPIC_ARN", raising=False)
    assert alarms.handle(SAMPLE)["status"] == "recorded"


def test_subjects_stay_within_sns_rules():
    event = transition("OK", "ALARM")
    event["detail"]["alarmName"] = "ünïcödé-" + "x" * 200
    subject = alarms.subject(alarms.AlarmStateChange.model_validate(event))
    assert len(subject) <= 100 and subject.isascii() and "\n" not in subject


@pytest.mark.parametrize("event, why", [
    ({"detail-type": "Object Created", "source": "aws.s3", "detail": {}}, "not a CloudWatch alarm state change"),
    ({"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch", "detail": {}}, "malformed"),
    ({"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
      "detail": {"alarmName": "a", "state": {}}}, "malformed"),
    ("text", "not a CloudWatch alarm state change"),
])
def test_other_events_are_ignored(aws_mock, event, why):
    result = alarms.handle(event)
    assert result["status"] == "ignored" and why in result["ignored"]
