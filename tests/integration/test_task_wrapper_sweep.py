"""The task wrapper as an AWS Batch array child (python -m dagtrail.task) against a moto S3
server: it reads its item (offset + AWS_BATCH_JOB_ARRAY_INDEX), renders it, writes under <index>/."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PREFIX = "wf/run-1/polar/1/"
CHILD = ("import os, sys, json; o = os.environ['DAGTRAIL_OUTPUT_DIR'];"
         "open(o + '/seen.json', 'w').write(json.dumps({'argv': sys.argv[1:], 'mach': os.environ['MACH'],"
         " 'item': os.environ['DAGTRAIL_ITEM'], 'index': os.environ['DAGTRAIL_ITEM_INDEX']}))")


@pytest.fixture
def s3(s3):
    """The conftest bucket, with the items of a sweep in it."""
    # what dagtrail.sweeps.store writes for a 1,200-item sweep: two files of up to 1,000 items
    items = [{"angle": i, "mach": round(0.1 * (i % 9), 1)} for i in range(1_200)]
    for k in range(2):
        body = json.dumps(items[k * 1000:(k + 1) * 1000], sort_keys=True, separators=(",", ":")) + "\n"
        s3.put_object(Bucket=s3.bucket, Key=f"{PREFIX}_items/{k}.json", Body=body.encode())
    return s3


def run_child(s3, argv, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGTRAIL_", "AWS_BATCH_"))} | {
        "AWS_ENDPOINT_URL": s3.meta.endpoint_url, "DAGTRAIL_TASK": "polar", "DAGTRAIL_ATTEMPT": "1",
        "DAGTRAIL_WORKFLOW": "wf", "DAGTRAIL_RUN_ID": "run-1", "DAGTRAIL_POLL_SECONDS": "0.05",
        # what BatchBackend submits for the array job (every child shares it) ...
        "DAGTRAIL_OUTPUT_URI": f"s3://{s3.bucket}/{PREFIX}", "DAGTRAIL_ITEMS_URI": f"s3://{s3.bucket}/{PREFIX}_items/",
        "MACH": "{{ item.mach }}",
    } | extra
    return subprocess.run([sys.executable, "-m", "dagtrail.task", "--", *argv], env=env, capture_output=True,
                          timeout=120)


def keys(s3):
    return sorted(o["Key"][len(PREFIX):] for o in s3.list_objects_v2(Bucket=s3.bucket).get("Contents", [])
                  if "/_items/" not in "/" + o["Key"][len(PREFIX):])


def test_an_array_child_runs_its_item_and_writes_under_its_index(s3):
    # ... and what Batch sets per child: child 3 of the chunk starting at item 1,000
    proc = run_child(s3, [sys.executable, "-c", CHILD, "--angle={{ item.angle }}", "{{ item }}"],
                     AWS_BATCH_JOB_ARRAY_INDEX="3", DAGTRAIL_ITEM_OFFSET="1000")
    assert proc.returncode == 0, proc.stderr.decode()
    assert keys(s3) == ["1003/_logs/tail.txt", "1003/manifest.json", "1003/seen.json"]
    seen = json.loads(s3.get_object(Bucket=s3.bucket, Key=PREFIX + "1003/seen.json")["Body"].read())
    assert seen == {"argv": ["--angle=1003", '{"angle":1003,"mach":0.4}'], "mach": "0.4",
                    "item": '{"angle":1003,"mach":0.4}', "index": "1003"}
    manifest = json.loads(s3.get_object(Bucket=s3.bucket, Key=PREFIX + "1003/manifest.json")["Body"].read())
    assert manifest["prefix"] == f"s3://{s3.bucket}/{PREFIX}1003/"
    assert [a["name"] for a in manifest["artifacts"]] == ["seen.json"]


def test_a_one_item_array_runs_as_a_plain_job_told_its_index(s3):
    proc = run_child(s3, [sys.executable, "-c", CHILD], DAGTRAIL_ITEM_INDEX="7", DAGTRAIL_ITEM_OFFSET="7")
    assert proc.returncode == 0, proc.stderr.decode()
    seen = json.loads(s3.get_object(Bucket=s3.bucket, Key=PREFIX + "7/seen.json")["Body"].read())
    assert (seen["index"], seen["mach"]) == ("7", "0.7")


def test_a_missing_key_fails_the_child_with_exit_2_and_a_log_tail(s3):
    proc = run_child(s3, ["echo", "{{ item.speed }}"], AWS_BATCH_JOB_ARRAY_INDEX="0", DAGTRAIL_ITEM_OFFSET="0")
    assert proc.returncode == 2
    assert keys(s3) == ["0/_logs/tail.txt"]
    tail = s3.get_object(Bucket=s3.bucket, Key=PREFIX + "0/_logs/tail.txt")["Body"].read()
    assert b"item 0:" in tail and b"no key 'speed'" in tail


def test_an_index_past_the_items_fails_the_child_as_a_wrapper_error(s3):
    proc = run_child(s3, ["true"], AWS_BATCH_JOB_ARRAY_INDEX="5", DAGTRAIL_ITEM_OFFSET="1195")
    assert proc.returncode == 125
    assert b"has no item at position 200" in proc.stderr
