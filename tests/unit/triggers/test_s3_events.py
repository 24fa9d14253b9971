"""Both S3 event forms, in every envelope, reduce to the same object with the key decoded."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagtrail.triggers.s3_events import objects_created

from .s3_builders import S3_FORMS, eventbridge, in_sqs, notification

KEYS = [
    "inputs/wf/plain.csv",
    "inputs/wf/with space.csv",
    "inputs/wf/plus+sign.csv",
    "inputs/wf/both + and space.csv",
    "inputs/wf/ünïcödé – 測試.csv",
    "inputs/wf/literal%20percent-encoded.csv",
    "inputs/wf/odd &=?#;:@,$'()!*~.csv",
]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("form", ["eventbridge", "notification", "notification-in-sqs", "notification-in-sns",
                                  "notification-in-sns-in-sqs", "eventbridge-in-sqs"])
def test_every_form_gives_the_stored_key(form, key):
    objects, reasons = objects_created(S3_FORMS[form]("bkt", key))
    assert reasons == []
    assert [(o.bucket, o.key, o.version_id) for o in objects] == [("bkt", key, "v1")]


def test_classic_keys_are_decoded_and_eventbridge_keys_are_not():
    # A literal '+' in an EventBridge key is a plus; in a classic record it is a space.
    assert objects_created(eventbridge("b", "inputs/wf/a+b.csv"))[0][0].key == "inputs/wf/a+b.csv"
    raw = notification("b", "x")
    raw["Records"][0]["s3"]["object"]["key"] = "inputs/wf/a+b%2Bc.csv"
    assert objects_created(raw)[0][0].key == "inputs/wf/a b+c.csv"


def test_a_batch_of_messages_gives_every_object():
    event = in_sqs(notification("b", "inputs/wf/1.csv"), eventbridge("b", "inputs/wf/2.csv"))
    assert [o.key for o in objects_created(event)[0]] == ["inputs/wf/1.csv", "inputs/wf/2.csv"]


@pytest.mark.parametrize("event, reason", [
    ({"detail-type": "Object Deleted", "source": "aws.s3", "detail": {}}, "not an S3 Object Created event"),
    ({"detail-type": "Batch Job State Change", "source": "aws.batch", "detail": {}}, "not an S3 Object Created"),
    (notification("b", "k", event_name="ObjectRemoved:Delete"), "is not an object creation"),
    ({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}, "S3 test event"),
    ({"Records": [{"eventSource": "aws:dynamodb"}]}, "not S3, SQS or SNS"),
    ({"Records": [{"eventSource": "aws:sqs", "body": "not json"}]}, "is not JSON"),
    ({"Records": ["text"]}, "record is not a JSON object"),
    ({"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {}}}, "malformed"),
    ({"hello": "world"}, "not an S3 event"),
    ([1, 2], "not a JSON object"),
    (None, "not a JSON object"),
])
def test_what_is_not_an_object_creation_says_why(event, reason):
    objects, reasons = objects_created(event)
    assert objects == []
    assert any(reason in r for r in reasons), reasons


def test_envelopes_nested_beyond_reality_stop():
    event = notification("b", "inputs/wf/x")
    for _ in range(6):
        event = in_sqs(event)
    objects, reasons = objects_created(event)
    assert objects == [] and reasons == ["envelopes nested too deep"]


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=200).filter(lambda k: "\x00" not in k))
def test_any_key_survives_the_classic_encoding(key):
    classic = objects_created(notification("b", key))[0][0]
    bridged = objects_created(eventbridge("b", key))[0][0]
    assert classic.key == bridged.key == key


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                max_size=4), max_leaves=30))
def test_arbitrary_json_never_raises(event):
    objects_created(event)
    objects_created({"Records": [event]})
    objects_created({"Records": [{"eventSource": "aws:sqs", "body": json.dumps(event)}]})
