"""Lineage records that could not be written, and `dagtrail lineage replay`, which writes them.

On AWS a message the lineage_writer failed maxReceiveCount times is moved by SQS's redrive
policy to the lineage DLQ, as it was sent: a redrive carries no reason, so the writer logs
it and replay finds it again, trying each message and reporting why any still fails.

In local mode the queues live in moto for one run; at its end the engine moves whatever is
still queued or dead-lettered into `<workdir>/state/lineage-dlq.jsonl` (one DeadLetter per
line), which replay reads instead of a queue.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

DLQ_FILE = Path("state") / "lineage-dlq.jsonl"
RECEIVE_BATCH = 10  # SQS's maximum per ReceiveMessage
WRITE_BATCH = 100  # messages per batched write, as the writer's event source mapping
# Long enough to write a received batch; failed messages are made visible again at the end.
VISIBILITY_SECONDS = 300


class DeadLetter(BaseModel):
    """One lineage message that did not reach the graph."""

    model_config = ConfigDict(extra="ignore")

    message_id: str
    body: str
    reason: str | None = None


class ReplayReport(BaseModel):
    source: str
    messages: int = 0
    landed: int = 0
    records: int = 0
    failed: list[DeadLetter] = []
    untried: int = 0  # left unread after the graph proved unreachable (-1: an unknown number)


def dlq_file(workdir: Path) -> Path:
    return Path(workdir) / DLQ_FILE


# ---------------------------------------------------------------- local mode: the run's end


def save_unwritten(queue_urls: Sequence[str], path: Path, *, sqs: Any = None) -> int:
    """Move every message left in `queue_urls` into `path` (appended, deduplicated by message
    id); returns how many were moved. Deleted from the queue only once written to the file."""
    if sqs is None:
        from dagtrail import aws

        sqs = aws.client("sqs")
    known = {d.message_id for d in read_file(path)}
    moved = 0
    for url in queue_urls:
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=RECEIVE_BATCH,
                                           VisibilityTimeout=VISIBILITY_SECONDS).get("Messages", [])
            if not messages:
                break
            fresh = [DeadLetter(message_id=m["MessageId"], body=m["Body"])
                     for m in messages if m["MessageId"] not in known]
            _append(path, fresh)
            known.update(d.message_id for d in fresh)
            moved += len(fresh)
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    return moved


def read_file(path: Path) -> list[DeadLetter]:
    if not path.is_file():
        return []
    return [DeadLetter.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


def _append(path: Path, letters: Iterable[DeadLetter]) -> None:
    letters = list(letters)
    if not letters:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.writelines(d.model_dump_json() + "\n" for d in letters)
        f.flush()
        os.fsync(f.fileno())


def _rewrite(path: Path, letters: list[DeadLetter]) -> None:
    if not letters:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(d.model_dump_json() + "\n" for d in letters))
    os.replace(tmp, path)


# ---------------------------------------------------------------- replay


def _apply(letters: Sequence[DeadLetter], g: Any, reconnect: Callable[[], Any] | None,
           report: ReplayReport) -> list[DeadLetter]:
    """Write a batch of dead letters; count what landed; return the ones that failed again."""
    from dagtrail.lineage.writer import apply_messages, parse_body

    failed = apply_messages([(d.message_id, d.body) for d in letters], g=g, reconnect=reconnect)
    report.messages += len(letters)
    again = []
    for d in letters:
        if d.message_id in failed:
            again.append(d.model_copy(update={"reason": failed[d.message_id]}))
        else:
            report.landed += 1
            report.records += len(parse_body(d.body))
    report.failed += again
    return again


def replay_file(path: Path, g: Any, *, reconnect: Callable[[], Any] | None = None) -> ReplayReport:
    """Write the saved messages of local runs; the file keeps only those that failed again
    (with their reasons) and is removed when none did."""
    letters = read_file(path)
    report = ReplayReport(source=str(path))
    untried: list[DeadLetter] = []
    for i in range(0, len(letters), WRITE_BATCH):
        if _graph_down(_apply(letters[i:i + WRITE_BATCH], g, reconnect, report)):
            untried = letters[i + WRITE_BATCH:]
            report.untried = len(untried)
            break
    _rewrite(path, report.failed + untried)
    return report


def replay_queue(queue_url: str, g: Any, *, reconnect: Callable[[], Any] | None = None,
                 sqs: Any = None) -> ReplayReport:
    """Drain the DLQ into the graph: landed messages are deleted, failed ones stay in the
    DLQ, visible again at once for the next replay."""
    if sqs is None:
        from dagtrail import aws

        sqs = aws.client("sqs")
    report = ReplayReport(source=queue_url)
    keep: list[dict[str, Any]] = []
    seen: set[str] = set()
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=RECEIVE_BATCH,
                                       VisibilityTimeout=VISIBILITY_SECONDS).get("Messages", [])
        messages = [m for m in messages if m["MessageId"] not in seen]
        if not messages:
            break
        seen.update(m["MessageId"] for m in messages)
        letters = [DeadLetter(message_id=m["MessageId"], body=m["Body"]) for m in messages]
        failed = _apply(letters, g, reconnect, report)
        again = {d.message_id for d in failed}
        done = [m for m in messages if m["MessageId"] not in again]
        keep += [m for m in messages if m["MessageId"] in again]
        if done:
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        if _graph_down(failed):
            report.untried = -1  # the rest of the DLQ was not read
            break
    for i in range(0, len(keep), RECEIVE_BATCH):
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for j, m in enumerate(keep[i:i + RECEIVE_BATCH])])
    return report


def _graph_down(failed: list[DeadLetter]) -> bool:
    """Every further batch would fail the same way: stop instead of waiting out each retry."""
    from dagtrail.lineage.writer import UNAVAILABLE

    return any((d.reason or "").startswith(UNAVAILABLE) for d in failed)


def render_text(report: ReplayReport) -> str:
    lines = [f"replayed {report.messages} messages from {report.source}: {report.landed} landed "
             f"({report.records} records), {len(report.failed)} failed again"]
    if report.untried:
        rest = "the rest of the queue" if report.untried < 0 else f"{report.untried} more messages"
        lines.append(f"stopped: the graph is unreachable; {rest} left for the next replay")
    lines += [f"  {d.message_id}: {d.reason}" for d in report.failed]
    return "\n".join(lines) + "\n"
