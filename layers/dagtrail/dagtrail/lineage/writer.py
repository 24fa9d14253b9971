"""Idempotent, batched Gremlin upserts of LineageRecords, and the lineage_writer's SQS batch.

Records are deduplicated, ordered and split into requests of at most `max_mutations`
records and `max_steps` traversal steps; each request is one traversal (lineage.upserts:
its shape, the rank guard, placeholders) applied in one transaction.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from dagtrail.errors import DagtrailError
from dagtrail.lineage import retry, upserts
from dagtrail.lineage.records import LineageRecord
from dagtrail.lineage.retry import Backoff

log = logging.getLogger(__name__)

MAX_MUTATIONS = 200
_sleep = time.sleep  # tests replace it
UNAVAILABLE = "graph unavailable"  # the reason's prefix when the graph could not be reached


class LineageWriteError(DagtrailError):
    """A write request to the lineage graph did not apply as planned."""


@dataclass
class WriteStats:
    requests: int = 0
    mutations: int = 0
    retries: int = 0
    reconnects: int = 0


def _sort_key(r: LineageRecord) -> tuple:
    # Vertices before edges (their lookups then find full vertices), then a total order on
    # content so equal inputs always produce byte-identical requests.
    return (r.op != "vertex", r.uid, r.rank, json.dumps(r.props, sort_keys=True))


def normalise(records: Iterable[LineageRecord]) -> list[LineageRecord]:
    """Drop exact duplicates (ignoring emitted_at) and order deterministically."""
    unique: dict[tuple, LineageRecord] = {}
    for r in records:
        unique.setdefault(_sort_key(r), r)
    return [unique[k] for k in sorted(unique)]


def plan(
    records: Iterable[LineageRecord], *, max_mutations: int = MAX_MUTATIONS, max_steps: int | None = None
) -> list[list[LineageRecord]]:
    """Split records into requests of at most `max_mutations` upserts and `max_steps` steps."""
    if max_mutations < 1:
        raise ValueError("max_mutations must be at least 1")
    chunks: list[list[LineageRecord]] = []
    chunk: list[LineageRecord] = []
    req = upserts.Request()
    for r in normalise(records):
        too_long = max_steps is not None and chunk and req.steps + req.cost(r) > max_steps
        if len(chunk) >= max_mutations or too_long:
            chunks.append(chunk)
            chunk, req = [], upserts.Request()
        chunk.append(r)
        req.add(r)
    if chunk:
        chunks.append(chunk)
    return chunks


def traversal(g: Any, chunk: Sequence[LineageRecord], *, gremlite: bool = False) -> Any:
    """The one traversal that applies `chunk` (not yet submitted), shaped for gremlite or
    for any Gremlin server (Neptune)."""
    return upserts.request(chunk).traversal(g, append=gremlite)


def write(
    g: Any,
    records: Iterable[LineageRecord],
    *,
    max_mutations: int = MAX_MUTATIONS,
    max_steps: int | None = None,
    gremlite: bool | None = None,
    backoff: Backoff | None = None,
    reconnect: Callable[[], Any] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> WriteStats:
    """Apply records to the graph: idempotent, order-independent, in few requests.

    `gremlite` (whether `g` is gremlite; found out when None) and `max_steps` (default: what
    the engine behind `g` can evaluate) shape the requests. A request that fails
    with a transient error (see retry.transient) is retried with `backoff` (default
    retry.DEFAULT); after a connection error on a fresh connection from `reconnect()` when
    given. Requests already applied are not repeated."""
    from dagtrail.lineage import graph

    backoff = backoff or retry.DEFAULT
    sleep = sleep or _sleep
    stats = WriteStats()
    steps = max_steps if max_steps is not None else graph.max_steps(g)
    gremlite = gremlite if gremlite is not None else graph.is_gremlite(g)
    for chunk in plan(records, max_mutations=max_mutations, max_steps=steps):
        for attempt in range(backoff.attempts):
            try:
                if g is None:
                    g = reconnect()
                    stats.reconnects += 1
                with _gc_paused():
                    result = traversal(g, chunk, gremlite=gremlite).to_list()
                break
            except Exception as exc:
                kind = retry.transient(exc)
                if kind is None or attempt + 1 == backoff.attempts:
                    raise
                log.warning("lineage write of %d records failed (%s), retrying: %s", len(chunk), kind, exc)
                stats.retries += 1
                sleep(backoff.delay(attempt))
                if kind == "connection" and reconnect is not None:
                    g = None
        stats.requests += 1
        if result != [1]:
            raise LineageWriteError(f"lineage write of {len(chunk)} records returned {result!r}, expected [1]")
        stats.mutations += len(chunk)
    return stats


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a request is built and evaluated: gremlite
    allocates a few hundred objects per step, nearly all freed by reference counting, yet
    enough to set off a collection every few steps; those took a quarter of the writer's
    CPU. Collection resumes after the request (its few cycles go then)."""
    if not gc.isenabled():  # paused by the caller, or by another thread's request
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# ---------------------------------------------------------------- the lineage_writer Lambda


class SqsMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    messageId: str
    body: str


class SqsEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    Records: list[SqsMessage]


_RECORDS = TypeAdapter(list[LineageRecord])


def parse_body(body: str) -> list[LineageRecord]:
    """A message holds one record (what sink.emit sends) or a list of them (replays)."""
    data = json.loads(body)
    return _RECORDS.validate_python(data if isinstance(data, list) else [data])


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        return f"invalid record: {where}: {first['msg']} ({exc.error_count()} error(s))"
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001 - some aiohttp errors cannot render without a request
        return type(exc).__name__


def apply_messages(
    messages: Sequence[tuple[str, str]],
    *,
    g: Any,
    reconnect: Callable[[], Any] | None = None,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, str]:
    """Write (message id, body) pairs to the graph; returns {message id: reason} for those
    that did not land. Unparseable messages fail alone. The batch is written in one go; if
    that fails for good on a transient error (the graph is down) every message fails with
    that reason, otherwise each message is retried on its own so only poison ones fail."""
    failed: dict[str, str] = {}
    parsed: list[tuple[str, list[LineageRecord]]] = []
    for message_id, body in messages:
        try:
            parsed.append((message_id, parse_body(body)))
        except (ValueError, ValidationError) as exc:
            failed[message_id] = _reason(exc)
    if not parsed:
        return failed
    holder = _Holder(g, reconnect)
    options = {"reconnect": holder.renew, "backoff": backoff, "sleep": sleep}
    try:
        write(holder.g, [r for _, records in parsed for r in records], **options)
        return failed
    except Exception as exc:
        # Unreachable graph: writing message by message would only fail again, slower.
        # A conflict that outlived the retries may be one hot vertex: smaller requests help.
        if retry.transient(exc) == "connection":
            reason = f"{UNAVAILABLE}: {_reason(exc)}"
            failed.update({message_id: reason for message_id, _ in parsed})
            return failed
        log.warning("batched lineage write failed (%s); retrying message by message", _reason(exc))
    for message_id, records in parsed:
        try:
            write(holder.g, records, **options)
        except Exception as exc:
            failed[message_id] = _reason(exc)
    return failed


class _Holder:
    """The current connection across writes: a reconnect inside one write carries over to
    the next instead of starting from the connection that just failed."""

    def __init__(self, g: Any, reconnect: Callable[[], Any] | None) -> None:
        self.g, self._reconnect = g, reconnect

    @property
    def renew(self) -> Callable[[], Any] | None:
        if self._reconnect is None:
            return None

        def renew() -> Any:
            self.g = self._reconnect()
            return self.g

        return renew


def handle_sqs_batch(event: dict[str, Any], *, g: Any = None) -> dict[str, list[dict[str, str]]]:
    """SQS batch → graph; returns the partial batch response. Failed messages are retried by
    SQS and, after the queue's maxReceiveCount, land in the DLQ; their reasons are logged
    here (a redrive cannot carry them) and given again by `dagtrail lineage replay`."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        # Not an SQS batch: nothing to write, nothing for SQS to retry (a malformed batch
        # below raises instead, so SQS redelivers it and the DLQ keeps it).
        log.warning("ignored event: not an SQS batch")
        return {"batchItemFailures": [], "ignored": "not an SQS batch (no Records list)"}
    batch = SqsEvent.model_validate(event)
    messages = [(m.messageId, m.body) for m in batch.Records]
    reconnect = None
    unavailable = None
    if g is None:
        from dagtrail.lineage import graph

        url = _graph_url()
        reconnect = lambda: graph.reconnect(url)  # noqa: E731
        try:
            g = graph.cached(url)
        except Exception as exc:
            if retry.transient(exc) is None:
                raise
            unavailable = f"{UNAVAILABLE}: {_reason(exc)}"
    if unavailable:  # unreachable before the first request: SQS retries the batch later
        failed = {message_id: unavailable for message_id, _ in messages}
    else:
        failed = apply_messages(messages, g=g, reconnect=reconnect)
    for message_id, reason in failed.items():
        log.error("lineage message not written: %s", reason, extra={"message_id": message_id, "reason": reason})
    return {"batchItemFailures": [{"itemIdentifier": m.messageId} for m in batch.Records if m.messageId in failed]}


def _graph_url() -> str:
    from dagtrail import settings
    from dagtrail.lineage.graph import GraphUrlError

    url = settings.load().graph_url
    if not url:
        raise GraphUrlError("DAGTRAIL_GRAPH_URL is not set: the lineage writer has no graph to write to")
    return url
