"""Workflow specs: models, the YAML loader, parameters and validation."""

# The submodule dagtrail.spec.render (render_task) shares its name with the render()
# function exported here. Importing a submodule for the first time sets it as an
# attribute of this package, which would shadow the function; importing it first, then
# binding the function, keeps `dagtrail.spec.render` the function for good.
from dagtrail.spec import render as _render_module  # noqa: F401  (see above)
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
