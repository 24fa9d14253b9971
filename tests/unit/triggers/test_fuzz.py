"""No trigger raises on an event it does not own, or on a mangled copy of one it does
(issue 7: every rejection is an "ignored: why" result)."""

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagtrail.events.routing import route
from dagtrail.triggers import alarms, artifacts, upload

REPO = Path(__file__).resolve().parents[3]
SAMPLES = sorted((REPO / "events").rglob("*.json"))
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


# Mutations: drop a field, or replace any value (at any depth) with arbitrary JSON.
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


def _mutate(event, path, action, replacement):
    event = copy.deepcopy(event)
    if not path:
        return replacement
    parent = event
    for step in path[:-1]:
        parent = parent[step]
    if action == "drop" and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return event


OWN = [(name, json.loads(p.read_text())) for name in HANDLERS for p in sorted((REPO / "events" / name).glob("*.json"))]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mangled_own_samples_never_raise(trigger_env, data):
    name, event = data.draw(st.sampled_from(OWN))
    path = data.draw(st.sampled_from(list(_paths(event))))
    mutated = _mutate(event, path, data.draw(st.sampled_from(["drop", "replace"])), data.draw(JSON))
    result = HANDLERS[name](mutated)
    json.dumps(result)
    assert isinstance(result, dict)
