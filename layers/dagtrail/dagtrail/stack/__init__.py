"""Working against a deployed stack: deploy a workflow, start a run, its status and logs.

Everything a command needs about the stack comes from its CloudFormation outputs
(template.yaml's Outputs), read once per command.
"""

from dagtrail.stack.deploy import DeployResult, deploy_workflow
from dagtrail.stack.errors import MissingOutput, StackError, StackNotFound
from dagtrail.stack.logs import LogSource, log_lines, log_source
from dagtrail.stack.outputs import Stack, load_stack
from dagtrail.stack.start import StartResult, console_url, start_run
from dagtrail.stack.status import AttemptStatus, RunStatus, TaskStatus, run_status

__all__ = [
    "AttemptStatus",
    "DeployResult",
    "LogSource",
    "MissingOutput",
    "RunStatus",
    "Stack",
    "StackError",
    "StackNotFound",
    "StartResult",
    "TaskStatus",
    "console_url",
    "deploy_workflow",
    "load_stack",
    "log_lines",
    "log_source",
    "run_status",
    "start_run",
]
