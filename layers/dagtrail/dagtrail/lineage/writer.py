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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from dagtrail.errors import DagtrailError
from dagtrail.lineage.records import LineageRecord

log = logging.getLogger(__name__)

MAX_MUTATIONS = 200
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
) -> WriteStats:
    """Apply records to the graph: idempotent, order-independent, in few requests.
    `max_steps` defaults to what the engine behind `g` can evaluate."""
    from dagtrail.lineage import graph

    stats = WriteStats()
    steps = max_steps if max_steps is not None else graph.max_steps(g)
    for chunk in plan(records, max_mutations=max_mutations, max_steps=steps):
        result = traversal(g, chunk).to_list()
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
    return f"{type(exc).__name__}: {exc}"


def handle_sqs_batch(event: dict[str, Any], *, g: Any = None) -> dict[str, list[dict[str, str]]]:
    """SQS batch → graph; returns the partial batch response (failed messages are retried,
    then land in the DLQ). Unparseable messages fail alone; if writing the whole batch fails,
    each message is retried on its own so only the ones that still fail are reported."""
    batch = SqsEvent.model_validate(event)
    failed: list[str] = []
    parsed: list[tuple[str, list[LineageRecord]]] = []
    for message in batch.Records:
        try:
            parsed.append((message.messageId, parse_body(message.body)))
        except (ValueError, ValidationError) as exc:
            log.error(
                "poison lineage message left for the DLQ: %s",
                _reason(exc),
                extra={"message_id": message.messageId, "reason": _reason(exc)},
            )
            failed.append(message.messageId)
    if parsed:
        g = g if g is not None else _graph()
        try:
            write(g, [r for _, records in parsed for r in records])
        except Exception:
            log.exception("batched lineage write failed; retrying message by message")
            for message_id, records in parsed:
                try:
                    write(g, records)
                except Exception as exc:
                    log.error(
                        "lineage write failed: %s",
                        _reason(exc),
                        extra={"message_id": message_id, "reason": _reason(exc)},
                    )
                    failed.append(message_id)
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}


def _graph() -> Any:
    from dagtrail import settings
    from dagtrail.lineage.graph import GraphUrlError, cached

    url = settings.load().graph_url
    if not url:
        raise GraphUrlError("DAGTRAIL_GRAPH_URL is not set: the lineage writer has no graph to write to")
    return cached(url)
