"""Spec checks of sweep tasks that need the whole workflow (called by WorkflowSpec)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagtrail.errors import SpecError
from dagtrail.sweeps.sizing import INLINE_MAX_ITEMS_ECS
from dagtrail.sweeps.template import item_references

if TYPE_CHECKING:
    from dagtrail.spec.models import WorkflowSpec


def check_sweeps(spec: WorkflowSpec) -> None:
    for name in sorted(spec.tasks):
        task = spec.tasks[name]
        if task.foreach is None:
            if task.max_parallel is not None:
                raise SpecError("max_parallel needs foreach (it bounds a sweep's items)", task=name,
                                field="max_parallel")
            continue
        foreach = task.foreach
        if foreach.source_task is not None and foreach.source_task not in task.depends_on:
            raise SpecError(
                f"foreach reads {foreach.from_!r}, but {foreach.source_task!r} is not in depends_on",
                task=name, field="foreach.from",
            )
        count = foreach.count()
        if task.compute == "ecs" and (count is None or count > INLINE_MAX_ITEMS_ECS):
            size = "an unknown number of" if count is None else str(count)
            raise SpecError(
                f"an ECS sweep runs one task per item and is limited to {INLINE_MAX_ITEMS_ECS} items "
                f"known in advance (this one has {size}); use compute: batch for array jobs",
                task=name, field="foreach",
            )
        keys = foreach.keys()
        fields = [(f"command[{i}]", arg) for i, arg in enumerate(task.command)]
        fields += [(f"env.{k}", v) for k, v in task.env.items()]
        for field, text in fields:
            for key in item_references(text):
                if key is None or keys is None or key in keys:
                    continue
                have = f"keys: {', '.join(sorted(keys))}" if keys else "its items are not mappings"
                raise SpecError(f"'{{{{ item.{key} }}}}': not every item has key {key!r} ({have})",
                                task=name, field=field)
