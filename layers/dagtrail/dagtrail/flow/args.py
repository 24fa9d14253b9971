"""Task arguments as JSON: literals pass through, handles become tagged references.

    {"$dagtrail": "result", "task": "train_0", "path": ["accuracy"]}   upstream result.json
    {"$dagtrail": "file", "task": "solve", "name": "psi.npy"}          upstream file (Path)
    {"$dagtrail": "param", "name": "steps", "type": "int"}             workflow parameter
    {"$dagtrail": "item"}                                              a mapped task's item
    {"$dagtrail": "results", "task": "train", "path": []}              every item's result, a list
    {"$dagtrail": "files", "task": "solve", "name": "psi.npy"}         every item's file, a list
    {"$dagtrail": "dict", "value": {...}}                              a literal dict that has
                                                                       a "$dagtrail" key itself
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagtrail.flow.handles import FileRef, Item, Param, Result

MARK = "$dagtrail"
RESULT_FILE = "result.json"
SWEEP_FILE = "sweep.json"  # what a finished sweep leaves next to its items (dagtrail.sweeps.store)
ITEM_ENV = "DAGTRAIL_ITEM"
_TYPES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}


class NotSerialisable(ValueError):
    """A literal argument that JSON cannot carry; `where` names it (`reynolds`, `configs[2].C`)."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        super().__init__(message)


@dataclass
class Encoded:
    value: Any
    tasks: set[str] = field(default_factory=set)
    params: set[str] = field(default_factory=set)
    item: bool = False


def encode(value: Any, where: str) -> Encoded:
    out = Encoded(None)
    out.value = _encode(value, where, out)
    return out


def _encode(value: Any, where: str, out: Encoded) -> Any:
    if isinstance(value, Result):
        out.tasks.add(value.task)
        return {MARK: "results" if value.mapped else "result", "task": value.task, "path": list(value.path)}
    if isinstance(value, FileRef):
        out.tasks.add(value.task)
        return {MARK: "files" if value.each else "file", "task": value.task, "name": value.name}
    if isinstance(value, Item):
        out.item = True
        return {MARK: "item"}
    if isinstance(value, Param):
        out.params.add(value.name)
        return {MARK: "param", "name": value.name, "type": _TYPES[type(value.default)]}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotSerialisable(where, f"{value} is not a JSON number")
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{where}[{i}]", out) for i, v in enumerate(value)]
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotSerialisable(where, f"dict keys must be strings for JSON, got {key!r}")
            result[key] = _encode(item, f"{where}.{key}", out)
        return {MARK: "dict", "value": result} if MARK in result else result
    numpy_value = _from_numpy(value)
    if numpy_value is not None:
        return _encode(numpy_value, where, out)
    raise NotSerialisable(
        where,
        f"a {type(value).__module__}.{type(value).__qualname__} is not JSON-serialisable; pass strings, "
        "numbers, booleans, None, lists and dicts of them, or the result of another task",
    )


def _from_numpy(value: Any) -> Any:
    """numpy scalars and arrays (common in parameter grids) by duck type, without importing numpy."""
    if type(value).__module__ == "numpy" and callable(getattr(value, "tolist", None)):
        return value.tolist()
    return None


def dumps(value: Any) -> str:
    """Compact JSON that never contains `{{`: submit_task renders `{{ params.x }}` in argv items,
    and a literal string must not be read as a template. `{{` only occurs inside JSON strings,
    where `\\u007b` is the same character."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("{{", "{\\u007b")


# --- the task side ---------------------------------------------------------------------


def decode(value: Any, *, params: dict[str, str], input_dir: Path,
           load_result: Callable[[str], Any] | None = None) -> Any:
    """The run-time value of an encoded argument tree (a mapped task's item from $DAGTRAIL_ITEM)."""
    load = load_result or (lambda task: read_result(input_dir, task))

    def path_in(task: str, result: Any, path: list[str | int]) -> Any:
        for part in path:
            try:
                result = result[part]
            except (KeyError, IndexError, TypeError):
                raise LookupError(f"the result of task {task!r} has no item {part!r}") from None
        return result

    def walk(v: Any) -> Any:
        if isinstance(v, list):
            return [walk(x) for x in v]
        if not isinstance(v, dict):
            return v
        kind = v.get(MARK)
        if kind is None:
            return {k: walk(x) for k, x in v.items()}
        if kind == "dict":
            return {k: walk(x) for k, x in v["value"].items()}
        if kind == "param":
            return parse_param(v["name"], params[v["name"]], v["type"])
        if kind == "file":
            return input_dir / v["task"] / v["name"] if v["name"] else input_dir / v["task"]
        if kind == "result":
            return path_in(v["task"], load(v["task"]), v["path"])
        if kind == "results":
            count = sweep_count(input_dir, v["task"])
            return path_in(v["task"], [load(f"{v['task']}/{i}") for i in range(count)], v["path"])
        if kind == "files":
            count = sweep_count(input_dir, v["task"])
            return [input_dir / v["task"] / str(i) / v["name"] if v["name"] else input_dir / v["task"] / str(i)
                    for i in range(count)]
        if kind == "item":
            if ITEM_ENV not in os.environ:
                raise LookupError(f"this mapped task runs without its item (${ITEM_ENV} is not set)")
            return json.loads(os.environ[ITEM_ENV])
        raise ValueError(f"unknown argument kind {kind!r}")

    return walk(value)


def sweep_count(input_dir: Path, task: str) -> int:
    """How many items a finished mapped task had (its sweep.json, in item order 0..count-1)."""
    path = input_dir / task / SWEEP_FILE
    if not path.is_file():
        raise LookupError(f"task {task!r} left no {SWEEP_FILE}: it did not run as a map")
    return int(json.loads(path.read_text(encoding="utf-8"))["count"])


def read_result(input_dir: Path, task: str) -> Any:
    """The result of `task`, or of one item of a mapped task (`task/<index>`)."""
    path = input_dir / task / RESULT_FILE
    if not path.is_file():
        name, _, index = task.partition("/")
        who = f"item {index} of task {name!r}" if index else f"task {name!r}"
        raise LookupError(f"{who} left no {RESULT_FILE} (a command task?): "
                          f"pass {name}.file(name) or {name}.dir instead of its result")
    return json.loads(path.read_text(encoding="utf-8"))


def parse_param(name: str, text: str, kind: str) -> Any:
    """A rendered `{{ params.x }}` back to its type (submit_task renders booleans as true/false)."""
    if kind == "bool":
        return text.strip().lower() in ("true", "1", "yes", "on")
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    return text
