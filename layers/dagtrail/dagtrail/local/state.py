"""The runs table outlives a local run: saved to the workdir after it, loaded before the next.

moto keeps tables in memory; this is what makes the cache, `dagtrail resume` and
`dagtrail status` work across local runs, as they do across executions on AWS.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dagtrail import aws

STATE_FILE = "runs-table.jsonl"


def path(workdir: Path) -> Path:
    return workdir / "state" / STATE_FILE


def load(workdir: Path, table: str) -> int:
    """Put every saved item into the (empty, emulated) table. Returns how many."""
    source = path(workdir)
    if not source.exists():
        return 0
    items = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    ddb = aws.client("dynamodb")
    for i in range(0, len(items), 25):  # BatchWriteItem takes at most 25 items
        pending = {table: [{"PutRequest": {"Item": item}} for item in items[i:i + 25]]}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return len(items)


def save(workdir: Path, table: str) -> int:
    """Write every item of the table, atomically. Returns how many."""
    ddb = aws.client("dynamodb")
    target = path(workdir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    count = 0
    with tmp.open("w") as out:
        for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            for item in page["Items"]:
                out.write(json.dumps(item, sort_keys=True) + "\n")
                count += 1
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(target)
    return count
