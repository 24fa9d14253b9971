"""Shared fixtures. No test may reach AWS: dummy credentials, a fixed region, and any HTTP
request to a non-local host fails the test."""

from __future__ import annotations

import os
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
})
for _name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL") or n == "AWS_PROFILE"]:
    del os.environ[_name]


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
