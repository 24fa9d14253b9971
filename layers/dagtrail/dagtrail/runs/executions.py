"""execution_events: Step Functions status changes → the run record and the lineage graph.

These events are best effort on AWS; the reconciler fills in what is missed.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime

from dagtrail import aws
from dagtrail.events.executions import ExecutionStatusChange
from dagtrail.runs import lineage as runs_lineage
from dagtrail.runs.models import RunRecord
from dagtrail.runs.table import RunsTable

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
# The compiler names the workflow in the machine's Comment; stack naming is the deployer's.
_COMMENT = re.compile(r"^dagtrail workflow ([a-z0-9-]+) ")
_GONE = {"StateMachineDoesNotExist", "InvalidArn"}


@functools.cache
def workflow_of(state_machine_arn: str) -> str:
    from botocore.exceptions import ClientError

    try:
        definition = aws.client("stepfunctions").describe_state_machine(
            stateMachineArn=state_machine_arn)["definition"]
    except ClientError as exc:
        # Deleted since (or never a machine): its events still count, under its own name.
        # Anything else (throttling) raises, and EventBridge delivers the event again.
        if exc.response.get("Error", {}).get("Code") not in _GONE:
            raise
        definition = "{}"
    match = _COMMENT.match(json.loads(definition).get("Comment", ""))
    return match.group(1) if match else state_machine_arn.rsplit(":", 1)[-1]


def _ms(value: int | None) -> str | None:
    return datetime.fromtimestamp(value / 1000, UTC).isoformat() if value else None


def record_status(event: ExecutionStatusChange, table: RunsTable | None = None) -> dict:
    table = table or RunsTable()
    d = event.detail
    try:
        params = json.loads(d.input or "{}").get("params", {})
    except (ValueError, AttributeError):
        params = {}
    table.put_run(RunRecord(
        run_id=d.name, workflow=workflow_of(d.stateMachineArn), execution_arn=d.executionArn,
        status="RUNNING", params=params if isinstance(params, dict) else {}, started_at=_ms(d.startDate),
    ))
    changed = False
    if d.status in TERMINAL:
        changed = table.finish_run(d.name, d.status, _ms(d.stopDate), d.error, d.cause)
    run = table.get_run(d.name)
    if run is not None:
        runs_lineage.execution(run)
    return {"run_id": d.name, "status": run.status if run else d.status, "changed": changed}


def parse_execution_event(event: dict) -> tuple[ExecutionStatusChange | None, str]:
    from pydantic import ValidationError

    kind = event.get("detail-type") if isinstance(event, dict) else None
    if kind != "Step Functions Execution Status Change":
        return None, f"not a Step Functions status change (detail-type {kind!r})"
    try:
        return ExecutionStatusChange.model_validate(event), ""
    except ValidationError as exc:
        return None, f"malformed {kind}: {str(exc).splitlines()[0]}"
