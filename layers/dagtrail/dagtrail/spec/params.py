"""Workflow parameters: `{{ params.name }}` templates, reference checks and CLI overrides.

A template expression is `{{ <dotted identifier> }}`. Only `params.<name>` is valid, and in
a sweep task (`foreach`) `item` and `item.<key>`, which render() leaves for the item's own
job (dagtrail.sweeps.template renders them); any other dotted identifier (`{{ size }}`,
`{{ param.size }}`) is an error, so a typo never reaches a container as literal text. Braces around anything else (`{{.Id}}`, `{{1: 2}}`)
are not expressions and pass through untouched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from dagtrail.errors import SpecError, UsageError
from dagtrail.spec.models import PARAM_NAME, ParamValue
from dagtrail.sweeps.template import item_key, item_references

if TYPE_CHECKING:
    from dagtrail.spec.models import WorkflowSpec

_EXPRESSION = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.\w+)*)\s*\}\}")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def references(template: str) -> list[str]:
    """Parameter names a template refers to, in order. ValueError for a malformed expression."""
    names = []
    for match in _EXPRESSION.finditer(template):
        if item_key(match.group(1).split("."))[0]:
            continue  # an item expression: check_references checks where it may appear
        names.append(_param_name(match))
    return names


def _param_name(match: re.Match[str]) -> str:
    parts = match.group(1).split(".")
    if len(parts) == 2 and parts[0] == "params" and PARAM_NAME.match(parts[1]):
        return parts[1]
    hint = parts[-1] if PARAM_NAME.match(parts[-1]) else "name"
    raise ValueError(f"{match.group(0)!r} is not a parameter reference; write '{{{{ params.{hint} }}}}'")


def format_value(value: ParamValue) -> str:
    """How a parameter value appears in a command: booleans as true/false, like the CLI takes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(template: str, params: Mapping[str, ParamValue]) -> str:
    """Substitute `{{ params.name }}`; an unknown or malformed reference is a SpecError."""

    def substitute(match: re.Match[str]) -> str:
        if item_key(match.group(1).split("."))[0]:
            return match.group(0)  # rendered per item, by the item's job
        try:
            name = _param_name(match)
        except ValueError as exc:
            raise SpecError(str(exc)) from None
        if name not in params:
            raise SpecError(f"undefined parameter {name!r} in {match.group(0)!r}")
        return format_value(params[name])

    return _EXPRESSION.sub(substitute, template)


def check_references(spec: WorkflowSpec) -> None:
    """Every `{{ params.x }}` in a command or env value names a declared parameter."""
    declared = ", ".join(sorted(spec.parameters)) or "none declared"
    for task_name in sorted(spec.tasks):
        task = spec.tasks[task_name]
        fields = [(f"command[{i}]", arg) for i, arg in enumerate(task.command)]
        fields += [(f"env.{key}", value) for key, value in task.env.items()]
        for field, text in fields:
            try:
                names = references(text)
            except ValueError as exc:
                raise SpecError(str(exc), task=task_name, field=field) from None
            if item_references(text) and task.foreach is None:
                raise SpecError(
                    "'{{ item }}' is only defined in a task with foreach", task=task_name, field=field
                )
            for name in names:
                if name not in spec.parameters:
                    raise SpecError(
                        f"undefined parameter {name!r} (parameters: {declared})",
                        task=task_name,
                        field=field,
                    )


def parse_param_args(items: Iterable[str]) -> dict[str, str]:
    """`--param k=v` arguments -> {k: v}, split at the first '='."""
    result: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--param expects NAME=VALUE, got {item!r}")
        if name in result:
            raise UsageError(f"--param {name} given twice")
        result[name] = value
    return result


def resolve_params(spec: WorkflowSpec, overrides: Mapping[str, str]) -> dict[str, ParamValue]:
    """The spec's defaults with overrides applied, each coerced to its default's type."""
    resolved: dict[str, ParamValue] = dict(spec.parameters)
    for name in sorted(overrides):
        if name not in spec.parameters:
            known = ", ".join(sorted(spec.parameters)) or "none"
            raise UsageError(f"--param {name}: unknown parameter (parameters of {spec.name}: {known})")
        resolved[name] = _coerce(name, overrides[name], spec.parameters[name])
    return resolved


def _coerce(name: str, raw: str, default: ParamValue) -> ParamValue:
    if not isinstance(raw, str):  # already typed (e.g. from JSON): must match the default's type
        if type(raw) is type(default) or (isinstance(default, float) and type(raw) is int):
            return float(raw) if isinstance(default, float) else raw
        raise UsageError(f"--param {name}={raw!r}: must be {_kind(default)} like its default {default!r}")
    text = raw.strip()
    try:
        if isinstance(default, bool):
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            number = float(text)
            if not math.isfinite(number):
                raise ValueError
            return number
    except ValueError:
        raise UsageError(
            f"--param {name}={raw}: must be {_kind(default)} like its default {format_value(default)}"
        ) from None
    return raw


def _kind(value: ParamValue) -> str:
    return {bool: "a boolean (true/false)", int: "an integer", float: "a number"}.get(type(value), "a string")
