"""Where handlers send LineageRecords: the lineage queue, the graph directly, or nowhere.

- DAGTRAIL_LINEAGE_QUEUE_URL set: SQS SendMessageBatch; one emit()'s records packed into
  messages whose body is a JSON list of at most MESSAGE_BYTES (a bad record fails its
  message, a few records of one handler call, not a whole batch). One message per record
  cost a queue operation per record, which made a 1,000-item sweep crawl.
- else DAGTRAIL_GRAPH_URL set: written straight into the graph (tools and tests).
- else: logged and dropped — lineage never blocks the workflow.

Light to import: botocore and gremlinpython load only when records are actually sent.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from dagtrail.errors import DagtrailError
from dagtrail.lineage.records import LineageRecord

log = logging.getLogger(__name__)

# SQS limits: 10 entries per SendMessageBatch, 256 KiB per message and per whole batch.
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024
SEND_ATTEMPTS = 4
# Body size to pack records up to: a TaskRun's records and its artifacts fit in one or two
# messages, and a poison message still takes only a few records to the DLQ with it.
MESSAGE_BYTES = 24 * 1024


class LineageSinkError(DagtrailError):
    """Records could not be handed to the lineage queue."""


_held: contextvars.ContextVar[list[LineageRecord] | None] = contextvars.ContextVar("lineage_held", default=None)


@contextlib.contextmanager
def together() -> Iterator[None]:
    """emit() calls inside are sent as one emit on the way out (one SendMessageBatch for a
    handler's few records instead of one each). A failure then is logged, never raised:
    lineage never blocks the workflow."""
    if _held.get() is not None:  # already inside one: the outer one sends
        yield
        return
    held: list[LineageRecord] = []
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        try:
            emit(held)
        except Exception:
            log.exception("lineage emission failed; the workflow continues")


def emit(records: Iterable[LineageRecord]) -> None:
    from dagtrail import settings

    records = list(records)
    if not records:
        return
    held = _held.get()
    if held is not None:
        held.extend(records)
        return
    config = settings.load()
    if config.lineage_queue_url:
        send_to_queue(config.lineage_queue_url, records)
    elif config.graph_url:
        from dagtrail.lineage.graph import cached
        from dagtrail.lineage.writer import write

        write(cached(config.graph_url), records)
    else:
        log.info("no lineage queue or graph configured; dropping %d lineage records", len(records))


def batches(bodies: Sequence[str]) -> list[list[tuple[str, str]]]:
    """(entry id, body) batches within SQS's entry-count and byte limits."""
    out: list[list[tuple[str, str]]] = []
    batch: list[tuple[str, str]] = []
    size = 0
    for i, body in enumerate(bodies):
        n = len(body.encode())
        if n > MAX_BATCH_BYTES:
            raise LineageSinkError(f"lineage record {i} is {n} bytes, over SQS's {MAX_BATCH_BYTES}-byte limit")
        if len(batch) == MAX_BATCH_ENTRIES or size + n > MAX_BATCH_BYTES:
            out.append(batch)
            batch, size = [], 0
        batch.append((str(i), body))
        size += n
    if batch:
        out.append(batch)
    return out


def pack(records: Sequence[LineageRecord], message_bytes: int = MESSAGE_BYTES) -> list[str]:
    """Message bodies: JSON lists of records, in order, each at most `message_bytes` unless
    one record alone is larger (it then travels alone)."""
    bodies: list[str] = []
    parts: list[str] = []
    size = 2  # the brackets
    for record in records:
        text = record.model_dump_json()
        n = len(text.encode()) + 1  # and a comma
        if parts and size + n > message_bytes:
            bodies.append("[" + ",".join(parts) + "]")
            parts, size = [], 2
        parts.append(text)
        size += n
    if parts:
        bodies.append("[" + ",".join(parts) + "]")
    return bodies


def send_to_queue(
    queue_url: str,
    records: Sequence[LineageRecord],
    *,
    message_bytes: int = MESSAGE_BYTES,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send every record (packed, see pack()) or raise; returns the number of
    SendMessageBatch calls. `message_bytes=1` sends one record per message."""
    from dagtrail.aws import client

    sqs = client("sqs")
    calls = 0
    for batch in batches(pack(records, message_bytes)):
        pending = batch
        for attempt in range(SEND_ATTEMPTS):
            calls += 1
            response = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": entry_id, "MessageBody": body} for entry_id, body in pending],
            )
            failed = response.get("Failed", [])
            if not failed:
                break
            fatal = [f for f in failed if f.get("SenderFault")]
            if fatal:
                raise LineageSinkError(f"SQS rejected lineage records: {_describe(fatal)}")
            retry = {f["Id"] for f in failed}
            pending = [entry for entry in pending if entry[0] in retry]
            if attempt + 1 < SEND_ATTEMPTS:
                sleep(random.uniform(0, 0.05 * 2**attempt))
        else:
            raise LineageSinkError(f"SQS kept failing lineage records after {SEND_ATTEMPTS} attempts: {_describe(failed)}")
    return calls


def _describe(failed: list[dict]) -> str:
    return "; ".join(f"{f.get('Id')}: {f.get('Code')} {f.get('Message', '')}".strip() for f in failed[:3])
