"""IAM database authentication for Neptune: a SigV4-signed websocket handshake.

Neptune with IAM auth checks a Signature Version 4 signature on the HTTP GET that opens the
websocket (`wss://host:8182/gremlin`, service `neptune-db`), then trusts the connection. A
signature is valid for five minutes and temporary credentials expire, so every new
connection is signed afresh (graph.open_graph → signed_headers): a reconnect after a
dropped connection or an AccessDeniedException presents new credentials.

Credentials come from botocore's default chain (env, the Lambda role, profiles, IMDS);
the region from AWS_REGION / AWS_DEFAULT_REGION, else the endpoint's host name.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from dagtrail.errors import DagtrailError

SERVICE = "neptune-db"
ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# <cluster>.cluster-<id>.<region>.neptune.amazonaws.com (also cluster-ro-, instance endpoints)
_REGION_IN_HOST = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d)\.neptune\.amazonaws\.com(?:\.cn)?$")


class NeptuneAuthError(DagtrailError):
    """No credentials or no region to sign the Neptune handshake with."""


def _now() -> datetime:  # tests fix the clock
    return datetime.now(UTC)


def region_for(host: str) -> str:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    match = _REGION_IN_HOST.search(host)
    if match:
        return match.group(1)
    raise NeptuneAuthError(f"no AWS region to sign the Neptune handshake for {host}: set AWS_REGION")


def credentials() -> Any:
    """Frozen (access_key, secret_key, token) from botocore's default chain; frozen so a
    refresh in the middle cannot mix two sets."""
    import botocore.session

    creds = botocore.session.get_session().get_credentials()
    if creds is None:
        raise NeptuneAuthError("no AWS credentials to sign the Neptune handshake with")
    return creds.get_frozen_credentials()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _host_header(url: str) -> str:
    parts = urlsplit(url)
    default = {"https": 443, "wss": 443, "http": 80, "ws": 80}.get(parts.scheme)
    host = parts.hostname or ""
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def signed_headers(
    url: str,
    *,
    region: str | None = None,
    creds: Any = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """Headers that authenticate a GET of `url` (the websocket upgrade) to Neptune:
    X-Amz-Date, X-Amz-Security-Token (temporary credentials) and Authorization."""
    parts = urlsplit(url)
    host = _host_header(url)
    region = region or region_for(parts.hostname or "")
    creds = creds or credentials()
    now = (now or _now()).astimezone(UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")

    headers = {"host": host, "x-amz-date": amz_date}
    if creds.token:
        headers["x-amz-security-token"] = creds.token
    names = sorted(headers)
    canonical = "\n".join([
        "GET",
        quote(parts.path or "/", safe="/~"),
        _canonical_query(parts.query),
        "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names),
        ";".join(names),
        EMPTY_SHA256,
    ])
    scope = f"{day}/{region}/{SERVICE}/aws4_request"
    to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{creds.secret_key}".encode(), day), region), SERVICE), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()

    out = {"X-Amz-Date": amz_date}
    if creds.token:
        out["X-Amz-Security-Token"] = creds.token
    out["Authorization"] = (
        f"{ALGORITHM} Credential={creds.access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


def _canonical_query(query: str) -> str:
    """Pairs sorted; the URL's query is taken as already percent-encoded."""
    if not query:
        return ""
    pairs = [item.partition("=")[::2] for item in query.split("&")]
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def signing_url(websocket_url: str) -> str:
    """The URL the signature covers: the handshake is an HTTPS GET of the same host and path."""
    parts = urlsplit(websocket_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return parts._replace(scheme=scheme).geturl()
