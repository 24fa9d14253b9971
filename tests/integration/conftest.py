"""Fixtures for tests that run code in a separate process (python -m dagtrail.task): it cannot
see an in-process mock_aws, so they talk to a moto server over HTTP instead."""

from __future__ import annotations

import logging
import socket
import uuid

import boto3
import pytest


@pytest.fixture(scope="module")
def moto_endpoint():
    """A ThreadedMotoServer on a free local port; its URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint):
    """An S3 client on the moto server with a fresh, empty bucket named by `s3.bucket`."""
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.bucket = f"results-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=client.bucket)
    return client
