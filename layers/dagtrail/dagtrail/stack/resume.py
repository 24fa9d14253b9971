"""`dagtrail resume RUN_ID --stack NAME`: finish a failed run on AWS.

Two ways, chosen per run:
- RedriveExecution, when the run's machine still has the definition it ran with and the
  run ended (FAILED, TIMED_OUT, ABORTED) less than 14 days ago (Step Functions' redrive
  window): the same execution continues from the failed states; succeeded states are not
  run again, and nothing new is written for them.
- otherwise a new run of the current definition, with the same params and
  `options.resume_from` = RUN_ID in its run record: submit_task reuses every task that
  succeeded in RUN_ID with unchanged inputs (dagtrail.cache.lookup) and runs the rest.
Local runs (`dagtrail resume RUN_ID` without --stack) always take the second way.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from dagtrail.errors import NotFoundError, UsageError
from dagtrail.runs.models import RunRecord
from dagtrail.stack.errors import aws_call
from dagtrail.stack.outputs import Stack
from dagtrail.stack.start import console_url, new_run_id
from dagtrail.stack.status import run_execution, runs_table

REDRIVE_WINDOW = timedelta(days=14)
RESUMABLE = {"FAILED", "TIMED_OUT", "ABORTED"}


class ResumeResult(BaseModel):
    how: str  # "redrive" | "new-run"
    run_id: str
    execution_arn: str
    console_url: str
    reason: str


def resume_run(stack: Stack, run_id: str, *, now: datetime | None = None) -> ResumeResult:
    sfn = stack.client("stepfunctions")
    table = runs_table(stack)
    with aws_call(f"resume {run_id}"):
        _, execution = run_execution(stack, table, run_id)
        if execution["status"] not in RESUMABLE:
            raise UsageError(f"run {run_id} is {execution['status']}: only a failed, timed out or aborted run resumes")
        arn = execution["executionArn"]
        ran = sfn.describe_state_machine_for_execution(executionArn=arn)
        current = sfn.describe_state_machine(stateMachineArn=execution["stateMachineArn"])
        stopped = execution.get("stopDate")
        age = (now or datetime.now(UTC)) - stopped if stopped else REDRIVE_WINDOW
        if _same(ran["definition"], current["definition"]) and age < REDRIVE_WINDOW:
            sfn.redrive_execution(executionArn=arn)
            return ResumeResult(how="redrive", run_id=run_id, execution_arn=arn,
                                console_url=console_url(stack.region, arn),
                                reason="definition unchanged and within the 14-day redrive window")
        params = json.loads(execution.get("input") or "{}").get("params", {})
        workflow = current["name"].removeprefix(f"{stack.name}-")
        new_id = new_run_id(workflow)
        table.put_run(RunRecord(run_id=new_id, workflow=workflow, params=params,
                                options={"resume_from": run_id}))
        new_arn = sfn.start_execution(stateMachineArn=execution["stateMachineArn"], name=new_id,
                                      input=json.dumps({"params": params}, sort_keys=True))["executionArn"]
    reason = "definition changed since the run" if age < REDRIVE_WINDOW else "past the 14-day redrive window"
    return ResumeResult(how="new-run", run_id=new_id, execution_arn=new_arn,
                        console_url=console_url(stack.region, new_arn), reason=reason)


def _same(a: Any, b: Any) -> bool:
    return json.loads(a) == json.loads(b)
