"""The emulated AWS account of a local run: moto in-process, with this stack's resources."""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from dagtrail import aws
from dagtrail.local.user_dirs import cache_home

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "dagtrail-local"  # names follow template.yaml's, for a stack of this name
JOB_QUEUE_ARN = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{STACK}-fargate"
TEMPLATE = Path(__file__).resolve().parents[4] / "template.yaml"
RUNS_TABLE = "dagtrail-runs"
RESULTS_BUCKET = "dagtrail-results"
LINEAGE_QUEUE = "dagtrail-lineage"
LINEAGE_DLQ = "dagtrail-lineage-dlq"
FUNCTIONS = ("SubmitTaskFunction",)  # Lambdas the state machine invokes
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{STACK}"
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
    "batch": {"use_docker": False},
}


@dataclass
class LocalStack:
    lineage_queue_url: str
    lineage_dlq_url: str
    function_arns: dict[str, str]
    role_arn: str


def parse_cache_dir() -> Path:
    """Where local runs keep their state machines' parses between runs (moto_patches.cached_parses):
    DAGTRAIL_CACHE_DIR, else the user's cache directory (XDG_CACHE_HOME, ~/.cache)."""
    if os.environ.get("DAGTRAIL_CACHE_DIR"):
        return Path(os.environ["DAGTRAIL_CACHE_DIR"]) / "asl"
    return Path(cache_home()) / "dagtrail" / "asl"


def environment(workdir: Path) -> dict[str, str]:
    """What the handlers read in local mode: dummy credentials, local names, local graph."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "DAGTRAIL_RUNS_TABLE": RUNS_TABLE,
        "DAGTRAIL_RESULTS_BUCKET": RESULTS_BUCKET,
        "DAGTRAIL_RESULTS_DIR": str(workdir / "results"),
        "DAGTRAIL_GRAPH_URL": f"gremlite://{(workdir / 'lineage.db').resolve()}",
        "DAGTRAIL_COMPUTE_BACKEND": "local",
        "DAGTRAIL_RECONCILE_QUIET_SECONDS": "5",
        "POWERTOOLS_SERVICE_NAME": "dagtrail",
        "POWERTOOLS_METRICS_NAMESPACE": "dagtrail",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def apply_environment(workdir: Path) -> dict[str, str | None]:
    """Set the local environment; returns what to restore. Endpoint overrides are cleared so
    nothing can leave the process."""
    changes: dict[str, str | None] = dict(environment(workdir))
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "DAGTRAIL_LINEAGE_QUEUE_URL"):
            changes[name] = None
    previous = {name: os.environ.get(name) for name in changes}
    for name, value in changes.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    aws.reset_clients()
    return previous


def restore_environment(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    aws.reset_clients()


def create_resources() -> LocalStack:
    """The parts of template.yaml a local run touches, created in moto."""
    from dagtrail.runs.table import table_definition

    aws.client("dynamodb").create_table(**table_definition(RUNS_TABLE))
    aws.client("s3").create_bucket(Bucket=RESULTS_BUCKET)
    sqs = aws.client("sqs")
    dlq_url = sqs.create_queue(QueueName=LINEAGE_DLQ)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(QueueName=LINEAGE_QUEUE, Attributes={
        "VisibilityTimeout": "0",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
    })["QueueUrl"]
    os.environ["DAGTRAIL_LINEAGE_QUEUE_URL"] = queue_url

    # No function or role in moto: the interpreter's Lambda calls go straight to the handlers
    # (moto_patches.install_lambda_dispatch). The ARNs are the ones moto would make.
    arns = {logical_id: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}" for logical_id in FUNCTIONS}
    return LocalStack(queue_url, dlq_url, arns, ROLE_ARN)


def create_functions(stack: LocalStack) -> None:
    """The stack's functions and their role as moto's Lambda service holds them, for whoever
    calls Lambda through moto (`dagtrail invoke`'s account: Batch checks the role too)."""
    aws.client("iam").create_role(
        RoleName=ROLE_ARN.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com",
                                                                         "states.amazonaws.com"]},
                           "Action": "sts:AssumeRole"}],
        }),
    )
    lam = aws.client("lambda")
    for logical_id in stack.function_arns:
        lam.create_function(FunctionName=logical_id, Runtime="python3.13", Role=ROLE_ARN, Handler="app.handler",
                            Code={"ZipFile": _placeholder_zip()}, Architectures=["arm64"])


def _placeholder_zip() -> bytes:
    # moto stores the code but never runs it.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()
