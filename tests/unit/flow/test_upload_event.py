"""`dagtrail run --event FILE`: an S3 Object Created event becomes input_bucket / input_key."""

from __future__ import annotations

import json

import pytest

from dagtrail.errors import UsageError
from dagtrail.local.upload_event import params_from_event

EVENT = "StartFromUploadFunction/s3-input-created-upload-postprocess.json"


def test_the_sample_upload_event_gives_bucket_and_key():
    from tests.conftest import EVENTS

    assert params_from_event(EVENTS / EVENT) == {
        "input_bucket": "dagtrail-dev-inputs-123456789012-us-east-1",
        "input_key": "inputs/upload-postprocess/probe-042.csv",
    }


@pytest.mark.parametrize("mutate, message", [
    (lambda e: e.update(source="aws.batch"), "expected source aws.s3"),
    (lambda e: e["detail"]["object"].pop("key"), "detail.object.key"),
    (lambda e: e.pop("detail"), "not an S3 Object Created event"),
])
def test_other_events_are_refused(tmp_path, mutate, message):
    from tests.conftest import EVENTS

    event = json.loads((EVENTS / EVENT).read_text())
    mutate(event)
    path = tmp_path / "e.json"
    path.write_text(json.dumps(event))
    with pytest.raises(UsageError, match=message):
        params_from_event(path)


def test_missing_or_broken_files(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        params_from_event(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UsageError, match="not a JSON event"):
        params_from_event(tmp_path / "bad.json")
