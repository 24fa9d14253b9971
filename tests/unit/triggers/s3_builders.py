"""Builders for the two S3 event forms and their envelopes (trigger tests only)."""

from __future__ import annotations

import json
from urllib.parse import quote_plus


def eventbridge(bucket: str, key: str, *, version: str | None = "v1", sequencer: str = "0055AED6DCD90281E5",
                detail_type: str = "Object Created") -> dict:
    obj = {"key": key, "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184", "sequencer": sequencer}
    if version is not None:
        obj["version-id"] = version
    return {
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": detail_type,
        "source": "aws.s3", "account": "123456789012", "time": "2026-11-25T10:00:01Z", "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": obj, "reason": "PutObject"},
    }


def notification(bucket: str, key: str, *, version: str | None = "v1", sequencer: str = "0055AED6DCD90281E5",
                 event_name: str = "ObjectCreated:Put") -> dict:
    """A classic S3 notification: the key URL-encoded the way S3 encodes it ('+' for space)."""
    obj = {"key": quote_plus(key, safe="/"), "size": 5, "eTag": "b1946ac92492d2347c6235b4d2611184",
           "sequencer": sequencer}
    if version is not None:
        obj["versionId"] = version
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-25T10:00:01.000Z", "eventName": event_name,
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "uploads",
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}, "object": obj},
    }]}


def in_sqs(*bodies: dict) -> dict:
    return {"Records": [{
        "messageId": f"m{i}", "receiptHandle": "r", "body": json.dumps(body), "attributes": {},
        "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:uploads", "awsRegion": "us-east-1",
    } for i, body in enumerate(bodies)]}


def in_sns(body: dict) -> dict:
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": {
        "Type": "Notification", "MessageId": "1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:uploads",
        "Subject": "Amazon S3 Notification", "Message": json.dumps(body)}}]}


def sns_envelope(body: dict) -> dict:
    """An SNS notification as an SQS body (SNS → SQS without raw message delivery)."""
    return {"Type": "Notification", "MessageId": "1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:uploads",
            "Message": json.dumps(body)}


# Every delivery form of one upload: name → builder(bucket, key, **kw).
S3_FORMS = {
    "eventbridge": eventbridge,
    "notification": notification,
    "notification-in-sqs": lambda b, k, **kw: in_sqs(notification(b, k, **kw)),
    "notification-in-sns": lambda b, k, **kw: in_sns(notification(b, k, **kw)),
    "notification-in-sns-in-sqs": lambda b, k, **kw: in_sqs(sns_envelope(notification(b, k, **kw))),
    "eventbridge-in-sqs": lambda b, k, **kw: in_sqs(eventbridge(b, k, **kw)),
}
