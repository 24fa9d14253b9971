"""AWS clients from one cached factory.

Endpoints follow botocore's own AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> variables, so
local mode and tests redirect every client without code here knowing about them. botocore,
not boto3: boto3 adds its resources and s3transfer to every handler's cold start (about
25 ms) for a session wrapper the handlers do not need.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import botocore.session
from botocore.config import Config

_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=5, read_timeout=30)
# One session: it holds the loaded service models, which cost far more than a client. Sessions
# are not thread-safe, so clients are created under a lock (clients themselves are).
_LOCK = threading.Lock()


@functools.cache
def session() -> botocore.session.Session:
    return botocore.session.Session()


def client(service: str, region: str | None = None) -> Any:
    # Through a cache keyed by both arguments: functools.cache alone keys client("dynamodb")
    # and client("dynamodb", None) apart, and a handler paid for a second client.
    return _cached_client(service, region)


@functools.cache
def _cached_client(service: str, region: str | None) -> Any:
    return new_client(service, region, _CONFIG)


def new_client(service: str, region: str | None, config: Config, **credentials: str) -> Any:
    """An uncached client from the shared session with the caller's own settings."""
    with _LOCK:
        return session().create_client(service, region_name=region, config=config, **credentials)


def reset_clients() -> None:
    """Forget cached clients and the session (tests and local mode switch endpoints and credentials)."""
    _cached_client.cache_clear()
    session.cache_clear()
