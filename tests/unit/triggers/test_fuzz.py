"""No trigger raises on an event it does not own, or on a mangled copy of one it does
(issue 7: every rejection is an "ignored: why" result)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagtrail.events.routing import route
from dagtrail.triggers import alarms, artifacts, upload

from .mangle import REPO, SAMPLES, draw_mangled, own_samples

HANDLERS = {"StartFromUploadFunction": upload.handle, "ArtifactEventsFunction": artifacts.handle,
            "AlarmEventsFunction": alarms.handle}


@pytest.fixture
def trigger_env(aws_mock, monkeypatch, tmp_path):
    monkeypatch.setenv("DAGTRAIL_STATE_MACHINE_PREFIX", "arn:aws:states:us-east-1:123456789012:stateMachine:x-")
    monkeypatch.delenv("DAGTRAIL_ALARM_TOPIC_ARN", raising=False)
    monkeypatch.delenv("DAGTRAIL_INPUTS_BUCKET", raising=False)
    monkeypatch.setenv("DAGTRAIL_RESULTS_DIR", str(tmp_path))  # manifests: none on disk


def _ignored_whole_or_each(result):
    return "ignored" in result or all(r["status"] == "ignored" for r in result.get("results", []))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_samples_for_other_functions_are_ignored(trigger_env, sample):
    event = json.loads(sample.read_text())
    owners = route(event, REPO / "template.yaml")
    for name, handle in HANDLERS.items():
        if name not in owners:
            result = handle(event)
            assert _ignored_whole_or_each(result), (name, result)
            assert "ignored" in json.dumps(result)


OWN = own_samples(HANDLERS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mangled_own_samples_never_raise(trigger_env, data):
    name, mutated = draw_mangled(data, OWN, ["drop", "replace"])
    result = HANDLERS[name](mutated)
    json.dumps(result)
    assert isinstance(result, dict)
