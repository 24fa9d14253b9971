"""Idempotent, batched Gremlin upserts of LineageRecords, and the lineage_writer's SQS batch.

Each request is one chained traversal of up to `max_mutations` upserts (one per vertex or
edge record), with only steps gremlite also runs:

- vertex: `coalesce(V().has(label,'uid',x).limit(1), addV(label).property('uid',x))`, then a
  side effect per property guarded by that property's stored rank (`_r_<name>`): a record
  only overwrites a property last written by a record of equal or lower rank. The guard
  uses `P.within(0..rank)`, which gremlite evaluates (its numeric range predicates do not).
- edge: both endpoints upserted as above (a placeholder with only label and uid when they
  have not arrived yet; their own records fill them in later), labelled with step labels,
  then `coalesce(select(out).outE(label).where(inV().has(uid)).limit(1), addE(label)...)`.

Every branch keeps exactly one traverser alive, so the final `count()` is 1; anything else
means a mutation was silently skipped and the request is reported as failed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from dagtrail.errors import DagtrailError
from dagtrail.lineage import retry
from dagtrail.lineage.records import LineageRecord
from dagtrail.lineage.retry import Backoff

log = logging.getLogger(__name__)

MAX_MUTATIONS = 200
_sleep = time.sleep  # tests replace it
UNAVAILABLE = "graph unavailable"  # the reason's prefix when the graph could not be reached
RANK_PREFIX = "_r_"

# Main-chain steps each record adds (see _add); the first record also opens the chain.
_VERTEX_STEPS = 2  # coalesce, side_effect
_EDGE_STEPS = 5  # coalesce, as, coalesce, as, coalesce
_OPEN_STEPS = 4  # V, has, fold, limit replace the first coalesce's one
_CLOSE_STEPS = 1  # count


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


def _steps(r: LineageRecord) -> int:
    return _VERTEX_STEPS if r.op == "vertex" else _EDGE_STEPS


def plan(
    records: Iterable[LineageRecord], *, max_mutations: int = MAX_MUTATIONS, max_steps: int | None = None
) -> list[list[LineageRecord]]:
    """Split records into requests of at most `max_mutations` upserts and `max_steps` steps."""
    if max_mutations < 1:
        raise ValueError("max_mutations must be at least 1")
    chunks: list[list[LineageRecord]] = []
    chunk: list[LineageRecord] = []
    steps = _OPEN_STEPS + _CLOSE_STEPS
    for r in normalise(records):
        too_long = max_steps is not None and chunk and steps + _steps(r) > max_steps
        if len(chunk) >= max_mutations or too_long:
            chunks.append(chunk)
            chunk, steps = [], _OPEN_STEPS + _CLOSE_STEPS
        chunk.append(r)
        steps += _steps(r)
    if chunk:
        chunks.append(chunk)
    return chunks


def traversal(g: Any, chunk: Sequence[LineageRecord]) -> Any:
    """The one traversal that applies `chunk` (not yet submitted)."""
    t = None
    for i, r in enumerate(chunk):
        t = _add(g, t, i, r)
    return t.count()


def _upsert_vertex(g: Any, t: Any, label: str, uid: str) -> Any:
    from gremlin_python.process.graph_traversal import __

    create = __.add_v(label).property("uid", uid)
    if t is None:
        # fold() ends path history, so it may only open the chain, before any step label.
        return g.V().has(label, "uid", uid).fold().coalesce(__.unfold(), create).limit(1)
    return t.coalesce(__.V().has(label, "uid", uid).limit(1), create)


def _add(g: Any, t: Any, i: int, r: LineageRecord) -> Any:
    from gremlin_python.process.graph_traversal import __

    if r.op == "vertex":
        t = _upsert_vertex(g, t, r.label, r.uid)
        guarded = _guarded_props(r)
        return t.side_effect(guarded) if guarded is not None else t
    out_tag, in_tag = f"o{i}", f"i{i}"
    t = _upsert_vertex(g, t, r.out_label, r.out_uid).as_(out_tag)
    t = _upsert_vertex(g, t, r.in_label, r.in_uid).as_(in_tag)
    existing = __.select(out_tag).out_e(r.label).where(__.in_v().has(r.in_label, "uid", r.in_uid)).limit(1)
    return t.coalesce(existing, __.add_e(r.label).from_(out_tag).to(in_tag))


def _guarded_props(r: LineageRecord) -> Any:
    from gremlin_python.process.graph_traversal import __
    from gremlin_python.process.traversal import Cardinality, P

    allowed = list(range(r.rank + 1))
    inner = None
    for name, value in sorted(r.props.items()):
        rank_key = RANK_PREFIX + name
        step = (
            __.or_(__.not_(__.has(rank_key)), __.has(rank_key, P.within(allowed)))
            .property(Cardinality.single, name, value)
            .property(Cardinality.single, rank_key, r.rank)
        )
        inner = __.side_effect(step) if inner is None else inner.side_effect(step)
    return inner


def write(
    g: Any,
    records: Iterable[LineageRecord],
    *,
    max_mutations: int = MAX_MUTATIONS,
    max_steps: int | None = None,
    backoff: Backoff | None = None,
    reconnect: Callable[[], Any] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> WriteStats:
    """Apply records to the graph: idempotent, order-independent, in few requests.

    `max_steps` defaults to what the engine behind `g` can evaluate. A request that fails
    with a transient error (see retry.transient) is retried with `backoff` (default
    retry.DEFAULT); after a connection error on a fresh connection from `reconnect()` when
    given. Requests already applied are not repeated."""
    from dagtrail.lineage import graph

    backoff = backoff or retry.DEFAULT
    sleep = sleep or _sleep
    stats = WriteStats()
    steps = max_steps if max_steps is not None else graph.max_steps(g)
    for chunk in plan(records, max_mutations=max_mutations, max_steps=steps):
        for attempt in range(backoff.attempts):
            try:
                if g is None:
                    g = reconnect()
                    stats.reconnects += 1
                result = traversal(g, chunk).to_list()
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
