"""Workflow specs: models, the YAML loader, parameters and validation."""

# The submodule dagtrail.spec.render (render_task) shares its name with the render()
# function exported here. Importing a submodule for the first time sets it as an
# attribute of this package, which would shadow the function; importing it first, then
# binding the function, keeps `dagtrail.spec.render` the function for good.
from dagtrail.spec import render as _render_module  # noqa: F401  (see above)
from dagtrail.spec.models import Resources, TaskSpec, WorkflowSpec, parse_duration
from dagtrail.spec.params import parse_param_args, render, resolve_params


def __getattr__(name: str) -> object:
    # The YAML loader (PyYAML, difflib) loads on first use: handlers import this package for
    # the models and never read a spec file, and their cold start should not pay for it.
    if name in ("load_spec", "load_spec_text"):
        from dagtrail.spec import loader

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
