"""A task definition with `{{ params.name }}` rendered, at submit time."""

from __future__ import annotations

from collections.abc import Mapping

from dagtrail.spec.models import TaskSpec
from dagtrail.spec.params import render


def render_task(task: TaskSpec, params: Mapping) -> TaskSpec:
    """Each argv item is rendered on its own and stays one argument: no shell, no splitting."""
    return task.model_copy(update={
        "command": tuple(render(arg, params) for arg in task.command),
        "env": {k: render(v, params) for k, v in task.env.items()},
    })
