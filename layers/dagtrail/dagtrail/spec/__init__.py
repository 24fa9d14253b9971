"""Workflow specs: models, the YAML loader and validation."""

from dagtrail.spec.models import Resources, TaskSpec, WorkflowSpec, parse_duration

__all__ = ["Resources", "TaskSpec", "WorkflowSpec", "parse_duration"]
