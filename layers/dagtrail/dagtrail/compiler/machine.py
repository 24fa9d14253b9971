"""Spec in, ASL out: a pure function, no I/O, no clock, deterministic."""

from __future__ import annotations

import json
from typing import Any

from dagtrail.compiler.layout import Block, Parallel, Task, layout, steps_of
from dagtrail.compiler.states import State, fan_out, fan_out_name, task_failed, task_state
from dagtrail.compiler.sweep import sweep_states
from dagtrail.spec.models import WorkflowSpec


def compile_workflow(spec: WorkflowSpec) -> dict[str, Any]:
    """The state machine (JSONPath ASL) that runs `spec`, with ${SubmitTaskFunctionArn}."""
    block = layout({name: task.depends_on for name, task in spec.tasks.items()})
    start, states = _chain(spec, steps_of(block))
    return {
        "Comment": f"dagtrail workflow {spec.name} ({spec.content_hash()})",
        "StartAt": PARAMETERS,
        "States": parameter_defaults(dict(spec.parameters), next_state=start) | states,
    }


# Names with capitals and spaces: task names are lowercase without spaces, so never collide.
PARAMETERS = "Parameters"
USE_DEFAULTS = "Use defaults"
MERGE_DEFAULTS = "Merge defaults"
APPLY_PARAMS = "Apply params"


def parameter_defaults(defaults: dict[str, Any], *, next_state: str) -> dict[str, State]:
    """Whoever starts a run (CLI, console, upload, schedule) may pass some, all or no params:
    the machine itself fills in the spec's defaults, so every Task state sees them all."""
    return {
        PARAMETERS: {
            "Type": "Choice",
            "Choices": [{"Variable": "$.params", "IsPresent": True, "Next": MERGE_DEFAULTS}],
            "Default": USE_DEFAULTS,
        },
        USE_DEFAULTS: {"Type": "Pass", "Result": defaults, "ResultPath": "$.params", "Next": next_state},
        MERGE_DEFAULTS: {"Type": "Pass", "Result": defaults, "ResultPath": "$.defaults", "Next": APPLY_PARAMS},
        APPLY_PARAMS: {
            "Type": "Pass",
            "Parameters": {"params.$": "States.JsonMerge($.defaults, $.params, false)"},
            "Next": next_state,
        },
    }


def to_json(asl: dict[str, Any]) -> str:
    """Byte-for-byte stable text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(asl, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _chain(spec: WorkflowSpec, steps: tuple[Block, ...]) -> tuple[str, dict[str, State]]:
    """States for blocks run one after another: (StartAt, States)."""
    names = [_state_name(step) for step in steps]
    states: dict[str, State] = {}
    for i, step in enumerate(steps):
        next_state = names[i + 1] if i + 1 < len(steps) else None
        if isinstance(step, Task) and spec.tasks[step.name].foreach is not None:
            states.update(sweep_states(spec.name, step.name, spec.tasks[step.name], next_state=next_state))
        elif isinstance(step, Task):
            states[step.name] = task_state(spec.name, step.name, spec.tasks[step.name], next_state=next_state)
            failed = task_failed(step.name)
            states[states[step.name]["Catch"][0]["Next"]] = failed
        elif isinstance(step, Parallel):
            branches = [_chain(spec, steps_of(branch)) for branch in step.branches]
            states[names[i]] = fan_out(branches, next_state=next_state)
        else:  # a Series is never a step of a chain: steps_of flattens it
            raise AssertionError(f"unexpected block {step!r}")
    return names[0], states


def _state_name(block: Block) -> str:
    if isinstance(block, Task):
        return block.name
    if isinstance(block, Parallel):
        return fan_out_name(block.members())
    raise AssertionError(f"unexpected block {block!r}")
