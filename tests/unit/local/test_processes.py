"""The local compute backend: real processes, Batch-shaped events, manifests, timeouts."""

import json
import sys
import threading
import time

from dagtrail.compute.models import JobRequest
from dagtrail.local.processes import TIMEOUT_REASON, ProcessBackend

QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/q"


class Events:
    def __init__(self):
        self.items = []
        self.done = threading.Event()

    def __call__(self, event):
        self.items.append(event)
        if event["detail"]["status"] in ("SUCCEEDED", "FAILED"):
            self.done.set()

    def statuses(self):
        return [e["detail"]["status"] for e in self.items]


def request(tmp_path, command, timeout=60, inputs=None):
    return JobRequest(workflow="w", run_id="r", task="t", attempt=1, image="python:3.11-slim",
                      command=tuple(command), env={"DAGTRAIL_TASK": "t"}, timeout=timeout,
                      output_prefix="s3://bucket/w/r/t/1/", inputs=inputs or {})


def test_success_writes_a_manifest_and_reports_batch_events(tmp_path):
    events = Events()
    backend = ProcessBackend(tmp_path, events, job_queue_arn=QUEUE)
    code = "import os; d = os.environ['DAGTRAIL_OUTPUT_DIR']; os.makedirs(d + '/sub'); open(d + '/sub/a.txt', 'w').write('hi')"
    job_id = backend.submit(request(tmp_path, [sys.executable, "-c", code]))
    assert events.done.wait(30)
    assert events.statuses() == ["RUNNABLE", "RUNNING", "SUCCEEDED"]
    final = events.items[-1]
    assert final["detail-type"] == "Batch Job State Change" and final["source"] == "aws.batch"
    assert final["detail"]["jobId"] == job_id and final["detail"]["attempts"][0]["container"]["exitCode"] == 0
    manifest = json.loads((tmp_path / "results/w/r/t/1/manifest.json").read_text())
    assert [(a["name"], a["size"]) for a in manifest["artifacts"]] == [("sub/a.txt", 2)]


def test_failure_reports_the_exit_code_and_writes_no_manifest(tmp_path):
    events = Events()
    ProcessBackend(tmp_path, events, job_queue_arn=QUEUE).submit(request(tmp_path, [sys.executable, "-c", "import sys; sys.exit(4)"]))
    assert events.done.wait(30)
    assert events.items[-1]["detail"]["status"] == "FAILED"
    assert events.items[-1]["detail"]["container"]["exitCode"] == 4
    assert not (tmp_path / "results/w/r/t/1/manifest.json").exists()


def test_a_timeout_kills_the_process_group(tmp_path):
    events = Events()
    ProcessBackend(tmp_path, events, job_queue_arn=QUEUE).submit(request(tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"],
                                                    timeout=1))
    assert events.done.wait(30)
    assert events.items[-1]["detail"]["statusReason"] == TIMEOUT_REASON


def test_a_missing_executable_fails_cleanly(tmp_path):
    events = Events()
    ProcessBackend(tmp_path, events, job_queue_arn=QUEUE).submit(request(tmp_path, ["definitely-not-a-program-xyz"]))
    assert events.done.wait(30)
    assert events.items[-1]["detail"]["status"] == "FAILED"
    assert "CannotStartContainerError" in events.items[-1]["detail"]["statusReason"]


def test_terminate_stops_a_running_job(tmp_path):
    events = Events()
    backend = ProcessBackend(tmp_path, events, job_queue_arn=QUEUE)
    job_id = backend.submit(request(tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"]))
    for _ in range(100):
        if "RUNNING" in events.statuses():
            break
        time.sleep(0.05)
    backend.terminate(job_id, "superseded")
    assert events.done.wait(30)
    assert events.items[-1]["detail"]["status"] == "FAILED"


def test_shutdown_kills_the_running_job_starts_no_queued_one_and_waits_for_their_threads(tmp_path):
    events = Events()
    backend = ProcessBackend(tmp_path, events, max_parallel=1, job_queue_arn=QUEUE)
    marker = tmp_path / "second-started"
    running = backend.submit(request(tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"]))
    for _ in range(200):
        if "RUNNING" in events.statuses():
            break
        time.sleep(0.05)
    # Only now: submitted together, either job's thread may take the one slot first.
    queued = backend.submit(request(tmp_path, [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]))
    for _ in range(200):
        if events.statuses().count("RUNNABLE") == 2:
            break
        time.sleep(0.05)
    started = time.monotonic()
    backend.shutdown()
    assert time.monotonic() - started < 5
    assert [t for t in threading.enumerate() if t.name.startswith("job-")] == []
    last = {e["detail"]["jobId"]: e["detail"] for e in events.items}
    assert last[running]["status"] == "FAILED"
    assert (last[queued]["status"], last[queued]["statusReason"]) == ("FAILED", "Terminated before start")
    assert not marker.exists()


def test_inputs_are_linked_under_the_dependency_name(tmp_path):
    dep = tmp_path / "results/w/r/up/1"
    dep.mkdir(parents=True)
    (dep / "x.txt").write_text("42")
    events = Events()
    code = ("import os; v = open(os.environ['DAGTRAIL_INPUT_DIR'] + '/up/x.txt').read(); "
            "open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/y.txt', 'w').write(v)")
    ProcessBackend(tmp_path, events, job_queue_arn=QUEUE).submit(request(tmp_path, [sys.executable, "-c", code],
                                                    inputs={"up": "s3://bucket/w/r/up/1/"}))
    assert events.done.wait(30)
    assert (tmp_path / "results/w/r/t/1/y.txt").read_text() == "42"
