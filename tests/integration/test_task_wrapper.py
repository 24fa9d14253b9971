"""The task wrapper as a real process (python -m dagtrail.task) against a moto S3 server."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from dagtrail.task import openfiles

MiB = 1 << 20
PREFIX = "wf/run-1/sim/1/"


def wrapper_env(s3, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGTRAIL_")}
    return env | {
        "AWS_ENDPOINT_URL": s3.meta.endpoint_url,
        "DAGTRAIL_OUTPUT_URI": f"s3://{s3.bucket}/{PREFIX}", "DAGTRAIL_TASK": "sim", "DAGTRAIL_ATTEMPT": "1",
        "DAGTRAIL_WORKFLOW": "wf", "DAGTRAIL_RUN_ID": "run-1", "DAGTRAIL_POLL_SECONDS": "0.05",
    } | extra


def wrapper(*argv):
    return [sys.executable, "-m", "dagtrail.task", "--", *argv]


def run(s3, argv, **extra):
    return subprocess.run(wrapper(*argv), env=wrapper_env(s3, **extra), capture_output=True, timeout=120)


def py(code, *args):
    return [sys.executable, "-c", code, *args]


def keys(s3):
    return sorted(o["Key"][len(PREFIX):] for o in s3.list_objects_v2(Bucket=s3.bucket).get("Contents", []))


def get(s3, name):
    return s3.get_object(Bucket=s3.bucket, Key=PREFIX + name)["Body"].read()


def pending_uploads(s3):
    return s3.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])


def test_outputs_land_with_their_sha256_and_a_manifest_read_manifest_parses(s3, monkeypatch):
    code = ("import os; d = os.environ['DAGTRAIL_OUTPUT_DIR']; os.makedirs(d + '/sub');"
            "open(d + '/a.txt', 'w').write('alpha');"
            "open(d + '/sub/big.bin', 'wb').write(bytes(range(256)) * (48 * 1024 + 3)); print('simulated')")
    proc = run(s3, py(code), DAGTRAIL_PART_SIZE_MIB="5")
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"simulated" in proc.stdout  # the command's stdout still reaches ours (CloudWatch)
    assert keys(s3) == ["_logs/tail.txt", "a.txt", "manifest.json", "sub/big.bin"]
    assert b"simulated" in get(s3, "_logs/tail.txt")

    from dagtrail import aws
    from dagtrail.results.store import read_manifest

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.meta.endpoint_url)
    aws.reset_clients()
    try:
        manifest = read_manifest(f"s3://{s3.bucket}/{PREFIX}")
    finally:
        aws.reset_clients()
    assert (manifest.task, manifest.attempt) == ("sim", 1)
    for entry in manifest.artifacts:
        data = get(s3, entry.name)
        assert (entry.size, entry.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        assert entry.etag == s3.head_object(Bucket=s3.bucket, Key=PREFIX + entry.name)["ETag"].strip('"')
    assert [e.name for e in manifest.artifacts] == ["a.txt", "sub/big.bin"]
    assert manifest.artifacts[1].size > 12 * MiB and manifest.artifacts[1].etag.endswith("-3")


def test_inputs_are_staged_from_the_dependency_manifest(s3):
    upstream = "wf/run-1/prep/2/"
    s3.put_object(Bucket=s3.bucket, Key=upstream + "grid/data.txt", Body=b"grid")
    s3.put_object(Bucket=s3.bucket, Key=upstream + "unlisted.txt", Body=b"left by an aborted attempt")
    manifest = {"task": "prep", "attempt": 2, "prefix": f"s3://{s3.bucket}/{upstream}", "artifacts": [
        {"name": "grid/data.txt", "size": 4, "sha256": hashlib.sha256(b"grid").hexdigest(), "etag": None}]}
    s3.put_object(Bucket=s3.bucket, Key=upstream + "manifest.json", Body=json.dumps(manifest))
    code = ("import os; i, o = os.environ['DAGTRAIL_INPUT_DIR'], os.environ['DAGTRAIL_OUTPUT_DIR'];"
            "open(o + '/seen.txt', 'w').write(repr(sorted(os.listdir(i + '/prep'))) + open(i + '/prep/grid/data.txt').read())")
    proc = run(s3, py(code), DAGTRAIL_INPUT_URIS=f"prep=s3://{s3.bucket}/{upstream}")
    assert proc.returncode == 0, proc.stderr.decode()
    assert get(s3, "seen.txt") == b"['grid']grid"


def test_the_commands_exit_code_is_propagated_without_a_manifest(s3):
    code = "import os, sys; open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/partial.txt', 'w').write('x'); sys.exit(3)"
    proc = run(s3, py(code))
    assert proc.returncode == 3
    # What it wrote is kept for debugging, and the log tail says why; no manifest: not done.
    assert keys(s3) == ["_logs/tail.txt", "partial.txt"]
    assert b"command exited with 3" in get(s3, "_logs/tail.txt")


def test_shell_metacharacters_stay_inert(s3, tmp_path):
    hostile = [f"$(touch {tmp_path}/a)", f"`touch {tmp_path}/b`", f"; touch {tmp_path}/c", "x | y", "*", "'\"", "\n"]
    code = "import os, sys, json; open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/argv.json', 'w').write(json.dumps(sys.argv[1:]))"
    proc = run(s3, py(code, *hostile))
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(get(s3, "argv.json")) == hostile
    assert list(tmp_path.iterdir()) == []


def test_command_not_found_exits_127(s3):
    proc = run(s3, ["/nonexistent/simulate", "--fast"])
    assert proc.returncode == 127
    assert b"cannot run '/nonexistent/simulate'" in get(s3, "_logs/tail.txt")


def test_a_failed_upload_fails_the_attempt_even_if_the_command_succeeded(s3):
    code = "import os; open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/a.txt', 'w').write('a')"
    proc = run(s3, py(code), DAGTRAIL_OUTPUT_URI=f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/{PREFIX}")
    assert proc.returncode == 125
    assert b"not uploaded: a.txt" in proc.stderr and b"Traceback" not in proc.stderr


def test_a_bad_variable_is_one_line_and_exit_2(s3):
    proc = run(s3, py("print('never')"), DAGTRAIL_ATTEMPT="first")
    assert proc.returncode == 2
    assert proc.stderr.decode().strip().splitlines() == ["dagtrail-task: DAGTRAIL_ATTEMPT: expected an integer, got 'first'"]
    assert b"never" not in proc.stdout


TRAP = """
import os, signal, sys, time
def stop(signum, frame):
    open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/term.txt', 'w').write(f'got {signum}')
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print('ready', flush=True)
time.sleep(600)
"""


def start(s3, argv, **extra):
    proc = subprocess.Popen(wrapper(*argv), env=wrapper_env(s3, **extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n"  # the command is up, its handlers installed
    return proc


def test_sigterm_is_forwarded_and_the_command_may_finish_cleanly(s3):
    proc = start(s3, py(TRAP))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, proc.stderr.read().decode()
    assert get(s3, "term.txt") == b"got 15"
    manifest = json.loads(get(s3, "manifest.json"))
    assert [a["name"] for a in manifest["artifacts"]] == ["term.txt"]


BIG_THEN_WAIT = """
import os, time
with open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/big.bin', 'wb') as f:
    block = os.urandom(1 << 20)
    for _ in range(40):  # 8 parts of 5 MiB, uploaded one at a time
        f.write(block)
print('ready', flush=True)
time.sleep(600)
"""


def test_an_upload_interrupted_by_sigterm_is_aborted_and_never_listed(s3):
    proc = start(s3, py(BIG_THEN_WAIT), DAGTRAIL_PART_SIZE_MIB="5", DAGTRAIL_UPLOAD_CONCURRENCY="1",
                 DAGTRAIL_STOP_GRACE_SECONDS="0")
    deadline = time.monotonic() + 60
    while True:  # wait until the multipart upload of big.bin has at least one part stored
        uploads = pending_uploads(s3)
        if uploads and s3.list_parts(Bucket=s3.bucket, Key=uploads[0]["Key"],
                                     UploadId=uploads[0]["UploadId"]).get("Parts"):
            break
        assert proc.poll() is None and time.monotonic() < deadline, "the upload never started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 128 + signal.SIGTERM  # the command died of the forwarded SIGTERM
    assert pending_uploads(s3) == []
    assert keys(s3) == ["_logs/tail.txt"]  # no big.bin, no manifest
    assert b"aborted the multipart upload of " + (PREFIX + "big.bin").encode() in get(s3, "_logs/tail.txt")


@pytest.mark.skipif(not openfiles.available(), reason="open files are seen through Linux /proc")
def test_a_file_written_in_steps_is_uploaded_once_it_is_complete(s3):
    code = ("import os, time; f = open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/steps.txt', 'w');"
            "f.write('step 1;'); f.flush(); time.sleep(0.5); f.write('step 2;'); f.flush(); time.sleep(0.5);"
            "f.write('done'); f.close()")
    proc = run(s3, py(code), DAGTRAIL_POLL_SECONDS="0.02")
    assert proc.returncode == 0, proc.stderr.decode()
    assert get(s3, "steps.txt") == b"step 1;step 2;done"
    # Stable for ~25 polls at a time while open: uploading a partial version would show twice.
    assert proc.stderr.count(b"uploaded steps.txt") == 1


def test_a_file_rewritten_after_its_upload_is_uploaded_again_and_listed_once(s3):
    code = ("import os, sys, time; p = os.environ['DAGTRAIL_OUTPUT_DIR'] + '/r.txt'; open(p, 'w').write('v1');"
            "print('ready', flush=True); sys.stdin.readline(); open(p, 'w').write('version 2')")
    proc = subprocess.Popen(wrapper(*py(code)), env=wrapper_env(s3), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n"
    deadline = time.monotonic() + 60
    while "r.txt" not in keys(s3):  # the first version is closed: it is uploaded while the command runs
        assert time.monotonic() < deadline, "v1 was never uploaded"
        time.sleep(0.02)
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    assert proc.wait(60) == 0
    assert get(s3, "r.txt") == b"version 2"
    manifest = json.loads(get(s3, "manifest.json"))
    assert [(a["name"], a["size"]) for a in manifest["artifacts"]] == [("r.txt", 9)]


def test_the_stream_bench_runs_and_stays_within_its_memory_target(tmp_path):
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "bench" / "wrapper_stream.py"
    out = tmp_path / "wrapper_stream.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    proc = subprocess.run([sys.executable, str(bench), "--size-mib", "64", "--out", str(out)], env=env,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    result = json.loads(out.read_text())  # the bench itself checks the uploaded sha256
    assert result["size_mib"] == 64 and result["throughput_ratio"] > 0
    # 64 MiB is more than the RSS headroom: holding the file (or all parts) in memory would show.
    assert 0 < result["wrapper_peak_rss_mb"] <= 100
