"""Working against a deployed stack: deploy a workflow, start a run, its status and logs.

Everything a command needs about the stack comes from its CloudFormation outputs
(template.yaml's Outputs), read once per command.

Exports resolve lazily: start_from_upload imports dagtrail.stack.machines in a Lambda, and
importing this package must not drag in the compiler, the runs table or local mode.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DeployResult": "deploy", "deploy_workflow": "deploy",
    "MissingOutput": "errors", "StackError": "errors", "StackNotFound": "errors",
    "LogSource": "logs", "log_lines": "logs", "log_source": "logs",
    "Stack": "outputs", "load_stack": "outputs",
    "StartResult": "start", "console_url": "start", "start_run": "start",
    "AttemptStatus": "status", "RunStatus": "status", "TaskStatus": "status", "run_status": "status",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
