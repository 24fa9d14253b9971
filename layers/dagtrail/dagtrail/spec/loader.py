"""Load a workflow spec from YAML, locating every error at a task, field and YAML line.

The YAML is composed into a node tree first (nodes carry line numbers) so the loader can
reject what PyYAML would silently accept — duplicate keys (it keeps the last) and
non-string keys (`on:` is a boolean in YAML 1.1) — and map any later error, from pydantic
or from the graph checks, back to the line it came from.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from dagtrail.errors import SpecError
from dagtrail.spec.models import Resources, TaskSpec, WorkflowSpec
from dagtrail.sweeps.foreach import Foreach, RangeSpec

Path_ = tuple[str | int, ...]
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Far beyond any real workflow; stops alias bombs before pydantic walks the expansion.
MAX_NODES = 200_000
_FIELD_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def load_spec(path: str | Path) -> WorkflowSpec:
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("no such file", file=file) from None
    except UnicodeDecodeError:
        raise SpecError("not UTF-8 text", file=file) from None
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror or exc}", file=file) from None
    return load_spec_text(text, file=file)


def load_spec_text(text: str, *, file: str = "<spec>") -> WorkflowSpec:
    data, lines = _parse(text, file)
    if data is None:
        raise SpecError("the spec is empty", file=file, line=1)
    if not isinstance(data, dict):
        raise SpecError(
            f"the top level must be a mapping with name and tasks, got {_describe(data)}", file=file, line=1
        )
    try:
        return WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        raise _from_validation(exc, data, lines, file) from None
    except SpecError as exc:  # graph and reference checks name a task and field, not a line
        path = _field_path(exc.task, exc.field)
        raise SpecError(
            exc.message, file=file, task=exc.task, field=exc.field, line=_line(lines, path)
        ) from None


# --- YAML ------------------------------------------------------------------------------


def _parse(text: str, file: str) -> tuple[Any, dict[Path_, int]]:
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML forbids (NUL, ...): found on reading
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise SpecError(f"invalid YAML: character U+{code:04X} is not allowed", file=file, line=line) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[Path_, int] = {(): node.start_mark.line + 1}
        if _expanded_size(node, {}) > MAX_NODES:
            raise SpecError(f"the spec expands to more than {MAX_NODES} YAML nodes (aliases?)", file=file, line=1)
        _index(node, (), lines, file, set())
        return loader.construct_document(node), lines
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        problem = " ".join(str(problem).split())
        # At end of input PyYAML points one line past the last; name the last line instead.
        line = min(mark.line + 1, max(1, len(text.splitlines()))) if mark else None
        raise SpecError(f"invalid YAML: {problem}", file=file, line=line) from None
    finally:
        loader.dispose()


def _index(node: yaml.Node, path: Path_, lines: dict[Path_, int], file: str, seen: set[int]) -> None:
    """Record the line of every key and list item; reject duplicate and non-string keys.
    Each node is visited once: aliases (`*x`) share nodes, and re-walking them could
    take exponential time on a hostile file."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                _index(value_node, path, lines, file, seen)
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a collection"
                task, field = _where(path)
                raise SpecError(
                    f"key {shown!r} must be a string; quote it", file=file, task=task, field=field, line=line
                )
            key = key_node.value
            if key in first_seen:
                task, field = _where(path + (key,))
                what = "task name" if path == ("tasks",) else "key"
                raise SpecError(
                    f"duplicate {what} {key!r} (first at line {first_seen[key]})",
                    file=file, task=task, field=field, line=line,
                )
            first_seen[key] = line
            lines[path + (key,)] = line
            _index(value_node, path + (key,), lines, file, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
            _index(item, path + (i,), lines, file, seen)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes in the data once aliases are expanded, counted without expanding them."""
    if id(node) not in memo:
        memo[id(node)] = 1  # a recursive alias counts once instead of looping
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        memo[id(node)] = 1 + sum(_expanded_size(child, memo) for child in children)
    return memo[id(node)]


# --- locations -------------------------------------------------------------------------


def _where(path: Path_) -> tuple[str | None, str | None]:
    """A data path -> (task, field): ('tasks', 'a', 'env', 'K') -> ('a', 'env.K')."""
    task = None
    if len(path) >= 2 and path[0] == "tasks":
        task, path = str(path[1]), path[2:]
    field = ""
    for part in path:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    return task, field or None


def _field_path(task: str | None, field: str | None) -> Path_:
    path: Path_ = ("tasks", task) if task else ()
    for index, key in _FIELD_TOKEN.findall(field or ""):
        path += (int(index),) if index else (key,)
    return path


def _line(lines: Mapping[Path_, int], path: Path_) -> int | None:
    """The line of the deepest part of path that the YAML has."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


# --- pydantic errors -------------------------------------------------------------------


def _from_validation(exc: ValidationError, data: Any, lines: Mapping[Path_, int], file: str) -> SpecError:
    errors = [(_data_path(e["loc"], data, missing=e["type"] == "missing"), e) for e in exc.errors()]
    # An unknown key usually explains a missing one next to it (`imgae:`): report the typo.
    misspelt = {path[:-1] for path, e in errors if e["type"] == "extra_forbidden"}
    errors = [(p, e) for p, e in errors if not (e["type"] == "missing" and p[:-1] in misspelt)]
    found = []
    for order, (path, error) in enumerate(errors):
        line = _line(lines, path)
        found.append((line if line is not None else 0, order, path, error))
    # Report the error a reader meets first, top to bottom.
    line, _, path, error = min(found, key=lambda f: (f[0], f[1]))
    task, field = _where(path)
    return SpecError(_message(error, path), file=file, task=task, field=field, line=line or None)


def _data_path(loc: tuple[Any, ...], data: Any, *, missing: bool) -> Path_:
    """Keep the parts of a pydantic location that index into the data; drop union tags."""
    path: Path_ = ()
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif missing and i == len(loc) - 1:
            return path + (part,)
        else:
            break
        path += (part,)
    return path


def _model_at(path: Path_) -> type[BaseModel] | None:
    if path == ():
        return WorkflowSpec
    if len(path) == 2 and path[0] == "tasks":
        return TaskSpec
    if len(path) == 3 and path[0] == "tasks" and path[2] == "resources":
        return Resources
    if len(path) == 3 and path[0] == "tasks" and path[2] == "foreach":
        return Foreach
    if len(path) == 4 and path[0] == "tasks" and path[2:] == ("foreach", "range"):
        return RangeSpec
    return None


def _message(error: Mapping[str, Any], path: Path_) -> str:
    kind = error["type"]
    value = error.get("input")
    got = f", got {_describe(value)}"
    name = path[-1] if path else None
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        model = _model_at(path[:-1])
        allowed = sorted(f.alias or n for n, f in model.model_fields.items()) if model else []
        close = difflib.get_close_matches(str(name), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key {name!r}{hint}; allowed: {', '.join(allowed)}"
    if len(path) == 2 and path[0] == "parameters" and kind.endswith("_type"):
        return f"must be a string, number or boolean{got}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping{got}"
    if kind in ("tuple_type", "list_type"):
        if name == "command" and isinstance(value, str):
            return f'must be an argv list like ["sh", "-c", "..."], got the string {_describe(value)}'
        return f"must be a list{got}"
    if kind == "string_type":
        quote = "; quote it" if isinstance(value, (int, float, bool)) else ""
        return f"must be a string{got}{quote}"
    if kind == "int_type":
        return f"must be an integer{got}"
    if kind == "float_type":
        return f"must be a number{got}"
    if kind == "bool_type":
        return f"must be true or false{got}"
    if kind == "too_short":
        return "must not be empty"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    message = str(error.get("msg", kind)).replace("Input should be", "must be")
    return f"{message}{got}"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        shown = repr(value)
        return shown if len(shown) <= 60 else shown[:57] + "..."
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} ({value})"
