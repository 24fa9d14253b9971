"""Handler throughput: job_events over a stream of Batch state change events, against moto in-process.

--events / 4 submitted jobs are registered in the runs table (RunsTable.register_job, as
submit_task does); each gets RUNNABLE, STARTING, RUNNING and SUCCEEDED events with the
fields Batch sends in each, each job's events in order but the jobs interleaved at random
(fixed seed). Default 10,000 events, issue 9's stream. Every event goes through
functions/job_events/app.py (Powertools decorators, parsing, the conditional transition,
lineage records to an SQS queue, SendTaskSuccess on a terminal state: moto answers
InvalidToken for a token no execution issued, so each terminal event takes the stale-token
path after a full round trip). moto runs with local mode's speed patches (moto_patches.speedups(),
which change no answer). Baseline, same process and
table, same run: plain DynamoDB UpdateItem calls, one per job. Figures: events/s and p99
latency, each as a ratio to the baseline's. No target is set (issue 9 asks for the figures
only). wall_s and cpu_s in the JSON say where the time went (setup, stream, baseline).

    .venv/bin/python bench/handler_throughput.py                  # 10,000 events, 4-10 minutes
    .venv/bin/python bench/handler_throughput.py --events 400     # a quick look
Writes bench/results/handler_throughput.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import random
import sys
import time
import uuid
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import REPO, RESULTS, machine, p99, write_result  # noqa: E402

STATES = ["RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
TABLE = "bench-runs"
SAMPLES = REPO / "events" / "JobEventsFunction"
# moto's SQS does work in proportion to the queue's length on every send (it recounts the
# queue's attributes); the lineage writer keeps it short on AWS. Purged untimed, this often.
DRAIN_EVERY = 5


def _environment() -> None:
    for name in [n for n in os.environ if n.startswith(("AWS_", "DAGTRAIL_"))]:
        del os.environ[name]
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "job_events", "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "dagtrail-bench", "POWERTOOLS_LOG_LEVEL": "WARNING",
        "DAGTRAIL_RUNS_TABLE": TABLE,
        # The untimed drain purges the lineage queue more often than AWS's once a minute.
        "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false",
    })


def events_for(jobs: list[str], seed: int) -> list[dict]:
    """Each job's four events in order, each with the fields Batch sends in that state (no
    start time before RUNNING, no stop time, exit code or reason before the end); the jobs
    interleaved at random."""
    running = json.loads((SAMPLES / "batch-job-running.json").read_text())
    succeeded = json.loads((SAMPLES / "batch-job-succeeded.json").read_text())
    rng = random.Random(seed)
    pending = {job: list(STATES) for job in jobs}
    out = []
    while pending:
        job = rng.choice(list(pending))
        state = pending[job].pop(0)
        if not pending[job]:
            del pending[job]
        event = copy.deepcopy(succeeded if state == "SUCCEEDED" else running)
        event["id"] = str(uuid.UUID(int=rng.getrandbits(128)))
        event["detail"]["jobId"] = job
        event["detail"]["status"] = state
        if state in ("RUNNABLE", "STARTING"):
            del event["detail"]["startedAt"]
        out.append(event)
    return out


def _drain(sqs, queue: str) -> int:
    """Empty the lineage queue, as the lineage writer keeps it on AWS; how many it held."""
    held = int(sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
               ["Attributes"]["ApproximateNumberOfMessages"])
    sqs.purge_queue(QueueUrl=queue)
    return held


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="a multiple of 4 (issue 9: 10,000)")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--out", type=Path, default=RESULTS / "handler_throughput.json")
    args = parser.parse_args(argv)
    _environment()
    # The stale-token warnings would print once per job: keep them out of the console.
    logging.getLogger().addHandler(logging.NullHandler())
    warnings.filterwarnings("ignore", message="No application metrics")

    from moto import mock_aws

    from dagtrail import aws
    from dagtrail.local import moto_patches
    from dagtrail.local.handlers import HandlerRegistry
    from dagtrail.local.services import MOTO_CONFIG
    from dagtrail.results.manifest import Manifest, ManifestEntry
    from dagtrail.runs.models import JobRecord
    from dagtrail.runs.states import JobState
    from dagtrail.runs.table import RunsTable, table_definition

    jobs = [str(uuid.UUID(int=random.Random(args.seed + i).getrandbits(128))) for i in range(args.events // 4)]
    stream = events_for(jobs, args.seed)
    # Where make bench's budget goes, phase by phase; CPU seconds too, as the load moves wall time.
    wall, cpu = {"start": time.perf_counter()}, {"start": time.process_time()}
    # moto as local mode runs it: every speed patch (none changes an answer).
    undo = [moto_patches.speedups()]
    with mock_aws(config=MOTO_CONFIG):
        aws.reset_clients()
        ddb, sqs = aws.client("dynamodb"), aws.client("sqs")
        ddb.create_table(**table_definition(TABLE))
        queue = sqs.create_queue(QueueName="bench-lineage")["QueueUrl"]
        os.environ["DAGTRAIL_LINEAGE_QUEUE_URL"] = queue
        s3 = aws.client("s3")
        s3.create_bucket(Bucket="bench")
        table = RunsTable()
        for i, job in enumerate(jobs):
            # The manifest the task wrapper would have written: job_events reads it for lineage.
            manifest = Manifest(task=f"t{i}", attempt=1, prefix=f"s3://bench/w/bench-run/t{i}/1/",
                                artifacts=[ManifestEntry(name="out.json", size=2, sha256="0" * 64, etag="e")])
            s3.put_object(Bucket="bench", Key=f"w/bench-run/t{i}/1/manifest.json", Body=manifest.model_dump_json())
            token = f"token-{job}"
            table.assign_attempt("bench-run", f"t{i}", token)
            table.register_job(JobRecord(job_id=job, state=JobState.SUBMITTED, token=token, run_id="bench-run",
                                         task=f"t{i}", attempt=1, output_prefix=f"s3://bench/w/bench-run/t{i}/1/"))
        wall["setup"], cpu["setup"] = time.perf_counter(), time.process_time()
        registry = HandlerRegistry()
        try:
            # Imports, untimed: the handler's, and moto's Step Functions interpreter (seconds, once).
            registry.invoke("JobEventsFunction", {"detail-type": "warm-up"})
            try:
                aws.client("stepfunctions").send_task_success(taskToken="warm-up", output="{}")
            except Exception:  # noqa: BLE001 - InvalidToken is the expected answer
                pass
            handler_s, outcomes = [], {"sent": 0, "stale": 0, "applied": 0, "lineage_messages": 0}
            for n, event in enumerate(stream, 1):
                start = time.perf_counter()
                result = registry.invoke("JobEventsFunction", event)
                handler_s.append(time.perf_counter() - start)
                outcomes["applied"] += bool(result.get("applied"))
                outcomes["sent"] += result.get("token") == "sent"
                outcomes["stale"] += result.get("token") == "stale"
                if n % DRAIN_EVERY == 0 or n == len(stream):
                    outcomes["lineage_messages"] += _drain(sqs, queue)
        finally:
            registry.close()
        wall["stream"], cpu["stream"] = time.perf_counter(), time.process_time()
        baseline_s = []
        for event in stream[::4]:  # one per job: a rate and a p99 need no more, and make bench has 20 minutes
            start = time.perf_counter()
            ddb.update_item(
                TableName=TABLE, Key={"pk": {"S": f"JOB#{event['detail']['jobId']}"}, "sk": {"S": "JOB"}},
                UpdateExpression="SET #b = :s", ExpressionAttributeNames={"#b": "bench_state"},
                ExpressionAttributeValues={":s": {"S": event["detail"]["status"]}},
            )
            baseline_s.append(time.perf_counter() - start)
        # One scan rather than a GetItem per job: thousands of moto calls of setup time less.
        succeeded = sum(page["Count"] for page in ddb.get_paginator("scan").paginate(
            TableName=TABLE, Select="COUNT", FilterExpression="sk = :job AND token_sent = :t",
            ExpressionAttributeValues={":job": {"S": "JOB"}, ":t": {"BOOL": True}}))
        wall["baseline"], cpu["baseline"] = time.perf_counter(), time.process_time()
    aws.reset_clients()
    for patch_undo in reversed(undo):
        patch_undo()

    if succeeded != len(jobs) or outcomes["sent"] + outcomes["stale"] != len(jobs):
        raise SystemExit(f"only {succeeded} of {len(jobs)} jobs had their token sent ({outcomes})")
    rate, base_rate = len(stream) / sum(handler_s), len(baseline_s) / sum(baseline_s)
    lat, base_lat = p99(handler_s) * 1000, p99(baseline_s) * 1000
    result = {
        "machine": machine(), "events": len(stream), "jobs": len(jobs), "outcomes": outcomes,
        "wall_s": {phase: round(wall[phase] - wall[before], 1) for before, phase in zip(list(wall), list(wall)[1:])},
        "cpu_s": {phase: round(cpu[phase] - cpu[before], 1) for before, phase in zip(list(cpu), list(cpu)[1:])},
        "job_events": {"events_per_s": round(rate, 1), "p50_ms": round(sorted(handler_s)[len(handler_s) // 2] * 1000, 2),
                       "p99_ms": round(lat, 2), "max_ms": round(max(handler_s) * 1000, 2)},
        "baseline_update_item": {"calls_per_s": round(base_rate, 1), "p99_ms": round(base_lat, 2)},
        "figures": [
            {"name": f"job_events throughput, {len(stream)} events", "unit": "events/s", "value": round(rate, 1),
             "baseline_name": "moto UpdateItem", "baseline_value": round(base_rate, 1), "baseline_unit": "calls/s",
             "ratio": round(rate / base_rate, 3), "target": None, "pass": None,
             "what": "events/s ÷ UpdateItem/s: the share of a bare write's rate the handler keeps"},
            {"name": "job_events p99 latency", "unit": "ms", "value": round(lat, 2),
             "baseline_name": "moto UpdateItem p99", "baseline_value": round(base_lat, 2),
             "ratio": round(lat / base_lat, 3), "target": None, "pass": None,
             "what": "p99 per event ÷ p99 per UpdateItem"},
        ],
    }
    write_result(args.out, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
