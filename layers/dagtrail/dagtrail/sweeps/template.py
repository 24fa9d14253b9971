"""`{{ item }}` and `{{ item.key }}` in a sweep task's command and env.

Standard library only: the task wrapper renders items inside images that have only boto3.
The expression syntax is the one of dagtrail.spec.params (`{{ <dotted identifier> }}`).
"""

from __future__ import annotations

import json
import re
from typing import Any

EXPRESSION = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.\w+)*)\s*\}\}")
ITEM = "item"


class ItemError(ValueError):
    """An item expression cannot be rendered for this item (a key the item lacks)."""


def item_key(parts: list[str]) -> tuple[bool, str | None]:
    """(is an item expression, the key or None for the whole item). `item.a.b` is not one."""
    if parts[0] != ITEM or len(parts) > 2:
        return False, None
    return True, parts[1] if len(parts) == 2 else None


def item_references(template: str) -> list[str | None]:
    """The item expressions of a template: None for `{{ item }}`, the key for `{{ item.key }}`."""
    found = []
    for match in EXPRESSION.finditer(template):
        is_item, key = item_key(match.group(1).split("."))
        if is_item:
            found.append(key)
    return found


def format_item(value: Any) -> str:
    """How an item appears in a command: scalars as the CLI writes them, mappings as compact JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def render_item(template: str, item: Any) -> str:
    """Substitute item expressions; everything else is left exactly as it was."""

    def substitute(match: re.Match[str]) -> str:
        is_item, key = item_key(match.group(1).split("."))
        if not is_item:
            return match.group(0)
        if key is None:
            return format_item(item)
        if not isinstance(item, dict) or key not in item:
            raise ItemError(f"{match.group(0)!r}: item {format_item(item)} has no key {key!r}")
        return format_item(item[key])

    return EXPRESSION.sub(substitute, template)


def item_env(item: Any, index: int) -> dict[str, str]:
    """What every item of a sweep sees besides its rendered command."""
    return {"DAGTRAIL_ITEM": json.dumps(item, sort_keys=True, separators=(",", ":")),
            "DAGTRAIL_ITEM_INDEX": str(index)}
