"""Local mode's lineage drain (engine._drain_lineage, the event source mapping in miniature):
on a healthy run every message reaches the writer once and none is dead-lettered.

The lineage queue's own visibility timeout is 0, so that a failed message comes back on the
next cycle; a drain that collects a batch over several ReceiveMessage calls must hide what it
received, or the same messages come back within the batch, each receive counting towards
maxReceiveCount, and records that were written end up in the DLQ file as unwritten.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from dagtrail.lineage import replay
from dagtrail.local.engine import LocalRun
from dagtrail.spec.loader import load_spec_text

SPEC = """
name: drain
tasks:
  start: {image: python:3.13-slim, command: ["true"]}
  items: {image: python:3.13-slim, command: ["true"], depends_on: [start], foreach: {range: {start: 0, stop: 12}}}
  end: {image: python:3.13-slim, command: ["true"], depends_on: [items]}
"""


def test_a_healthy_run_writes_each_lineage_message_once_and_dead_letters_none(tmp_path):
    log = tmp_path / "events.jsonl"
    summary = LocalRun(load_spec_text(SPEC), {}, tmp_path / "w", docker=False, event_log=log).execute()
    assert summary.status == "SUCCEEDED"
    batches = [json.loads(line) for line in log.read_text().splitlines()]
    batches = [b for b in batches if b["function"] == "LineageWriterFunction"]
    delivered = Counter(r["messageId"] for b in batches for r in b["event"]["Records"])
    assert len(delivered) > 20  # enough messages that a drain takes several receives
    assert set(delivered.values()) == {1}, delivered.most_common(3)
    assert all(b["result"]["batchItemFailures"] == [] for b in batches)
    assert replay.read_file(replay.dlq_file(tmp_path / "w")) == []


def _writer_pids(monkeypatch, tmp_path):
    """Where lineage_writer's batches ran (the forked worker inherits this patch)."""
    import os

    from dagtrail.lineage import writer

    real, pids = writer.handle_sqs_batch, tmp_path / "pids"

    def handle_sqs_batch(event):
        with pids.open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        return real(event)

    monkeypatch.setattr(writer, "handle_sqs_batch", handle_sqs_batch)
    return pids


def test_the_writer_runs_in_its_own_process_and_its_batches_are_logged(tmp_path, monkeypatch):
    import os

    pids = _writer_pids(monkeypatch, tmp_path)
    log = tmp_path / "events.jsonl"
    run = LocalRun(load_spec_text(SPEC), {}, tmp_path / "w", docker=False, event_log=log)
    assert run.execute().status == "SUCCEEDED"
    assert run.lineage_worker is not None
    ran_in = {int(p) for p in pids.read_text().split()}
    assert ran_in and os.getpid() not in ran_in
    batches = [b for b in map(json.loads, log.read_text().splitlines()) if b["function"] == "LineageWriterFunction"]
    assert len(batches) == len(pids.read_text().split())  # each batch recorded once, by the parent



def test_with_other_threads_running_the_writer_runs_in_this_process(tmp_path, monkeypatch):
    import os
    import threading

    from dagtrail.local.lineage_worker import InProcessWriter

    pids = _writer_pids(monkeypatch, tmp_path)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # no fork from a process with threads
    other.start()
    try:
        run = LocalRun(load_spec_text(SPEC), {}, tmp_path / "w", docker=False)
        assert run.execute().status == "SUCCEEDED"
    finally:
        stop.set()
        other.join()
    assert isinstance(run.lineage_worker, InProcessWriter)
    assert {int(p) for p in pids.read_text().split()} == {os.getpid()}
    assert replay.read_file(replay.dlq_file(tmp_path / "w")) == []

# A run the writer fails is abandoned mid-way: each runs in a fresh interpreter, so that no
# other test's run starts with threads (and no fork), and a writer that dies takes no test with it.
BROKEN_WRITER = r"""
import os, sys
from pathlib import Path
from dagtrail.lineage import writer
from dagtrail.local.engine import LocalRun
from dagtrail.spec.loader import load_spec_text

def handle_sqs_batch(event):
    if sys.argv[1] == "raise":
        raise RuntimeError("the writer broke")
    os._exit(3)

writer.handle_sqs_batch = handle_sqs_batch
try:
    LocalRun(load_spec_text(sys.argv[2]), {}, Path(sys.argv[3]), docker=False).execute()
except Exception as exc:
    sys.__stdout__.write(f"{type(exc).__name__} {exc}\n")  # a handler's thread may hold sys.stdout
    sys.__stdout__.flush()
    os._exit(0)
sys.__stdout__.write("no error\n")
"""


@pytest.mark.parametrize(("how", "error"), [
    ("raise", "LineageWorkerError lineage writer raised RuntimeError: the writer broke"),
    ("die", "LineageWorkerError the lineage writer's process ended without an answer"),
])
def test_a_writer_that_fails_in_its_process_fails_the_run_instead_of_waiting(tmp_path, how, error):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", BROKEN_WRITER, how, SPEC, str(tmp_path / "w")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(error), done.stdout


ABANDONED_MID_SWEEP = r"""
import json, os, sys, threading
from pathlib import Path
from dagtrail.lineage import writer
from dagtrail.local.engine import LocalRun
from dagtrail.spec.loader import load_spec_text

healthy = writer.handle_sqs_batch

def handle_sqs_batch(event):
    if '\\"items\\"' in json.dumps(event):  # the sweep's jobs exist: its items wait for tokens
        raise RuntimeError("the writer broke")
    return healthy(event)

spec = load_spec_text(sys.argv[1])
writer.handle_sqs_batch = handle_sqs_batch
try:
    LocalRun(spec, {}, Path(sys.argv[2]) / "first", docker=False).execute()
except Exception as exc:
    print(type(exc).__name__, threading.active_count())
writer.handle_sqs_batch = healthy
run = LocalRun(spec, {}, Path(sys.argv[2]) / "second", docker=False)
print(run.execute().status, type(run.lineage_worker).__name__, threading.active_count())
sys.stdout.flush()
os._exit(0)
"""


def test_an_abandoned_run_stops_its_execution_and_leaves_no_threads_behind(tmp_path):
    """moto's states waiting for task tokens used to stay blocked until their timeout (an
    hour here), and the next run in the process could not fork its writer."""
    import subprocess
    import sys

    spec = SPEC.replace("stop: 12", "stop: 40")
    done = subprocess.run([sys.executable, "-c", ABANDONED_MID_SWEEP, spec, str(tmp_path)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["LineageWorkerError 1", "SUCCEEDED LineageWorker 1"], done.stdout
    assert "Could not set NextState" not in done.stderr  # moto's interpreter wound down quietly
