"""Neptune IAM auth: our SigV4 handshake signature equals botocore's own signer's for the
same request and clock; the connection factory hands the signed headers to gremlinpython,
re-signed on every reconnect, and they reach the wire."""

import socket
import threading
from datetime import UTC, datetime, timedelta

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from dagtrail.lineage import graph, neptune_auth

HOST = "db.cluster-abc123.eu-west-2.neptune.amazonaws.com"
CLOCK = datetime(2024, 3, 9, 23, 59, 58, tzinfo=UTC)


def botocore_headers(url, creds, region, now, monkeypatch):
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: now.replace(tzinfo=None))
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(creds, "neptune-db", region).add_auth(request)
    return dict(request.headers)


@pytest.mark.parametrize(
    "url, creds, region",
    [
        (f"https://{HOST}:8182/gremlin", Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), "eu-west-2"),
        (f"https://{HOST}:8182/gremlin", Credentials("ASIATEMP", "secret/+=", "FwoGZXIvYXdzEXAMPLE//token=="), "eu-west-2"),
        ("https://localhost/gremlin", Credentials("AK", "SK", "tok"), "us-east-1"),
        (f"https://{HOST}:8182/gremlin?x=1&a=b%20c", Credentials("AK", "SK"), "cn-north-1"),
    ],
)
def test_signature_matches_botocores_sigv4(url, creds, region, monkeypatch):
    expected = botocore_headers(url, creds, region, CLOCK, monkeypatch)
    ours = neptune_auth.signed_headers(url, region=region, creds=creds.get_frozen_credentials(), now=CLOCK)
    assert ours == expected
    assert ours["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={creds.access_key}/20240309/{region}/neptune-db/")


def test_a_new_clock_gives_a_new_signature():
    creds = Credentials("AK", "SK", "tok").get_frozen_credentials()
    url = f"https://{HOST}:8182/gremlin"
    first = neptune_auth.signed_headers(url, region="eu-west-2", creds=creds, now=CLOCK)
    again = neptune_auth.signed_headers(url, region="eu-west-2", creds=creds, now=CLOCK)
    later = neptune_auth.signed_headers(url, region="eu-west-2", creds=creds, now=CLOCK + timedelta(seconds=2))
    assert first == again
    assert later["X-Amz-Date"] == "20240310T000000Z" and later["Authorization"] != first["Authorization"]


def test_region_comes_from_the_environment_then_the_host(monkeypatch):
    assert neptune_auth.region_for(HOST) == "us-east-1"  # conftest's AWS_REGION
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert neptune_auth.region_for(HOST) == "eu-west-2"
    assert neptune_auth.region_for("db.cluster-ro-x.cn-north-1.neptune.amazonaws.com.cn") == "cn-north-1"
    with pytest.raises(neptune_auth.NeptuneAuthError, match="set AWS_REGION"):
        neptune_auth.region_for("graph.internal")


def test_credentials_come_from_botocores_default_chain(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sk")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "tk")
    creds = neptune_auth.credentials()
    assert (creds.access_key, creds.secret_key, creds.token) == ("AKFROMENV", "sk", "tk")


class FakeDriverRemoteConnection:
    made = []

    def __init__(self, url, traversal_source="g", **kwargs):
        self.url, self.kwargs = url, kwargs
        FakeDriverRemoteConnection.made.append(self)

    def close(self):
        pass


@pytest.fixture
def fake_driver(monkeypatch):
    from gremlin_python.driver import driver_remote_connection

    FakeDriverRemoteConnection.made = []
    monkeypatch.setattr(driver_remote_connection, "DriverRemoteConnection", FakeDriverRemoteConnection)
    yield FakeDriverRemoteConnection.made
    graph.forget_cached()


def test_neptune_urls_connect_over_tls_with_signed_headers(fake_driver, monkeypatch):
    monkeypatch.setattr(neptune_auth, "_now", lambda: CLOCK)
    graph.open_graph(f"neptune://{HOST}:8182")
    [conn] = fake_driver
    assert conn.url == f"wss://{HOST}:8182/gremlin"
    creds = Credentials("testing", "testing", "testing")  # conftest's dummy credentials
    expected = botocore_headers(f"https://{HOST}:8182/gremlin", creds, "us-east-1", CLOCK, monkeypatch)
    assert conn.kwargs["headers"] == expected


def test_every_reconnect_is_signed_afresh(fake_driver, monkeypatch):
    clock = [CLOCK]
    monkeypatch.setattr(neptune_auth, "_now", lambda: clock[0])
    url = f"neptune://{HOST}:8182"
    graph.cached(url)
    clock[0] += timedelta(minutes=7)  # past the five minutes a signature is good for
    graph.reconnect(url)
    first, second = fake_driver
    assert first.kwargs["headers"]["X-Amz-Date"] == "20240309T235958Z"
    assert second.kwargs["headers"]["X-Amz-Date"] == "20240310T000658Z"
    assert first.kwargs["headers"]["Authorization"] != second.kwargs["headers"]["Authorization"]


def test_plain_gremlin_servers_get_no_signature(fake_driver):
    graph.open_graph("wss://gremlin.example:8182/gremlin")
    assert fake_driver[0].kwargs["headers"] is None


def test_the_signed_headers_reach_the_wire(monkeypatch):
    """gremlinpython 3.7 sends `headers=` with the websocket upgrade: a socket that records
    the handshake and refuses it (403, as Neptune does for a bad signature)."""
    monkeypatch.setattr(neptune_auth, "_now", lambda: CLOCK)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    seen = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            seen.append(data.decode())
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    from gremlin_python.process.anonymous_traversal import traversal

    target = f"ws://127.0.0.1:{port}/gremlin"
    conn = graph.connect("neptune", target)
    try:
        with pytest.raises(Exception) as refused:
            traversal().with_remote(conn).V().limit(1).to_list()
    finally:
        conn.close()
        server.close()
    assert "403" in str(refused.value)
    request = seen[0]
    wire = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in request.split("\r\n")[1:] if line)}
    expected = neptune_auth.signed_headers(f"http://127.0.0.1:{port}/gremlin", now=CLOCK)
    assert request.startswith("GET /gremlin HTTP/1.1")
    assert wire["host"] == f"127.0.0.1:{port}"
    assert wire["authorization"] == expected["Authorization"]
    assert wire["x-amz-date"] == "20240309T235958Z" and wire["x-amz-security-token"] == "testing"
