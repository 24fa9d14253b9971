"""A lost terminal event is repaired by one reconcile cycle, through the same code path."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from dagtrail import compute
from dagtrail.runs import advance
from dagtrail.runs.advance import JobUpdate, apply
from dagtrail.runs.models import JobRecord
from dagtrail.runs.reconcile import reconcile
from dagtrail.runs.states import JobState


class FakeBackend:
    name = "local"

    def __init__(self, states):
        self.states = states
        self.asked = []

    def describe(self, job_ids):
        self.asked.append(list(job_ids))
        return {j: JobUpdate(job_id=j, state=self.states[j], exit_code=0) for j in job_ids if j in self.states}


@pytest.fixture
def sfn(monkeypatch, runs_table):
    calls = []
    recorder = SimpleNamespace(send_task_success=lambda **kw: calls.append(("success", kw)),
                               send_task_failure=lambda **kw: calls.append(("failure", kw)))
    real = advance.aws.client
    monkeypatch.setattr(advance, "aws", SimpleNamespace(client=lambda n: recorder if n == "stepfunctions" else real(n)))
    return calls


@pytest.fixture
def backend():
    fake = FakeBackend({})
    compute.use_local(fake)
    yield fake
    compute.use_local(None)


def submit(table, job_id, token):
    table.assign_attempt("run", job_id, token)
    table.register_job(JobRecord(job_id=job_id, state=JobState.SUBMITTED, token=token, run_id="run",
                                 task=job_id, attempt=1, backend="local", output_prefix=f"s3://b/{job_id}/"))


LATER = datetime.now(UTC) + timedelta(hours=1)


def test_a_lost_terminal_event_is_repaired_in_one_cycle(runs_table, sfn, backend):
    submit(runs_table, "j1", "t1")
    apply(JobUpdate(job_id="j1", state=JobState.RUNNING), runs_table)  # SUCCEEDED event lost
    backend.states["j1"] = JobState.SUCCEEDED
    report = reconcile(300, runs_table, now=LATER)
    assert (report.checked, report.advanced, report.tokens_sent) == (1, 1, 1)
    assert [c[0] for c in sfn] == ["success"]
    again = reconcile(300, runs_table, now=LATER)  # answered jobs leave the index
    assert again.checked == 0 and len(sfn) == 1


def test_recent_and_still_running_jobs_are_left_alone(runs_table, sfn, backend):
    submit(runs_table, "j1", "t1")
    assert reconcile(300, runs_table).checked == 0  # heard from just now
    backend.states["j1"] = JobState.RUNNING
    report = reconcile(300, runs_table, now=LATER)
    assert report.checked == 1 and report.tokens_sent == 0 and sfn == []


def test_a_crash_between_transition_and_token_is_repaired(runs_table, sfn, backend):
    submit(runs_table, "j1", "t1")
    runs_table.transition("j1", JobState.SUCCEEDED, {"exit_code": 0})  # recorded, token never sent
    backend.states["j1"] = JobState.SUCCEEDED
    report = reconcile(300, runs_table, now=LATER)
    assert report.advanced == 0 and report.tokens_sent == 1 and [c[0] for c in sfn] == ["success"]


def test_a_job_the_backend_forgot_fails_its_task(runs_table, sfn, backend):
    submit(runs_table, "j1", "t1")
    report = reconcile(300, runs_table, now=LATER)
    assert report.lost == 1 and [c[0] for c in sfn] == ["failure"]
    assert "reconciler" in sfn[0][1]["cause"]
