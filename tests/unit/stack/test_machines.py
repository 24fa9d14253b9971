"""What dagtrail deploy writes into a machine's definition, and what start/status read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dagtrail.compiler import compile_workflow
from dagtrail.spec.workflow_ref import load_workflow
from dagtrail.stack.machines import read_comment, substitute, task_names, with_parameters

REPO = Path(__file__).resolve().parents[3]
SPECS = [
    "tests/fixtures/specs/diamond.yaml",
    "examples/heat-diffusion/workflow.yaml",
    "examples/sweep-angles/workflow.yaml",  # inline Map, array job and Distributed Map
]


@pytest.mark.parametrize("ref", SPECS)
def test_task_names_finds_every_task_once(ref):
    spec = load_workflow(str(REPO / ref))
    names = task_names(compile_workflow(spec))
    assert sorted(names) == sorted(spec.tasks)


def test_task_names_follow_the_main_line():
    spec = load_workflow(str(REPO / "examples/heat-diffusion/workflow.yaml"))
    names = task_names(compile_workflow(spec))
    assert names[0] == "simulate" and names[-1] == "report"


def test_the_parameter_record_round_trips_with_its_types():
    spec = load_workflow(str(REPO / SPECS[0]))
    asl = with_parameters(compile_workflow(spec), spec.parameters)
    found = read_comment(json.loads(json.dumps(asl)))
    assert found is not None
    assert (found.name, found.content_hash) == (spec.name, spec.content_hash())
    assert found.parameters == spec.parameters
    assert [type(found.parameters[k]) for k in sorted(spec.parameters)] == \
        [type(spec.parameters[k]) for k in sorted(spec.parameters)]


def test_a_compiled_comment_has_no_record_and_a_foreign_one_is_not_a_workflow():
    spec = load_workflow(str(REPO / SPECS[0]))
    plain = read_comment(compile_workflow(spec))
    assert plain is not None and plain.parameters is None
    assert read_comment({"Comment": "someone else's machine"}) is None
    assert read_comment({}) is None


def test_the_record_keeps_the_prefix_execution_events_reads():
    from dagtrail.runs.executions import _COMMENT

    spec = load_workflow(str(REPO / SPECS[0]))
    asl = with_parameters(compile_workflow(spec), {"label": "a (b) parameters {x}"})
    assert _COMMENT.match(asl["Comment"]).group(1) == spec.name
    assert read_comment(asl).parameters == {"label": "a (b) parameters {x}"}


def test_substitute_replaces_in_every_string_like_definition_substitutions():
    asl = {"a": ["${X}", {"b": "pre-${X}-${Y}"}], "n": 1}
    assert substitute(asl, {"X": "arn:1"}) == {"a": ["arn:1", {"b": "pre-arn:1-${Y}"}], "n": 1}
