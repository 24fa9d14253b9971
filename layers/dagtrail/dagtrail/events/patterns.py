"""EventBridge event patterns, matched the way EventBridge matches them.

The model EventBridge documents: an event is a tree whose arrays are flattened, so every
path (`detail.attempts.container.exitCode`) holds a list of leaf values, and a pattern
matches when, for every path it names, one of its matchers accepts one of those values
(arrays in a pattern are OR, fields are AND). Flattening across array elements is
deliberate: `{"a": {"b": [1], "c": [2]}}` matches `{"a": [{"b": 1}, {"c": 2}]}` on
EventBridge too.

Matchers: exact values (string, number, boolean, null), `prefix`, `suffix`,
`equals-ignore-case` (also inside prefix/suffix), `anything-but` (a value, a list, or a
prefix/suffix/equals-ignore-case/wildcard), `numeric` (up to two comparisons), `exists`,
`wildcard`, `cidr`, and `$or` at any object level.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from dagtrail.errors import DagtrailError

__all__ = ["EventPatternError", "matcher", "matches", "validate"]

_NUMERIC_OPS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_OPERATORS = {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists",
              "wildcard", "cidr"}


class EventPatternError(DagtrailError):
    """An event pattern EventBridge would reject."""


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """True when `event` (a decoded JSON document) matches the EventBridge `pattern`."""
    validate(pattern)
    return _match_object(pattern, [event])


def matcher(pattern: Mapping[str, Any]) -> Callable[[Any], bool]:
    """Validate `pattern` once; the returned predicate matches events against it."""
    validate(pattern)
    return lambda event: _match_object(pattern, [event])


def validate(pattern: Any, path: str = "") -> None:
    """Raise EventPatternError where EventBridge would refuse the pattern."""
    if not isinstance(pattern, Mapping):
        raise EventPatternError(f"event pattern{_at(path)}: expected an object, got {_kind(pattern)}")
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise EventPatternError(f"event pattern{_at(where)}: $or needs a list of at least two patterns")
            for i, alternative in enumerate(value):
                validate(alternative, f"{where}[{i}]")
        elif isinstance(value, Mapping):
            validate(value, where)
        elif isinstance(value, list):
            if not value:
                raise EventPatternError(f"event pattern{_at(where)}: empty list matches nothing")
            for matcher in value:
                _validate_matcher(matcher, where)
        else:
            raise EventPatternError(
                f"event pattern{_at(where)}: leaf values must be lists, got {_kind(value)}")


# ── matching ──

def _match_object(pattern: Mapping[str, Any], nodes: list[Any]) -> bool:
    for key, expected in pattern.items():
        if key == "$or":
            if not any(_match_object(alt, nodes) for alt in expected):
                return False
            continue
        children = _flatten(node[key] for node in nodes if isinstance(node, dict) and key in node)
        if isinstance(expected, Mapping):
            if not _match_object(expected, [c for c in children if isinstance(c, dict)]):
                return False
        elif not _match_leaf(expected, [c for c in children if not isinstance(c, dict)]):
            return False
    return True


def _flatten(values: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, list):
            out.extend(_flatten(value))
        else:
            out.append(value)
    return out


def _match_leaf(matchers: list[Any], values: list[Any]) -> bool:
    for matcher in matchers:
        if isinstance(matcher, Mapping) and "exists" in matcher:
            if bool(values) == matcher["exists"]:
                return True
            continue
        if any(_accepts(matcher, value) for value in values):
            return True
    return False


def _accepts(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, Mapping):
        return _equal(matcher, value)
    (op, arg), = matcher.items()
    if op == "prefix":
        return isinstance(value, str) and _affix(arg, value, str.startswith)
    if op == "suffix":
        return isinstance(value, str) and _affix(arg, value, str.endswith)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == arg.casefold()
    if op == "wildcard":
        return isinstance(value, str) and _wildcard(arg).fullmatch(value) is not None
    if op == "numeric":
        return _numeric(arg, value)
    if op == "cidr":
        return _in_cidr(arg, value)
    if op == "anything-but":
        return _anything_but(arg, value)
    raise EventPatternError(f"unknown matcher {op!r}")  # validate() makes this unreachable


def _equal(expected: Any, value: Any) -> bool:
    # JSON types are distinct: "5" is not 5, true is not 1; numbers compare by value.
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool) and expected is value
    if expected is None or value is None:
        return expected is None and value is None
    if _is_number(expected) and _is_number(value):
        return float(expected) == float(value)
    return type(expected) is type(value) and expected == value


def _affix(arg: Any, value: str, test: Any) -> bool:
    if isinstance(arg, Mapping):
        return test(value.casefold(), arg["equals-ignore-case"].casefold())
    return test(value, arg)


def _anything_but(arg: Any, value: Any) -> bool:
    if isinstance(arg, Mapping):
        (op, inner), = arg.items()
        if not isinstance(value, str):
            return True
        if op == "prefix":
            return not value.startswith(inner)
        if op == "suffix":
            return not value.endswith(inner)
        if op == "wildcard":
            return all(_wildcard(w).fullmatch(value) is None for w in _as_list(inner))
        if op == "equals-ignore-case":
            return all(value.casefold() != v.casefold() for v in _as_list(inner))
    return all(not _equal(excluded, value) for excluded in _as_list(arg))


def _numeric(spec: list[Any], value: Any) -> bool:
    if not _is_number(value):
        return False
    return all(_NUMERIC_OPS[spec[i]](float(value), float(spec[i + 1])) for i in range(0, len(spec), 2))


def _in_cidr(cidr: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


@lru_cache(maxsize=256)
def _wildcard(pattern: str) -> re.Pattern[str]:
    # '*' is any run of characters; '\*' a literal star and '\\' a literal backslash.
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*\\":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ── validation ──

def _validate_matcher(matcher: Any, where: str) -> None:
    if not isinstance(matcher, Mapping):
        if isinstance(matcher, list):
            raise EventPatternError(f"event pattern{_at(where)}: nested lists are not matchers")
        return
    if len(matcher) != 1:
        raise EventPatternError(f"event pattern{_at(where)}: a matcher object has exactly one key")
    (op, arg), = matcher.items()
    if op not in _OPERATORS:
        raise EventPatternError(f"event pattern{_at(where)}: unknown matcher {op!r}")
    if op in ("prefix", "suffix"):
        ok = isinstance(arg, str) or (isinstance(arg, Mapping) and list(arg) == ["equals-ignore-case"]
                                      and isinstance(arg["equals-ignore-case"], str))
    elif op in ("equals-ignore-case", "wildcard", "cidr"):
        ok = isinstance(arg, str)
        if ok and op == "cidr":
            try:
                ipaddress.ip_network(arg, strict=False)
            except ValueError:
                ok = False
    elif op == "exists":
        ok = isinstance(arg, bool)
    elif op == "numeric":
        ok = (isinstance(arg, list) and len(arg) in (2, 4)
              and all(arg[i] in _NUMERIC_OPS and _is_number(arg[i + 1]) for i in range(0, len(arg), 2)))
    else:  # anything-but
        ok = _valid_anything_but(arg)
    if not ok:
        raise EventPatternError(f"event pattern{_at(where)}: invalid {op!r} matcher {arg!r}")


def _valid_anything_but(arg: Any) -> bool:
    if isinstance(arg, Mapping):
        if len(arg) != 1:
            return False
        (op, inner), = arg.items()
        if op in ("prefix", "suffix"):
            return isinstance(inner, str)
        if op in ("wildcard", "equals-ignore-case"):
            return all(isinstance(v, str) for v in _as_list(inner))
        return False
    return all(isinstance(v, str) or _is_number(v) or v is None for v in _as_list(arg))


def _at(path: str) -> str:
    return f" at '{path}'" if path else ""


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
