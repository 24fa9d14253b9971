"""Import + first invocation of each handler, against `import boto3` + creating the clients it used.

The import figure alone rewards moving work from import into the first call (a model built on
first validation, a module imported inside the function). Lambda's cold start is both, so
this measures both: a fresh interpreter imports functions/<name>/app.py and invokes it once
with a sample from events/, timed from before the import to the handler's return (wall and
CPU, in the interpreter). The baseline is a fresh interpreter of the same Python that imports
boto3 and creates, from one session, a client for each service the handler's run created one
for (found after its clock stopped). Both interleaved, median of --repeat.

The account is moto's server, in this process, reset before every handler run and filled as
`dagtrail invoke` fills it (dagtrail.local.invoke: local mode's resources, the state machines,
the alarm topic, Batch and ECS for the functions whose policy uses them; artifact_events'
manifest in the sample's bucket; results read from S3 as deployed); the interpreter
under test only sees AWS_ENDPOINT_URL, so it needs the layer's requirements alone and runs on
.venv-layer's Python 3.13 like the import figure. lineage_writer is left out: it writes the
graph (gremlite locally, not in the layer; exempt from the target anyway).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from _util import REPO, last_line, median

EVENTS = REPO / "events"
FUNCTIONS = REPO / "functions"
SKIP = {"lineage_writer"}
# One sample per function: the event its everyday invocation sees.
SAMPLES = {
    "alarm_events": "AlarmEventsFunction/alarm-task-failures.json",
    "artifact_events": "ArtifactEventsFunction/s3-result-manifest-created.json",
    "execution_events": "ExecutionEventsFunction/execution-succeeded.json",
    "job_events": "JobEventsFunction/batch-job-succeeded.json",
    "reconcile": "ReconcileFunction/reconcile-schedule.json",
    "start_from_upload": "StartFromUploadFunction/s3-input-created.json",
    "submit_task": "SubmitTaskFunction/task-simulate.json",
}
_MARK = "FIRST-INVOCATION "
# The Lambda context Powertools reads; the rest of the child times itself.
_HANDLER = """
import time
t0, c0 = time.perf_counter(), time.process_time()
import sys
sys.path.insert(0, sys.argv[1])
import app
t1 = time.perf_counter()
class Context:
    function_name = "bench"; function_version = "$LATEST"; memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "00000000-0000-0000-0000-000000000000"; log_group_name = log_stream_name = "bench"
    def get_remaining_time_in_millis(self): return 60000
import json
result = app.handler(json.load(open(sys.argv[2])), Context())
t2, c2 = time.perf_counter(), time.process_time()
import gc, botocore.client
services = sorted({o.meta.service_model.service_name for o in gc.get_objects() if isinstance(o, botocore.client.BaseClient)})
print(%r + json.dumps({"import_ms": (t1 - t0) * 1e3, "total_ms": (t2 - t0) * 1e3, "cpu_ms": (c2 - c0) * 1e3,
                       "services": services, "result": result}, default=str))
""" % _MARK
_BASELINE = """
import time
t0, c0 = time.perf_counter(), time.process_time()
import sys
import boto3
session = boto3.session.Session()
clients = [session.client(name) for name in sys.argv[1:]]
t1, c1 = time.perf_counter(), time.process_time()
import json
print(%r + json.dumps({"total_ms": (t1 - t0) * 1e3, "cpu_ms": (c1 - c0) * 1e3}))
""" % _MARK


def logical_id(function: str) -> str:
    return "".join(part.title() for part in function.split("_")) + "Function"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Account:
    """moto's server, and the environment a handler of `dagtrail invoke` gets, refilled per run."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        from dagtrail.local.invoke import MOTO_CONFIG

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self._post("/moto-api/config", MOTO_CONFIG)
        self.workdir = Path(tempfile.mkdtemp(prefix="dagtrail-bench-invoke-"))

    def _post(self, path: str, body: dict | None = None) -> None:
        request = urllib.request.Request(self.url + path, data=json.dumps(body or {}).encode(), method="POST")
        urllib.request.urlopen(request, timeout=30).read()

    def fresh(self, function: str) -> dict[str, str]:
        """Reset the account, create what the function's `dagtrail invoke` would find; its env."""
        from dagtrail import aws
        from dagtrail.local import invoke, services

        self._post("/moto-api/reset")
        ref = invoke.resolve_function(REPO / "template.yaml", logical_id(function))
        previous = services.apply_environment(self.workdir)  # clears endpoint overrides: set ours after
        try:
            os.environ["AWS_ENDPOINT_URL"] = self.url
            aws.reset_clients()
            stack = services.create_resources()
            services.create_functions(stack)
            extra = invoke._account(stack, ref.services)
            env = services.environment(self.workdir) | {"DAGTRAIL_LINEAGE_QUEUE_URL": stack.lineage_queue_url}
        finally:
            os.environ.pop("AWS_ENDPOINT_URL", None)
            services.restore_environment(previous)
        env |= {k: v for k, v in extra.items() if v is not None}
        env |= {k: v for k, v in ref.environment.items() if k not in env}
        env.pop("POWERTOOLS_METRICS_DISABLED", None)  # as deployed: the EMF line is part of the call
        env.pop("DAGTRAIL_RESULTS_DIR", None)  # results in S3, as deployed, not local mode's directory
        return env | {"AWS_ENDPOINT_URL": self.url}

    def seed(self, function: str, event: dict) -> None:
        """What the sample's event says exists: artifact_events' manifest, in its bucket."""
        if function != "artifact_events":
            return
        import boto3

        detail = event["detail"]
        bucket, key = detail["bucket"]["name"], detail["object"]["key"]
        s3 = boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
        s3.create_bucket(Bucket=bucket)
        manifest = {"task": key.split("/")[2], "attempt": int(key.split("/")[3]),
                    "prefix": f"s3://{bucket}/{key.rsplit('/', 1)[0]}/",
                    "artifacts": [{"name": "field.npy", "size": 3, "sha256": "0" * 64}]}
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())

    def close(self) -> None:
        self.server.stop()


def _run(python: Path, code: str, args: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run([str(python), "-c", code, *args], env=env, capture_output=True, text=True, timeout=180,
                          cwd=tempfile.gettempdir())
    lines = [line for line in done.stdout.splitlines() if line.startswith(_MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{args[:1]}: {last_line(done.stderr) or last_line(done.stdout)}")
    return json.loads(lines[-1].removeprefix(_MARK))


def first_invocations(python: Path, repeat: int, base_env: dict[str, str], only: list[str] | None = None,
                      functions: Path = FUNCTIONS) -> dict:
    """Per handler: median import + first invocation, the baseline's, and their ratio.
    functions: where functions/<name>/app.py are (cold_start's copies, beside its compiled layer)."""
    handlers = [h for h in sorted(SAMPLES) if h not in SKIP and (not only or h in only)]
    account = Account()
    out: dict[str, dict] = {}
    try:
        for name in handlers:
            runs, bases = [], []
            for i in range(repeat + 1):  # the first of each: the page cache, untimed
                env = base_env | account.fresh(name)
                account.seed(name, json.loads((EVENTS / SAMPLES[name]).read_text()))
                run = _run(python, _HANDLER, [str(functions / name), str(EVENTS / SAMPLES[name])], env)
                base = _run(python, _BASELINE, run["services"], env)
                if i:
                    runs.append(run)
                    bases.append(base)
            total, baseline = median([r["total_ms"] for r in runs]), median([b["total_ms"] for b in bases])
            cpu, baseline_cpu = median([r["cpu_ms"] for r in runs]), median([b["cpu_ms"] for b in bases])
            result = runs[-1]["result"]
            out[name] = {
                "sample": SAMPLES[name], "services": runs[-1]["services"],
                "import_ms": round(median([r["import_ms"] for r in runs]), 1),
                "import_and_invoke_ms": round(total, 1),
                "samples_ms": [round(r["total_ms"], 1) for r in runs],
                "baseline_ms": round(baseline, 1), "baseline_samples_ms": [round(b["total_ms"], 1) for b in bases],
                "ratio": round(total / baseline, 3),
                "cpu_ms": round(cpu, 1), "baseline_cpu_ms": round(baseline_cpu, 1),
                "cpu_ratio": round(cpu / baseline_cpu, 3),
                "result": json.dumps(result, default=str)[:200],
            }
    finally:
        account.close()
    return out
