"""Workflow specs: models, the YAML loader, parameters and validation."""

from dagtrail.spec.loader import load_spec, load_spec_text
from dagtrail.spec.models import Resources, TaskSpec, WorkflowSpec, parse_duration
from dagtrail.spec.params import parse_param_args, render, resolve_params

__all__ = [
    "Resources",
    "TaskSpec",
    "WorkflowSpec",
    "load_spec",
    "load_spec_text",
    "parse_duration",
    "parse_param_args",
    "render",
    "resolve_params",
]
