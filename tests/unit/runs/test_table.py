from dagtrail.runs.models import JobRecord
from dagtrail.runs.states import JobState


def test_attempts_are_allocated_once_per_token(runs_table):
    assert runs_table.assign_attempt("r1", "a", "tok-1") == (1, None)
    assert runs_table.assign_attempt("r1", "a", "tok-1") == (1, None)  # duplicate invoke
    assert runs_table.assign_attempt("r1", "a", "tok-2") == (2, None)  # a retry
    assert runs_table.assign_attempt("r1", "b", "tok-3") == (1, None)  # another task


def test_a_duplicate_invoke_finds_the_job_already_submitted(runs_table):
    attempt, _ = runs_table.assign_attempt("r1", "a", "tok-1")
    runs_table.link_job("r1", "a", "tok-1", attempt, "job-1")
    assert runs_table.assign_attempt("r1", "a", "tok-1") == (1, "job-1")
    assert runs_table.get_task("r1", "a").jobs == {"1": "job-1"}


def test_transitions_only_move_forward(runs_table):
    runs_table.register_job(JobRecord(job_id="j", state=JobState.SUBMITTED, token="t"))
    assert runs_table.transition("j", JobState.RUNNING, {"started_at": "T1"})[0]
    applied, record = runs_table.transition("j", JobState.RUNNABLE, {})
    assert not applied and record.state == JobState.RUNNING
    applied, record = runs_table.transition("j", JobState.SUCCEEDED, {"exit_code": 0, "started_at": "T9"})
    assert applied and record.state == JobState.SUCCEEDED
    assert record.started_at == "T1"  # fields already known are kept
    assert not runs_table.transition("j", JobState.SUCCEEDED, {})[0]  # duplicate
    assert not runs_table.transition("j", JobState.FAILED, {})[0]  # a second terminal state


def test_an_event_before_the_submit_record_keeps_its_state(runs_table):
    runs_table.transition("j", JobState.SUCCEEDED, {"exit_code": 0})
    record = runs_table.register_job(JobRecord(job_id="j", state=JobState.SUBMITTED, token="t", task="a"))
    assert record.state == JobState.SUCCEEDED and record.token == "t" and record.exit_code == 0


def test_success_is_sticky(runs_table):
    runs_table.assign_attempt("r1", "a", "t")
    runs_table.finish_task("r1", "a", 2, "SUCCEEDED", "s3://b/p/2/")
    runs_table.finish_task("r1", "a", 1, "FAILED", None)  # a late failure of the older attempt
    task = runs_table.get_task("r1", "a")
    assert task.status == "SUCCEEDED" and task.succeeded_attempt == 2 and task.output_prefix == "s3://b/p/2/"


def test_run_status_is_final_once_terminal(runs_table):
    from dagtrail.runs.models import RunRecord

    runs_table.put_run(RunRecord(run_id="r1", workflow="w", params={"x": 1.5}))
    assert runs_table.finish_run("r1", "SUCCEEDED", "T2")
    assert not runs_table.finish_run("r1", "FAILED", "T3")
    run = runs_table.get_run("r1")
    assert run.status == "SUCCEEDED" and run.params == {"x": 1.5}


def test_get_jobs_reads_many_jobs_in_batches_and_leaves_out_missing_ones(runs_table):
    for i in range(120):  # more than one BatchGetItem request (100 keys)
        runs_table.register_job(JobRecord(job_id=f"j{i}", state=JobState.SUBMITTED, token=f"t{i}", task="a"))
    runs_table.transition("j7", JobState.RUNNING, {"started_at": "T1"})
    jobs = runs_table.get_jobs([f"j{i}" for i in range(120)] + ["j7", "nope"])
    assert set(jobs) == {f"j{i}" for i in range(120)}
    assert jobs["j7"] == runs_table.get_job("j7") and jobs["j7"].state == JobState.RUNNING
    assert runs_table.get_jobs([]) == {}
