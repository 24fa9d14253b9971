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
