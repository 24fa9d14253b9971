"""Sweep bookkeeping in the runs table (keys in docs/internals.md):

* the task record (`RUN#<run>`/`TASK#<task>`) gains items_total, items_succeeded,
  items_failed, sweep_mode, sweep_attempt, chunks_total and a `chunk_<k>` flag per chunk done;
* one item record per item (`RUN#<run>`/`ITEM#<task>#<index>`): its state, try, job,
  times and exit code. It moves forward only, by (try, state rank), and an item's final
  outcome bumps the task's counters in the same transaction: exactly once.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from dagtrail.dynamo_values import from_item as _item
from dagtrail.dynamo_values import to_attribute as _attr
from dagtrail.runs.models import TaskRecord
from dagtrail.runs.states import JobState, rank
from dagtrail.runs.table import RunsTable, _conditional, _now, token_hash


def item_sk(task: str, index: int) -> str:
    return f"ITEM#{task}#{index:09d}"


def item_rank(item_try: int, state: JobState) -> int:
    """Later tries outrank earlier ones; within a try, Batch's state order."""
    return item_try * 10 + rank(state)


def start_sweep(table: RunsTable, run_id: str, task: str, *, total: int, attempt: int, mode: str,
                chunks: int = 1) -> TaskRecord:
    """Create or keep the sweep's fields on its task record (the first writer wins)."""
    values = {"items_total": total, "sweep_attempt": attempt, "sweep_mode": mode, "chunks_total": chunks,
              "items_succeeded": 0, "items_failed": 0, "status": "PENDING", "attempts": 0, "jobs": {}}
    # The latest attempt's size and prefix win; counters and status are created once.
    latest = ("items_total", "sweep_attempt", "sweep_mode", "chunks_total")
    sets = ", ".join(f"#{k} = :{k}" if k in latest else f"#{k} = if_not_exists(#{k}, :{k})" for k in values)
    resp = table._ddb.update_item(
        TableName=table.name, Key=table._key(f"RUN#{run_id}", f"TASK#{task}"),
        UpdateExpression=f"SET {sets}, run_id = :run, task = :task",
        ExpressionAttributeNames={f"#{k}": k for k in values},
        ExpressionAttributeValues={**{f":{k}": _attr(v) for k, v in values.items()},
                                   ":run": _attr(run_id), ":task": _attr(task)},
        ReturnValues="ALL_NEW",
    )
    return TaskRecord(**_item(resp["Attributes"]))


def chunk_sk(task: str, chunk: int) -> str:
    return f"CHUNK#{task}#{chunk:06d}"


def assign_item(table: RunsTable, run_id: str, sk: str, token: str) -> tuple[int, str | None]:
    """The try number of an item (or chunk) record `sk` for this task token, allocated once
    per token (like RunsTable.assign_attempt). A repeated token gets its try and job id."""
    h = token_hash(token)
    key = table._key(f"RUN#{run_id}", sk)
    try:
        resp = table._ddb.update_item(
            TableName=table.name, Key=key,
            UpdateExpression="SET tries = if_not_exists(tries, :zero) + :one, #tok = if_not_exists(tries, :zero) + :one",
            ConditionExpression="attribute_not_exists(#tok)",
            ExpressionAttributeNames={"#tok": f"tok_{h}"},
            ExpressionAttributeValues={":zero": _attr(0), ":one": _attr(1)},
            ReturnValues="ALL_NEW",
        )
        return int(_item(resp["Attributes"])["tries"]), None
    except ClientError as exc:
        if not _conditional(exc):
            raise
    raw = _item(table._ddb.get_item(TableName=table.name, Key=key, ConsistentRead=True).get("Item", {}))
    return int(raw[f"tok_{h}"]), raw.get(f"job_{h}")


def link_item_job(table: RunsTable, run_id: str, sk: str, token: str, job_id: str) -> None:
    table._ddb.update_item(
        TableName=table.name, Key=table._key(f"RUN#{run_id}", sk),
        UpdateExpression="SET #job = :job", ExpressionAttributeNames={"#job": f"job_{token_hash(token)}"},
        ExpressionAttributeValues={":job": _attr(job_id)},
    )


def item_transition(table: RunsTable, run_id: str, task: str, index: int, *, item_try: int, state: JobState,
                    fields: dict[str, Any], final: bool) -> bool:
    """Move an item forward; True if applied. A final outcome (SUCCEEDED, or FAILED with no
    try left) adds one to the task's items_succeeded or items_failed in the same write."""
    values = {k: v for k, v in fields.items() if v is not None}
    values.update({"state": state.value, "item_rank": item_rank(item_try, state), "item_try": item_try,
                   "index": index, "updated_at": _now()})
    update: dict[str, Any] = {
        "TableName": table.name, "Key": table._key(f"RUN#{run_id}", item_sk(task, index)),
        "UpdateExpression": "SET " + ", ".join(f"#{k} = :{k}" for k in values),
        "ConditionExpression": "attribute_not_exists(item_rank) OR item_rank < :item_rank",
        "ExpressionAttributeNames": {f"#{k}": k for k in values},
        "ExpressionAttributeValues": {f":{k}": _attr(v) for k, v in values.items()},
    }
    if not final:
        try:
            table._ddb.update_item(**update)
            return True
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise
    counter = "items_succeeded" if state == JobState.SUCCEEDED else "items_failed"
    try:
        table._ddb.transact_write_items(TransactItems=[
            {"Update": update},
            {"Update": {
                "TableName": table.name, "Key": table._key(f"RUN#{run_id}", f"TASK#{task}"),
                "UpdateExpression": f"ADD {counter} :one", "ExpressionAttributeValues": {":one": _attr(1)},
            }},
        ])
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
            return False
        raise


def get_item(table: RunsTable, run_id: str, task: str, index: int) -> dict[str, Any] | None:
    raw = table._ddb.get_item(TableName=table.name, Key=table._key(f"RUN#{run_id}", item_sk(task, index)),
                              ConsistentRead=True).get("Item")
    return _item(raw) if raw else None


def list_items(table: RunsTable, run_id: str, task: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table.name, "ConsistentRead": True,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :item)",
        "ExpressionAttributeValues": {":pk": _attr(f"RUN#{run_id}"), ":item": _attr(f"ITEM#{task}#")},
    }
    while True:
        page = table._ddb.query(**kwargs)
        out.extend(_item(raw) for raw in page["Items"])
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def mark_chunk_done(table: RunsTable, run_id: str, task: str, chunk: int) -> tuple[TaskRecord, int]:
    """Flag a chunk's array job as succeeded (idempotent); returns the task record after and
    how many chunks are done."""
    resp = table._ddb.update_item(
        TableName=table.name, Key=table._key(f"RUN#{run_id}", f"TASK#{task}"),
        UpdateExpression="SET #c = :t", ExpressionAttributeNames={"#c": f"chunk_{chunk}"},
        ExpressionAttributeValues={":t": _attr(True)}, ReturnValues="ALL_NEW",
    )
    raw = _item(resp["Attributes"])
    return TaskRecord(**raw), sum(1 for k in raw if k.startswith("chunk_"))
