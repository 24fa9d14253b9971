"""`dagtrail deploy`: a compiled workflow as the stack's "<stack>-<workflow>" state machine.

Create or update, with what the stack's own machines get from template.yaml: its role, the
${SubmitTaskFunctionArn} substitution, logging to its log group and X-Ray tracing. A deploy
that would change nothing makes no update call.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel

from dagtrail.spec.models import WorkflowSpec
from dagtrail.stack import outputs
from dagtrail.stack.errors import StackError, aws_call, error_code
from dagtrail.stack.machines import substitute, with_parameters
from dagtrail.stack.outputs import Stack

NAME_MAX = 80  # Step Functions state machine names
DEFINITION_MAX = 1024 * 1024  # bytes


class DeployResult(BaseModel):
    workflow: str
    state_machine_arn: str
    action: Literal["created", "updated", "unchanged"]


def machine_config(stack: Stack) -> dict[str, Any]:
    """Role, logging and tracing as template.yaml sets them on its own machines."""
    log_group = stack.output(outputs.STATE_MACHINE_LOG_GROUP)
    if not log_group.endswith(":*"):  # Step Functions wants the log group ARN with its ":*" suffix
        log_group += ":*"
    return {
        "roleArn": stack.output(outputs.STATE_MACHINE_ROLE),
        "loggingConfiguration": {
            "level": "ALL",
            "includeExecutionData": False,
            "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": log_group}}],
        },
        "tracingConfiguration": {"enabled": True},
    }


def definition_for(spec: WorkflowSpec, stack: Stack) -> dict[str, Any]:
    from dagtrail.compiler import compile_workflow

    asl = with_parameters(compile_workflow(spec), spec.parameters)
    return substitute(asl, {"SubmitTaskFunctionArn": stack.output(outputs.SUBMIT_TASK_FUNCTION)})


def deploy_workflow(spec: WorkflowSpec, stack: Stack) -> DeployResult:
    from botocore.exceptions import ClientError

    name = stack.machine_name(spec.name)
    if len(name) > NAME_MAX:
        raise StackError(f"state machine name {name!r} is longer than {NAME_MAX} characters; "
                         "use a shorter stack or workflow name")
    definition = definition_for(spec, stack)
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > DEFINITION_MAX:
        raise StackError(f"workflow {spec.name}: the compiled definition is over the 1 MB Step Functions limit")
    config = machine_config(stack)
    arn = stack.machine_arn(spec.name)
    sfn = stack.client("stepfunctions")
    with aws_call(f"deploy {name}"):
        current = _describe(sfn, arn)
        if current is None:
            try:
                sfn.create_state_machine(
                    name=name, definition=text, type="STANDARD", **config,
                    tags=[{"key": "dagtrail:workflow", "value": spec.name},
                          {"key": "dagtrail:stack", "value": stack.name}],
                )
                return DeployResult(workflow=spec.name, state_machine_arn=arn, action="created")
            except ClientError as exc:
                if error_code(exc) != "StateMachineAlreadyExists":
                    raise
                current = _describe(sfn, arn)  # a concurrent deploy created it: compare with that
        if current is not None and _same(current, definition, config):
            return DeployResult(workflow=spec.name, state_machine_arn=arn, action="unchanged")
        _refuse_if_owned_by_template(sfn, arn, name)
        sfn.update_state_machine(stateMachineArn=arn, definition=text, **config)
    return DeployResult(workflow=spec.name, state_machine_arn=arn, action="updated")


def _describe(sfn, arn: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return sfn.describe_state_machine(stateMachineArn=arn)
    except ClientError as exc:
        if error_code(exc) == "StateMachineDoesNotExist":
            return None
        raise


def _refuse_if_owned_by_template(sfn, arn: str, name: str) -> None:
    """The stack's own machines change with `sam deploy`; updating one here would be drift
    that the next stack update silently reverts."""
    tags = {t["key"]: t["value"] for t in sfn.list_tags_for_resource(resourceArn=arn).get("tags", [])}
    logical_id = tags.get("aws:cloudformation:logical-id")
    if logical_id:
        raise StackError(f"{name} is the stack's own {logical_id} (template.yaml): recompile it into "
                         "statemachines/ with `dagtrail compile` and run `sam deploy` instead")


def _same(current: dict[str, Any], definition: dict[str, Any], config: dict[str, Any]) -> bool:
    try:
        deployed = json.loads(current.get("definition") or "{}")
    except ValueError:
        return False
    logging = current.get("loggingConfiguration") or {}
    return (
        deployed == definition
        and current.get("roleArn") == config["roleArn"]
        and logging.get("level") == config["loggingConfiguration"]["level"]
        and bool(logging.get("includeExecutionData")) is False
        and (logging.get("destinations") or []) == config["loggingConfiguration"]["destinations"]
        and bool((current.get("tracingConfiguration") or {}).get("enabled"))
    )
