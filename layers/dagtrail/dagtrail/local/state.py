"""The runs table outlives a local run: saved to the workdir after it, loaded before the next.

moto keeps tables in memory; this is what makes the cache, `dagtrail resume` and
`dagtrail status` work across local runs, as they do across executions on AWS.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dagtrail.local import moto_patches
from dagtrail.local.services import ACCOUNT, REGION

STATE_FILE = "runs-table.jsonl"


def path(workdir: Path) -> Path:
    return workdir / "state" / STATE_FILE


def load(workdir: Path, table: str) -> int:
    """Put every saved item into the (empty, emulated) table. Returns how many."""
    source = path(workdir)
    if not source.exists():
        return 0
    items = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    moto_patches.put_items(table, items, ACCOUNT, REGION)
    return len(items)


def save(workdir: Path, table: str) -> int:
    """Write every item of the table, atomically. Returns how many."""
    target = path(workdir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    items = moto_patches.table_items(table, ACCOUNT, REGION)
    with tmp.open("w") as out:
        out.writelines(json.dumps(item, sort_keys=True) + "\n" for item in items)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(target)
    return len(items)
