"""`dagtrail start`: one run of a deployed workflow, its parameters checked first.

Overrides are validated against the parameter defaults recorded in the deployed machine's
Comment (see machines.py); the execution input is `{"params": defaults | overrides}`
(docs/internals.md). The run id is the execution name.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from dagtrail.errors import NotFoundError, UsageError
from dagtrail.spec.models import WorkflowSpec
from dagtrail.stack.errors import StackError, aws_call, error_code
from dagtrail.stack.machines import DeployedWorkflow, read_comment
from dagtrail.stack.outputs import Stack

# Machines that log to CloudWatch accept only these characters in execution names.
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


class StartResult(BaseModel):
    run_id: str
    workflow: str
    execution_arn: str
    params: dict[str, Any]
    console_url: str


def console_url(region: str, execution_arn: str) -> str:
    return (f"https://{region}.console.aws.amazon.com/states/home?region={region}"
            f"#/v2/executions/details/{execution_arn}")


def new_run_id(workflow: str) -> str:
    """Same shape as local runs' ids: sortable by time, unique without coordination."""
    return f"{workflow}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def deployed_workflow(stack: Stack, workflow: str) -> DeployedWorkflow:
    from botocore.exceptions import ClientError

    name = stack.machine_name(workflow)
    with aws_call(f"describe {name}"):
        try:
            definition = stack.client("stepfunctions").describe_state_machine(
                stateMachineArn=stack.machine_arn(workflow))["definition"]
        except ClientError as exc:
            if error_code(exc) in ("StateMachineDoesNotExist", "InvalidArn"):
                raise NotFoundError(f"workflow {workflow!r} is not deployed on stack {stack.name} "
                                    f"(no state machine {name}); run `dagtrail deploy`") from None
            raise
    found = read_comment(json.loads(definition))
    if found is None or found.name != workflow:
        raise StackError(f"state machine {name} is not a compiled dagtrail workflow {workflow!r}")
    return found


def parameters_of(deployed: DeployedWorkflow, stack: Stack, spec: WorkflowSpec | None) -> dict[str, Any]:
    """The deployed parameter defaults: from the Comment, or from a spec whose hash matches."""
    if spec is not None:
        if spec.content_hash() != deployed.content_hash:
            raise UsageError(f"--spec: workflow {spec.name} differs from the one deployed on stack "
                             f"{stack.name} ({deployed.content_hash[:19]}…); deploy it first")
        return dict(spec.parameters)
    if deployed.parameters is None:
        raise UsageError(f"{stack.machine_name(deployed.name)} records no parameter defaults (deployed by "
                         "`sam deploy`); pass --spec with its workflow spec, or deploy it with `dagtrail deploy`")
    return deployed.parameters


def start_run(stack: Stack, workflow: str, overrides: Mapping[str, str], *, run_id: str | None = None,
              spec: WorkflowSpec | None = None) -> StartResult:
    from botocore.exceptions import ClientError

    from dagtrail.spec.params import resolve_params

    if spec is not None and spec.name != workflow:
        raise UsageError(f"--spec defines workflow {spec.name!r}, not {workflow!r}")
    if run_id is not None and not RUN_ID.match(run_id):
        raise UsageError(f"--name {run_id!r}: 1 to 80 letters, digits, '-' or '_'")
    deployed = deployed_workflow(stack, workflow)
    defaults = parameters_of(deployed, stack, spec)
    # resolve_params reads only .name and .parameters: the deployed record stands in for the spec.
    params = resolve_params(_Declared(name=workflow, parameters=defaults), overrides)  # type: ignore[arg-type]
    run_id = run_id or new_run_id(workflow)
    with aws_call(f"start {workflow}"):
        try:
            arn = stack.client("stepfunctions").start_execution(
                stateMachineArn=stack.machine_arn(workflow), name=run_id,
                input=json.dumps({"params": params}, sort_keys=True))["executionArn"]
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                raise UsageError(f"run id {run_id!r} is already taken on {stack.machine_name(workflow)} "
                                 "(names stay reserved for 90 days); choose another --name") from None
            raise
    return StartResult(run_id=run_id, workflow=workflow, execution_arn=arn, params=params,
                       console_url=console_url(stack.region, arn))


class _Declared(BaseModel):
    name: str
    parameters: dict[str, Any]
