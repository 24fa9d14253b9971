"""Loading valid specs: types, defaults, durations, and what the model checks on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagtrail.errors import SpecError
from dagtrail.spec import TaskSpec, WorkflowSpec, load_spec, load_spec_text, parse_duration
from dagtrail.spec.graph import find_cycle, topological_order

DIAMOND = Path(__file__).resolve().parents[2] / "fixtures" / "specs" / "diamond.yaml"


def test_diamond_loads_with_types_and_defaults():
    spec = load_spec(DIAMOND)
    assert spec.name == "diamond"
    assert spec.parameters == {"size": 10, "scale": 0.5, "verbose": False, "label": "run"}
    assert list(spec.tasks) == ["prepare", "left", "right", "report"]
    prepare, report = spec.tasks["prepare"], spec.tasks["report"]
    assert prepare.timeout == 5400 and report.timeout == 7200
    assert prepare.resources.vcpu == 2.0 and isinstance(prepare.resources.vcpu, float)
    assert prepare.resources.memory_mib == 4096 and prepare.resources.gpu == 0
    assert prepare.command == ("python3", "-c", "print({{ params.size }})")
    assert prepare.env == {"LABEL": "{{params.label}}"}
    assert spec.tasks["left"].retries == 2 and report.retries == 0
    assert spec.tasks["right"].compute == "ecs" and report.compute == "batch"
    assert report.depends_on == ("left", "right")


def test_definition_is_the_static_task_as_json():
    definition = load_spec(DIAMOND).tasks["left"].definition()
    assert definition == {
        "image": "python:3.11-slim",
        "command": ["python3", "-c", "print('left', {{ params.scale }})"],
        "env": {},
        "depends_on": ["prepare"],
        "retries": 2,
        "timeout": 3600,
        "resources": {"vcpu": 1.0, "memory_mib": 2048, "gpu": 0},
        "compute": "batch",
    }
    assert TaskSpec.model_validate(definition) == load_spec(DIAMOND).tasks["left"]


def test_content_hash_ignores_yaml_layout_but_not_content():
    block = "name: x\ntasks:\n  a:\n    image: i\n    command: [run]\n    retries: 1\n"
    flow = "tasks: {a: {retries: 1, command: ['run'], image: 'i'}}\nname: x\n"
    changed = "name: x\ntasks:\n  a:\n    image: i\n    command: [run]\n    retries: 2\n"
    assert load_spec_text(block).content_hash() == load_spec_text(flow).content_hash()
    assert load_spec_text(block).content_hash() != load_spec_text(changed).content_hash()
    assert load_spec_text(block).content_hash().startswith("sha256:")


def test_duplicate_key_inside_a_task_is_rejected():
    with pytest.raises(SpecError) as err:
        load_spec_text("name: x\ntasks:\n  a:\n    image: i\n    image: j\n    command: [run]\n", file="w.yaml")
    assert (err.value.task, err.value.field, err.value.line) == ("a", "image", 5)


def test_yaml_anchors_and_merge_keys_work():
    spec = load_spec_text("name: x\ntasks:\n  a: &base {image: i, command: [run]}\n  b:\n    <<: *base\n    depends_on: [a]\n")
    assert spec.tasks["b"].image == "i" and spec.tasks["b"].depends_on == ("a",)


def test_model_checks_graph_without_yaml():
    task = TaskSpec(image="i", command=["run"])
    with pytest.raises(SpecError) as err:
        WorkflowSpec(
            name="x",
            tasks={"a": task.model_copy(update={"depends_on": ("b",)}), "b": task.model_copy(update={"depends_on": ("a",)})},
        )
    assert "a -> b -> a" in err.value.message and err.value.task == "a"


@pytest.mark.parametrize(
    ("value", "seconds"), [(3600, 3600), ("3600", 3600), ("45s", 45), ("90m", 5400), ("2h", 7200), ("1d", 86400)]
)
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", [0, -5, "0m", "2 weeks", "1.5h", True, 1.5, 10**9])
def test_parse_duration_rejects(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_find_cycle_is_none_for_a_dag_and_named_for_a_cycle():
    assert find_cycle({"a": [], "b": ["a"], "c": ["a", "b"]}) is None
    assert find_cycle({"z": ["y"], "y": ["x"], "x": ["z"], "w": []}) == ["x", "z", "y", "x"]


def test_topological_order_puts_dependencies_first_and_breaks_ties_by_name():
    assert topological_order({"d": ["b", "c"], "c": ["a"], "b": ["a"], "a": []}) == ["a", "b", "c", "d"]


def test_alias_bomb_is_rejected_quickly():
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        levels.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = "name: bomb\n" + "\n".join(levels) + "\ntasks: {t: {image: i, command: [run]}}\n"
    with pytest.raises(SpecError, match="expands to more than"):
        load_spec_text(text)
