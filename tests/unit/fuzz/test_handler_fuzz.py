"""Every workflow handler on events it does not own and on mangled copies of its own
(issue 7; the triggers have theirs in tests/unit/triggers/test_fuzz.py). The real Lambda
handlers (functions/*/app.py) are called, as local mode calls them.

Expected outcomes: an "ignored: why" result for an event the handler does not own; a
result, never a crash, for a mangled one — except the two handlers whose caller retries a
failed invocation and must: submit_task (Step Functions fails the Task state at once on a
malformed payload, instead of waiting for a token nobody would answer) and lineage_writer
(a malformed SQS batch is redelivered by SQS and reaches the DLQ after maxReceiveCount,
instead of being deleted). Those two may raise pydantic's ValidationError, and submit_task
a one-line DagtrailError (a parameter the payload lacks), nothing else.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dagtrail.errors import DagtrailError
from dagtrail.events.routing import route

from ..triggers.mangle import REPO, SAMPLES, draw_mangled, own_samples

HANDLERS = ("JobEventsFunction", "ExecutionEventsFunction", "ReconcileFunction", "LineageWriterFunction",
            "SubmitTaskFunction")
MAY_REJECT = {"SubmitTaskFunction": (ValidationError, DagtrailError), "LineageWriterFunction": ValidationError}
OTHER_DETAIL_TYPES = ["Batch Job State Change", "ECS Task State Change", "Step Functions Execution Status Change",
                      "Object Created", "CloudWatch Alarm State Change", "Scheduled Event", "Something New"]


@pytest.fixture
def env(runs_table, monkeypatch, tmp_path):
    from dagtrail import compute

    monkeypatch.delenv("DAGTRAIL_LINEAGE_QUEUE_URL", raising=False)
    monkeypatch.setenv("DAGTRAIL_GRAPH_URL", f"gremlite://{tmp_path / 'g.db'}")
    monkeypatch.setenv("DAGTRAIL_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    compute.use_local(_NoJobs())  # reconcile and submit_task reach no real backend
    yield
    compute.use_local(None)
    from dagtrail.lineage import graph

    graph.forget_cached()


class _NoJobs:
    name = "local"

    def submit(self, request):
        return "job-fuzz"

    def terminate(self, job_id, reason):
        pass

    def describe(self, job_ids):
        return {}


def _invoke(registry, name, event):
    try:
        result = registry.invoke(name, event)
    except Exception as exc:
        allowed = MAY_REJECT.get(name)
        if allowed is None or not isinstance(exc, allowed):
            raise
        if isinstance(exc, DagtrailError):
            assert "\n" not in str(exc), str(exc)
        return None
    json.dumps(result, default=str)
    return result


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("name", ["JobEventsFunction", "ExecutionEventsFunction", "LineageWriterFunction"])
def test_events_for_other_functions_are_ignored(env, registry, name, sample):
    event = json.loads(sample.read_text())
    if name in route(event, REPO / "template.yaml") or sample.parent.name == name:
        pytest.skip("its own event")
    result = _invoke(registry, name, event)
    assert "ignored" in result, result


OWN = own_samples(HANDLERS)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mangled_own_events_never_raise_unexpectedly(env, registry, data):
    name, mutated = draw_mangled(data, OWN, ["drop", "rename", "replace"])
    if isinstance(mutated, dict) and data.draw(st.booleans()):
        mutated["detail-type"] = data.draw(st.sampled_from(OTHER_DETAIL_TYPES))  # a wrong detail-type
    _invoke(registry, name, mutated)
