"""A sweep item's own command: read item <index> from the sweep's item list and render it.

An array job's children share one command and environment; each child finds its item here
(index from config.item_index) and substitutes `{{ item }}` / `{{ item.key }}` exactly as
local mode does (dagtrail.sweeps.template, standard library only). The item files are the
ones dagtrail.sweeps.store writes: `<items_uri><k>.json`, a JSON list of items
k*ITEMS_PER_FILE .. (k+1)*ITEMS_PER_FILE-1, so one small GET finds any item.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dagtrail.sweeps.sizing import ITEMS_PER_FILE
from dagtrail.sweeps.template import EXPRESSION, ItemError, item_env, render_item
from dagtrail.task.config import split_uri
from dagtrail.task.errors import EXIT_BAD_ITEM, WrapperError


class ItemNotFound(WrapperError):
    """The item list is missing, unreadable, or shorter than the index (exit 125, retryable)."""


class ItemRenderError(WrapperError):
    """The command or env names a key this item lacks: no retry can fix it."""

    exit_code = EXIT_BAD_ITEM


def items_key(items_uri: str, index: int) -> tuple[str, str, int]:
    """(bucket, key, position in that file) of item `index`."""
    k, at = divmod(index, ITEMS_PER_FILE)
    bucket, prefix = split_uri(items_uri)
    return bucket, f"{prefix}{k}.json", at


def read_item(client: Any, items_uri: str, index: int) -> Any:
    bucket, key, at = items_key(items_uri, index)
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        raise ItemNotFound(f"item {index}: no s3://{bucket}/{key}") from None
    try:
        items = json.loads(body)
    except ValueError as exc:
        raise ItemNotFound(f"item {index}: s3://{bucket}/{key} is not JSON: {exc}") from None
    if not isinstance(items, list) or at >= len(items):
        raise ItemNotFound(f"item {index}: s3://{bucket}/{key} has no item at position {at}")
    return items[at]


def render(argv: list[str], env: Mapping[str, str], item: Any, index: int) -> tuple[list[str], dict[str, str]]:
    """The item's argv and the environment changes it needs (rendered values, DAGTRAIL_ITEM*)."""
    try:
        rendered = [render_item(a, item) for a in argv]
        changed = {k: render_item(v, item) for k, v in env.items() if EXPRESSION.search(v)}
    except ItemError as exc:
        raise ItemRenderError(f"item {index}: {exc}") from None
    return rendered, changed | item_env(item, index)
