"""What a deployed workflow's state machine says about itself, and how deploy fills it in.

The compiler's Comment names the workflow and its content hash. `dagtrail deploy` appends
the spec's parameter defaults — `dagtrail workflow <name> (<hash>) parameters {...}` — so
`dagtrail start` validates overrides against the version that is deployed, without the spec
at hand (docs/internals.md, "Deployed state machines"). Tags cannot hold them: their values
allow no quotes or braces and stop at 256 characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

_COMMENT = re.compile(
    r"^dagtrail workflow (?P<name>[a-z0-9-]+) \((?P<hash>sha256:[0-9a-f]{64})\)"
    r"(?: parameters (?P<params>\{.*\}))?$",
    re.DOTALL,
)
PARAMETERS = " parameters "


class DeployedWorkflow(BaseModel):
    """Read back from a machine's Comment. `parameters` is None for a machine deployed
    without the record (the stack's own, by `sam deploy` from statemachines/)."""

    name: str
    content_hash: str
    parameters: dict[str, Any] | None = None


def with_parameters(asl: dict[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The compiled machine with the parameter defaults appended to its Comment."""
    record = json.dumps(dict(parameters), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {**asl, "Comment": f"{asl['Comment']}{PARAMETERS}{record}"}


def read_comment(definition: Mapping[str, Any]) -> DeployedWorkflow | None:
    """None when the machine is not a compiled dagtrail workflow."""
    match = _COMMENT.match(str(definition.get("Comment", "")))
    if match is None:
        return None
    params = json.loads(match["params"]) if match["params"] else None
    return DeployedWorkflow(name=match["name"], content_hash=match["hash"], parameters=params)


def substitute(value: Any, substitutions: Mapping[str, str]) -> Any:
    """`${Name}` replaced in every string, as CloudFormation's DefinitionSubstitutions does."""
    if isinstance(value, str):
        for key, replacement in substitutions.items():
            value = value.replace("${" + key + "}", replacement)
        return value
    if isinstance(value, dict):
        return {k: substitute(v, substitutions) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, substitutions) for v in value]
    return value


def task_names(definition: Mapping[str, Any]) -> list[str]:
    """The workflow's tasks in the order the machine reaches them (a sweep's Map counts once)."""
    seen: dict[str, None] = {}
    for state in _walk(definition):
        payload = (state.get("Parameters") or {}).get("Payload") or {}
        if state.get("Type") == "Task" and isinstance(payload.get("task"), str):
            seen.setdefault(payload["task"], None)
    return list(seen)


def _walk(machine: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    states: dict[str, Any] = machine.get("States") or {}
    order, name, visited = [], machine.get("StartAt"), set()
    while name in states and name not in visited:  # the main line first, then anything off it
        visited.add(name)
        order.append(name)
        name = states[name].get("Next") or states[name].get("Default")  # through the params prologue
    order += sorted(set(states) - visited)
    for name in order:
        state = states[name]
        yield state
        for branch in state.get("Branches") or []:
            yield from _walk(branch)
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                yield from _walk(state[key])
