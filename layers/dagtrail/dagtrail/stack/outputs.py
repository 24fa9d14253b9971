"""A deployed dagtrail stack, as its CloudFormation outputs describe it (template.yaml's Outputs)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from dagtrail import aws
from dagtrail.stack.errors import MissingOutput, StackError, StackNotFound, aws_call, error_code

# Outputs the commands read; template.yaml declares each.
SUBMIT_TASK_FUNCTION = "SubmitTaskFunctionArn"
STATE_MACHINE_ROLE = "StateMachineRoleArn"
STATE_MACHINE_LOG_GROUP = "StateMachineLogGroupArn"
RUNS_TABLE = "RunsTableName"
TASK_LOG_GROUP = "TaskLogGroupName"
DEFAULT_TASK_LOG_GROUP = "/aws/batch/job"  # Batch's own, for job definitions without a log configuration


class Stack(BaseModel):
    name: str
    stack_id: str  # arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<uuid>
    outputs: dict[str, str] = Field(default_factory=dict)

    @property
    def partition(self) -> str:
        return self.stack_id.split(":")[1]

    @property
    def region(self) -> str:
        return self.stack_id.split(":")[3]

    @property
    def account(self) -> str:
        return self.stack_id.split(":")[4]

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise MissingOutput(f"stack {self.name} has no output {key!r}; update it with `sam deploy` "
                                "from a template.yaml that declares it")
        return value

    def client(self, service: str):
        return aws.client(service, self.region)

    def machine_name(self, workflow: str) -> str:
        """template.yaml's naming: the stack's EventBridge rule matches every "<stack>-" machine."""
        return f"{self.name}-{workflow}"

    def machine_arn(self, workflow: str) -> str:
        return self.machine_arn_of(self.machine_name(workflow))

    def machine_arn_of(self, machine_name: str) -> str:
        return f"arn:{self.partition}:states:{self.region}:{self.account}:stateMachine:{machine_name}"

    def execution_arn(self, machine_name: str, run_id: str) -> str:
        return f"arn:{self.partition}:states:{self.region}:{self.account}:execution:{machine_name}:{run_id}"

    def task_log_group(self) -> str:
        return self.outputs.get(TASK_LOG_GROUP) or DEFAULT_TASK_LOG_GROUP


def load_stack(name: str, region: str | None = None) -> Stack:
    """The stack's outputs; StackNotFound when there is no such stack (or it was deleted)."""
    from botocore.exceptions import ClientError

    from botocore.exceptions import NoRegionError

    try:
        cfn = aws.client("cloudformation", region)
    except NoRegionError:
        raise StackError("no AWS region: pass --region, or set AWS_REGION or a profile's region") from None
    with aws_call(f"describe stack {name}"):
        try:
            stacks = cfn.describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            # CloudFormation answers an unknown stack with a ValidationError "... does not exist".
            if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
                where = f" in {region}" if region else ""
                raise StackNotFound(f"no stack {name!r}{where}") from None
            raise
    if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
        raise StackNotFound(f"no stack {name!r}")
    found = stacks[0]
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in found.get("Outputs", [])}
    return Stack(name=found["StackName"], stack_id=found["StackId"], outputs=outputs)
