"""The compiler: a workflow spec in, a Step Functions state machine (JSONPath ASL) out."""

from dagtrail.compiler.machine import compile_workflow, to_json

__all__ = ["compile_workflow", "to_json"]
