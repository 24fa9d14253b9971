"""Mangled copies of the sample events in events/, for the handler fuzz tests (issue 7):
tests/unit/fuzz/test_handler_fuzz.py (workflow handlers) and tests/unit/triggers/test_fuzz.py
(triggers); test_spec_fuzz.py uses `paths`. Each test owns what it asserts about the
result; this draws the input. It lives here, not in tests/unit/fuzz/, because this folder is
a package (`triggers`, under --import-mode=importlib) and cannot import from beyond it."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[3]
SAMPLES = sorted((REPO / "events").rglob("*.json"))
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


def own_samples(names: Iterable[str]) -> list[tuple[str, object]]:
    """(function name, event) for every sample under events/<function name>/."""
    return [(name, json.loads(p.read_text())) for name in names for p in sorted((REPO / "events" / name).glob("*.json"))]


def paths(value, path=()) -> Iterator[tuple]:
    """Every path into a JSON value, the root () first."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, (*path, i))


def mutate(event, path, action, replacement):
    """A copy of event with the value at path dropped, its key renamed, or replaced. In a list,
    or at the root, every action replaces."""
    event = copy.deepcopy(event)
    if not path:
        return replacement
    parent = event
    for step in path[:-1]:
        parent = parent[step]
    if action == "drop" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "rename" and isinstance(parent, dict):
        parent[f"{path[-1]}_renamed"] = parent.pop(path[-1])
    else:
        parent[path[-1]] = replacement
    return event


def draw_mangled(data, own, actions=("drop", "replace")):
    """(function name, one of its own samples mangled at one path by one of actions)."""
    name, event = data.draw(st.sampled_from(own))
    path = data.draw(st.sampled_from(list(paths(event))))
    action = data.draw(st.sampled_from(list(actions)))
    return name, mutate(event, path, action, data.draw(JSON))
