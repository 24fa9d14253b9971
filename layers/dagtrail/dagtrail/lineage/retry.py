"""Which graph errors are worth retrying, and how long to wait between tries.

Neptune answers a write that lost a lock race with ConcurrentModificationException and a
write during a failover with ReadOnlyViolationException; its docs mark these (and a few
more) as safe to retry. Our writes are idempotent upserts, so retrying any of them is safe.
A dropped or refused connection is retried on a fresh connection (which re-signs the IAM
handshake). Everything else — a malformed traversal, a lost traverser — fails at once.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from typing import Literal

Kind = Literal["conflict", "connection"]

# Neptune engine error codes documented as "Ok to retry" on the same connection.
RETRY_CODES = (
    "ConcurrentModificationException",
    "ConstraintViolationException",
    "CancelledByUserException",
    "InternalFailureException",
    "ThrottlingException",
    "TooManyRequestsException",
    "MemoryLimitExceededException",
    "QueryLimitExceededException",
    "TimeLimitExceededException",
)
# Codes that mean this connection is pointed at the wrong or a stale place: a failover made
# the writer a reader, or the signed handshake's credentials expired.
# gremlinpython turns a refused handshake (403: a stale signature) into a bare Exception.
RECONNECT_CODES = ("ReadOnlyViolationException", "AccessDeniedException", "HTTP Error code 403")


def transient(exc: BaseException) -> Kind | None:
    """"conflict" (retry as is), "connection" (retry on a new connection) or None (give up)."""
    from dagtrail.lineage.graph import GraphUnavailable

    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - some aiohttp errors cannot render without a request
        text = type(exc).__name__
    if any(code in text for code in RECONNECT_CODES):
        return "connection"
    if any(code in text for code in RETRY_CODES):
        return "conflict"
    if isinstance(exc, (OSError, GraphUnavailable)):  # aiohttp's connection errors, timeouts
        return "connection"
    if isinstance(exc, sqlite3.OperationalError):  # gremlite: locked or unopenable database
        return "connection"
    if isinstance(exc, RuntimeError) and "closed" in text.lower():  # gremlinpython: socket closed
        return "connection"
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - gremlinpython depends on it
        return None
    if isinstance(exc, aiohttp.ClientError):
        return "connection"
    return None


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with full jitter: concurrent writers that collided on one
    vertex spread out instead of colliding again in step."""

    attempts: int = 6
    base: float = 0.05
    cap: float = 2.0

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number `retry` (0 = the first retry)."""
        ceiling = min(self.cap, self.base * 2**retry)
        return (rng or random).uniform(0, ceiling)


DEFAULT = Backoff()
NONE = Backoff(attempts=1)
