"""Shared fixtures. No test may reach AWS: dummy credentials, a fixed region, and any HTTP
request to a non-local host fails the test."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EVENTS = REPO / "events"
EXAMPLES = REPO / "examples"
BIN = REPO / ".venv" / "bin"

os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "dagtrail-tests",
    "POWERTOOLS_SERVICE_NAME": "dagtrail",
    # Local runs keep state machine parses here (dagtrail.local.services.parse_cache_dir), not
    # in the user's cache; shared by the session's runs, as a user's runs share theirs.
    "DAGTRAIL_CACHE_DIR": tempfile.mkdtemp(prefix="dagtrail-tests-cache-"),
})
atexit.register(shutil.rmtree, os.environ["DAGTRAIL_CACHE_DIR"], ignore_errors=True)
# `dagtrail run` in a subprocess goes through the warm server, as a user's does; the session's
# servers live here and stop with it (dagtrail.local.warm_server).
os.environ["DAGTRAIL_SERVER_DIR"] = tempfile.mkdtemp(prefix="dt-srv-")
os.environ.pop("DAGTRAIL_SERVER", None)


@atexit.register
def _stop_warm_servers() -> None:
    from dagtrail.local.warm_client import stop_servers

    stop_servers(os.environ["DAGTRAIL_SERVER_DIR"])
    shutil.rmtree(os.environ["DAGTRAIL_SERVER_DIR"], ignore_errors=True)


for _name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL") or n == "AWS_PROFILE"]:
    del os.environ[_name]


# CI must be reproducible: the same examples every run (a failure reproduces at once).
# Explore new examples locally with `pytest --hypothesis-profile=explore`.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("default", derandomize=True)
_hypothesis_settings.register_profile("explore", derandomize=False)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


class RealEndpointCalled(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch):
    """moto intercepts before the HTTP layer; anything that gets here was going to AWS."""
    from urllib.parse import urlsplit

    from botocore.httpsession import URLLib3Session

    real_send = URLLib3Session.send

    def send(self, request):
        host = urlsplit(request.url).hostname or ""
        if host not in ("localhost", "127.0.0.1", "::1"):
            raise RealEndpointCalled(f"test tried to call a real endpoint: {request.method} {request.url}")
        return real_send(self, request)

    monkeypatch.setattr(URLLib3Session, "send", send)


@pytest.fixture
def aws_mock():
    """An in-process moto account with fresh cached clients."""
    from moto import mock_aws

    from dagtrail import aws
    from dagtrail.local.services import MOTO_CONFIG

    with mock_aws(config=MOTO_CONFIG):
        aws.reset_clients()
        yield
    aws.reset_clients()


@pytest.fixture
def runs_table(aws_mock, monkeypatch):
    from dagtrail import aws
    from dagtrail.runs.table import RunsTable, table_definition

    monkeypatch.setenv("DAGTRAIL_RUNS_TABLE", "runs-test")
    aws.client("dynamodb").create_table(**table_definition("runs-test"))
    return RunsTable()



@pytest.fixture
def batch_account(runs_table, monkeypatch):
    """moto Batch as submit_task finds it: `batch_account(attempts)` creates a queue, the template
    job definition (retrying Spot reclaims up to `attempts`), the results bucket, and returns
    the Batch client."""
    from dagtrail import aws
    from dagtrail.compute import batch as batch_module

    def make(attempts: int):
        role = aws.client("iam").create_role(RoleName="batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        b = aws.client("batch")
        ce = b.create_compute_environment(computeEnvironmentName="compute-env", type="UNMANAGED", serviceRole=role)
        queue = b.create_job_queue(jobQueueName="queue", state="ENABLED", priority=1, computeEnvironmentOrder=[
            {"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}])
        template = b.register_job_definition(
            jobDefinitionName="dagtrail-template", type="container",
            containerProperties={"image": "placeholder", "vcpus": 1, "memory": 512},
            retryStrategy={"attempts": attempts, "evaluateOnExit": [
                {"onStatusReason": "Host EC2*", "action": "RETRY"}, {"onReason": "*", "action": "EXIT"}]})
        monkeypatch.setenv("DAGTRAIL_JOB_QUEUE", queue["jobQueueArn"])
        monkeypatch.setenv("DAGTRAIL_JOB_DEFINITION", template["jobDefinitionArn"])
        monkeypatch.setenv("DAGTRAIL_RESULTS_BUCKET", "results")
        monkeypatch.setenv("DAGTRAIL_LINEAGE_QUEUE_URL", "")
        aws.client("s3").create_bucket(Bucket="results")
        # Per-process caches of registered definitions: each test has a fresh moto account.
        monkeypatch.setattr(batch_module, "_DEFINITIONS", {})
        monkeypatch.setattr(batch_module, "_RETRY", {})
        return b

    return make


@pytest.fixture(scope="module")
def registry():
    """The real handlers (functions/*/app.py), loaded as local mode loads them."""
    from dagtrail.local.handlers import HandlerRegistry

    reg = HandlerRegistry()
    yield reg
    reg.close()

@pytest.fixture
def lineage_graph(tmp_path):
    """An empty local lineage graph (gremlite at tmp_path/lineage.db); its URL is `g.url`."""
    from dagtrail.lineage import graph

    url = f"gremlite://{tmp_path / 'lineage.db'}"
    g = graph.open_graph(url)
    g.url = url
    yield g
    graph.close(g)
    graph.forget_cached()


def graph_snapshot(g) -> dict:
    """Everything in a lineage graph, in a canonical form: vertices (label, uid, every
    property) and edges as a sorted list, so duplicates show up."""
    from gremlin_python.process.graph_traversal import __

    vertices = g.V().project("label", "props").by(__.label()).by(__.value_map()).to_list()
    edges = g.E().project("label", "out", "in").by(__.label()).by(__.out_v().values("uid")).by(
        __.in_v().values("uid")).to_list()
    return {
        "vertices": sorted(
            (v["label"], tuple(sorted((k, tuple(vals)) for k, vals in v["props"].items()))) for v in vertices
        ),
        "edges": sorted((e["label"], e["out"], e["in"]) for e in edges),
    }


@pytest.fixture
def snapshot_graph():
    """graph_snapshot, for tests (conftest functions are not importable)."""
    return graph_snapshot
