"""Metaflow's flows (a foreach; any flow source) compiled for AWS Step Functions, offline,
against a moto server.

`python flow.py step-functions create --only-json` needs an AWS account to register the
Batch job definitions and upload the code package; here it gets a moto server on a free
localhost port (AWS_ENDPOINT_URL) holding the resources Metaflow's configuration names: an
S3 datastore bucket, a Fargate Batch job queue, an IAM role (Step Functions, ECS S3 access,
Fargate execution) and the DynamoDB table Metaflow keeps foreach cardinalities in. Every
other request is sent to a closed local proxy port, so nothing can reach AWS: `offline`
in the result records the moto server's request count and a canary call to a real AWS
endpoint that must fail.

Metaflow's foreach stores the split's indices as a DynamoDB number set (its
DynamoDbClient.save_foreach_cardinality), which a `dynamodb:getItem` state reads into the
state payload as the Map's items. `probe_cardinality` runs Metaflow's own client against
the moto server to find the sizes where that breaks.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"
BUCKET = "mf-bench"
TABLE = "mf-sfn"
QUEUE = "mf-queue"
PAYLOAD_LIMIT = 262_144  # Step Functions: 256 KiB of state input/output
CLOSED_PORT_PROXY = "http://127.0.0.1:9"  # discard port, nothing listens: a request via it fails

FLOW = '''import subprocess
from metaflow import FlowSpec, step


class SweepFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range({items}))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        subprocess.run({command}, check=True)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SweepFlow()
'''

PROBE = '''import json, sys
from metaflow.plugins.aws.step_functions.dynamo_db_client import DynamoDbClient

client = DynamoDbClient()


def stored(n):
    key = "SweepFlow/sfn-probe/start/%d" % n
    try:
        client.save_foreach_cardinality(key, n, 0)
    except client._client.exceptions.ClientError as error:
        return None, error.response["Error"]["Message"]
    # What the "#<step>" state reads (ProjectionExpression as compiled) into $.Result.
    got = client._client.get_item(TableName=client.name, Key={"pathspec": {"S": key}}, ConsistentRead=True,
                                  ProjectionExpression="for_each_cardinality")
    return len(json.dumps({"Item": got["Item"]}, separators=(",", ":"))), None


def largest(ok, lo, hi):
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


sizes = {}
for n in map(int, sys.argv[2:]):
    size, error = stored(n)
    sizes[str(n)] = {"result_bytes": size, "error": error}
limit = int(sys.argv[1])
put_max = largest(lambda n: stored(n)[0] is not None, 1, 1_000_000)
payload_max = largest(lambda n: (stored(n)[0] or limit + 1) <= limit, 1, put_max + 1)
print(json.dumps({"sizes": sizes, "largest_put": put_max, "largest_within_payload": payload_max}))
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.requests += 1


@contextmanager
def moto_account():
    """A moto server with what Metaflow's Step Functions compiler reads; yields its env."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    werkzeug = logging.getLogger("werkzeug")
    counter = _Counter()
    werkzeug.addHandler(counter)
    saved = werkzeug.propagate, werkzeug.level
    werkzeug.propagate, werkzeug.level = False, logging.INFO
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        kw = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "bench",
              "aws_secret_access_key": "bench"}
        boto3.client("s3", **kw).create_bucket(Bucket=BUCKET)
        boto3.client("dynamodb", **kw).create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pathspec", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pathspec", "AttributeType": "S"}])
        role = boto3.client("iam", **kw).create_role(RoleName="mf-bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        ec2 = boto3.client("ec2", **kw)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="mf-bench", Description="bench", VpcId=vpc)["GroupId"]
        batch = boto3.client("batch", **kw)
        # Metaflow reads the compute environment's type (EC2 / FARGATE) to register job definitions.
        env_arn = batch.create_compute_environment(
            computeEnvironmentName="mf-bench", type="MANAGED", state="ENABLED", serviceRole=role,
            computeResources={"type": "FARGATE", "maxvCpus": 4, "subnets": [subnet], "securityGroupIds": [group]},
        )["computeEnvironmentArn"]
        batch.create_job_queue(jobQueueName=QUEUE, state="ENABLED", priority=1,
                               computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env_arn}])
        home = Path(tempfile.mkdtemp(prefix="mf-sfn-"))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "USERNAME": "bench",
            "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": url,
            "HTTPS_PROXY": CLOSED_PORT_PROXY, "HTTP_PROXY": CLOSED_PORT_PROXY, "NO_PROXY": "127.0.0.1,localhost",
            "METAFLOW_HOME": str(home / "mf"), "METAFLOW_S3_ENDPOINT_URL": url,
            "METAFLOW_DEFAULT_DATASTORE": "s3", "METAFLOW_DATASTORE_SYSROOT_S3": f"s3://{BUCKET}/metaflow",
            "METAFLOW_DEFAULT_METADATA": "local", "METAFLOW_BATCH_JOB_QUEUE": QUEUE,
            "METAFLOW_ECS_S3_ACCESS_IAM_ROLE": role, "METAFLOW_ECS_FARGATE_EXECUTION_ROLE": role,
            "METAFLOW_SFN_IAM_ROLE": role, "METAFLOW_SFN_DYNAMO_DB_TABLE": TABLE,
        }
        yield env, home, counter
    finally:
        server.stop()
        werkzeug.removeHandler(counter)
        werkzeug.propagate, werkzeug.level = saved


def _run(argv: list[str], env: dict, cwd: Path, timeout: float) -> str:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        lines = [x for x in (done.stderr or done.stdout).strip().splitlines() if x.strip()]
        raise RuntimeError(f"{' '.join(argv[1:4])}: exit {done.returncode}: {lines[-1] if lines else ''}")
    return done.stdout


def canary(env: dict, cwd: Path) -> str:
    """A call to a real AWS endpoint from the same environment: it must fail before leaving."""
    code = ("import boto3\ntry:\n    boto3.client('sts', endpoint_url='https://sts.amazonaws.com')"
            ".get_caller_identity()\n    print('REACHED AWS')\nexcept Exception as e:\n    print(type(e).__name__)")
    out = _run([str(BENCH_PYTHON), "-c", code], env, cwd, 60).strip()
    if out == "REACHED AWS":
        raise RuntimeError("the Metaflow environment reached a real AWS endpoint")
    return out


def compile_sources(sources: dict[str, str], variants: dict[str, list[str]] | None = None,
                    probe_sizes: list[int] | None = None, timeout: float = 180) -> dict[str, Any]:
    """Metaflow's Step Functions JSON for each named flow source: per variant (its name → extra
    flags of `step-functions create`, machines keyed "variant/name"), or Metaflow's default
    alone (keyed by name); and the cardinality probe at `probe_sizes`."""
    if not BENCH_PYTHON.exists():
        raise FileNotFoundError("Metaflow not installed: .venv-bench missing (run `make bench`)")
    out: dict[str, Any] = {"machines": {}}
    with moto_account() as (env, home, counter):
        for name, source in sources.items():
            flow_dir = home / f"flow-{name}"
            flow_dir.mkdir()
            (flow_dir / "flow.py").write_text(source)
            for variant, flags in (variants or {"": []}).items():
                text = _run([str(BENCH_PYTHON), "flow.py", "--no-pylint", "step-functions", "create",
                             "--only-json", *flags], env, flow_dir, timeout)
                out["machines"][f"{variant}/{name}" if variant else name] = json.loads(text)
        if probe_sizes:
            probe = _run([str(BENCH_PYTHON), "-c", PROBE, str(PAYLOAD_LIMIT), *map(str, probe_sizes)], env, home,
                         timeout)
            out["cardinality"] = json.loads(probe)
        out["offline"] = {"moto_server_requests": counter.requests, "canary_to_real_aws": canary(env, home),
                          "proxy_for_everything_else": CLOSED_PORT_PROXY}
    return out


def compile_flows(sizes: list[int], command: list[str], timeout: float = 180) -> dict[str, Any]:
    """Metaflow's Step Functions JSON for each size, inline and Distributed Map, and the probe."""
    sources = {str(n): FLOW.format(items=n, command=json.dumps(command)) for n in sizes}
    return compile_sources(sources, {"inline": [], "distributed": ["--use-distributed-map"]}, sizes, timeout)
