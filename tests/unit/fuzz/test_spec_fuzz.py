"""The spec loader on anything (issue 7): a WorkflowSpec or a one-line SpecError, never
another exception, whatever the YAML or the document in it."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dagtrail.errors import SpecError
from dagtrail.spec.loader import load_spec_text
from dagtrail.spec.models import WorkflowSpec

from ..triggers.mangle import paths

SCALARS = (st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True)
           | st.text(max_size=20) | st.sampled_from(["{{ params.x }}", "90m", "2h", "-1", "..", "ecs", "batch"]))
KEYS = st.sampled_from(["name", "tasks", "parameters", "image", "command", "depends_on", "retries", "timeout",
                        "env", "resources", "compute", "vcpu", "memory_mib", "gpu", "foreach", "cache",
                        "description", "a", "b"]) | st.text(max_size=8)
DOCS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
                    max_leaves=25)

VALID = {"name": "fuzz", "parameters": {"n": 3},
         "tasks": {"a": {"image": "python:3.13-slim", "command": ["python3", "-c", "print({{ params.n }})"]},
                   "b": {"image": "python:3.13-slim", "command": ["true"], "depends_on": ["a"], "retries": 1}}}


def _load(text: str) -> None:
    try:
        spec = load_spec_text(text, file="fuzz.yaml")
    except SpecError as exc:
        message = str(exc)
        assert message and "\n" not in message.strip() and "Traceback" not in message, message
        assert exc.exit_code == 2
        return
    assert isinstance(spec, WorkflowSpec)


@settings(max_examples=150, deadline=None)
@given(doc=DOCS)
def test_any_document(doc):
    _load(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("abn: -[]{}\"'&*!|>#%@`\t\n0123456789.") + ["\u00e9", "\x00"]),
                    max_size=120))
def test_any_text(text):
    _load(text)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_valid_spec_with_one_field_dropped_retyped_or_renamed(data):
    import copy

    doc = copy.deepcopy(VALID)
    path = data.draw(st.sampled_from([p for p in paths(doc) if p]))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    action = data.draw(st.sampled_from(["drop", "retype", "rename"]))
    if action == "drop":
        del parent[path[-1]]
    elif action == "retype" or isinstance(parent, list):
        parent[path[-1]] = data.draw(DOCS)
    else:
        parent[data.draw(KEYS)] = parent.pop(path[-1])
    _load(yaml.safe_dump(doc))


def test_a_character_yaml_forbids_is_a_spec_error_with_its_line():
    import pytest

    with pytest.raises(SpecError) as info:  # was yaml.reader.ReaderError, a traceback
        load_spec_text("name: x\ntasks: \x00\n", file="fuzz.yaml")
    assert str(info.value).startswith("fuzz.yaml:2: ") and "not allowed" in str(info.value)
