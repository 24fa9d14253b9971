"""`task.map(items)` is ONE sweep task (`foreach`), the same spec its YAML form gives; a
dependant receives the items' results and files as lists, in item order."""

from __future__ import annotations

import json
import textwrap

import pytest

from dagtrail.compiler import compile_workflow
from dagtrail.errors import SpecError
from dagtrail.spec.loader import load_spec
from dagtrail.spec.workflow_ref import load_workflow

from .conftest import line_of
from .runner import run_spec

SWEEP = """
import numpy as np
from dagtrail.flow import product, task, workflow

@task(retries=1)
def train(config, seed):
    return config

@task
def pick(results):
    return results

@task
def solve(case, steps):
    return case

@workflow
def flow(seed: int = 1):
    models = train.map([{"C": 0.1}, {"C": np.float64(1.0)}, {"C": 10.0, "kernel": "rbf"}], seed)
    pick(models)
    solve.options(max_parallel=2).map(product(re=[100.0, 400.0], n=np.array([24, 48])), 50)
    solve.options(name="scan").map(range(0, 1000, 10), steps=seed)
"""

# The same workflow written as YAML: what the Python form must equal, field for field.
SWEEP_YAML = """
name: flow
parameters: {seed: 1}
tasks:
  train:
    image: python:3.11-slim
    foreach: {values: [{C: 0.1}, {C: 1.0}, {C: 10.0, kernel: rbf}]}
    command: [python3, -m, dagtrail.flow.entry, "{module}:train",
              '{"args":[{"$dagtrail":"item"},{"$dagtrail":"param","name":"seed","type":"int"}],"kwargs":{}}',
              "seed={{ params.seed }}"]
    env: {DAGTRAIL_CODE_DIR: "."}
    retries: 1
  pick:
    image: python:3.11-slim
    depends_on: [train]
    command: [python3, -m, dagtrail.flow.entry, "{module}:pick",
              '{"args":[{"$dagtrail":"results","path":[],"task":"train"}],"kwargs":{}}']
    env: {DAGTRAIL_CODE_DIR: "."}
  solve:
    image: python:3.11-slim
    foreach: {product: {re: [100.0, 400.0], n: [24, 48]}}
    max_parallel: 2
    command: [python3, -m, dagtrail.flow.entry, "{module}:solve", '{"args":[{"$dagtrail":"item"},50],"kwargs":{}}']
    env: {DAGTRAIL_CODE_DIR: "."}
  scan:
    image: python:3.11-slim
    foreach: {range: {start: 0, stop: 1000, step: 10}}
    command: [python3, -m, dagtrail.flow.entry, "{module}:solve",
              '{"args":[{"$dagtrail":"item"}],"kwargs":{"steps":{"$dagtrail":"param","name":"seed","type":"int"}}}',
              "seed={{ params.seed }}"]
    env: {DAGTRAIL_CODE_DIR: "."}
"""


def test_a_map_is_one_sweep_task_equal_to_its_yaml_form(modules, tmp_path):
    spec, path = modules.build(SWEEP)
    yaml_file = tmp_path / "flow.yaml"
    yaml_file.write_text(SWEEP_YAML.replace("{module}", path.stem))
    from_yaml = load_spec(str(yaml_file))
    assert spec.model_dump() == from_yaml.model_dump()
    assert spec.content_hash() == from_yaml.content_hash()
    assert list(spec.tasks) == ["train", "pick", "solve", "scan"]
    assert spec.tasks["scan"].foreach.count() == 100  # a range stays three numbers in the spec


def _states(states: dict) -> dict:
    """Every state, through Parallel branches and Map item processors."""
    found = dict(states)
    for state in states.values():
        for branch in state.get("Branches", []):
            found |= _states(branch["States"])
        if "ItemProcessor" in state:
            found |= _states(state["ItemProcessor"]["States"])
    return found


def test_the_compiled_machine_has_one_sweep_state_per_map(modules):
    spec, _ = modules.build(SWEEP)
    states = _states(compile_workflow(spec)["States"])
    assert sorted(name for name, state in states.items() if state["Type"] == "Map") == [
        "scan map", "solve map", "train map"]
    assert not any(name.startswith(("train_", "solve_")) for name in states)


def test_items_results_and_files_flow_in_item_order(modules, tmp_path):
    spec, _ = modules.build("""
        import json
        from dagtrail.flow import outputs, product, task, workflow

        @task
        def simulate(case: dict, scale: float) -> dict:
            (outputs() / "field.txt").write_text(str(case["re"] * case["n"] * scale))
            return {"case": case, "value": case["re"] * case["n"] * scale}

        @task
        def square(x: int) -> int:
            return x * x

        @task
        def summarise(results, fields, second, second_field, dirs, squares) -> dict:
            return {"values": [r["value"] for r in results], "cases": [r["case"] for r in results],
                    "fields": [f.read_text() for f in fields], "second": second,
                    "second_field": second_field.read_text(), "dirs": [d.name for d in dirs], "squares": squares}

        @workflow
        def flow(scale: float = 0.5):
            cases = simulate.map(product(re=[10, 20], n=[1, 2, 3]), scale)
            squares = square.map(range(5, 0, -1))
            summarise(cases, cases.file("field.txt"), cases[1]["value"], cases[1].file("field.txt"), cases.dir,
                      squares)
    """)
    outs = run_spec(spec, tmp_path / "run", {"scale": "2"})
    got = json.loads((outs["summarise"] / "result.json").read_text())
    cases = [{"n": n, "re": re} for n in (1, 2, 3) for re in (10, 20)]  # keys by name, the last fastest
    assert got["cases"] == cases
    assert got["values"] == [c["re"] * c["n"] * 2.0 for c in cases]
    assert got["fields"] == [str(v) for v in got["values"]]
    assert (got["second"], got["second_field"]) == (40.0, "40.0")
    assert got["dirs"] == ["0", "1", "2", "3", "4", "5"]
    assert got["squares"] == [25, 16, 9, 4, 1]
    assert json.loads((outs["simulate"] / "3" / "result.json").read_text())["case"] == {"n": 2, "re": 20}


def test_a_command_task_maps_with_item_expressions(modules, tmp_path):
    spec, _ = modules.build("""
        from dagtrail.flow import task, workflow

        @task(image="alpine", command=["sh", "-c", "echo {{ item.angle }} > $DAGTRAIL_OUTPUT_DIR/a.txt"])
        def polar(): ...

        @task
        def collect(files):
            return [f.read_text().strip() for f in files]

        @workflow
        def flow():
            angles = polar.map([{"angle": 0}, {"angle": 5}])
            collect(angles.file("a.txt"))
    """)
    assert spec.tasks["polar"].foreach.values == [{"angle": 0}, {"angle": 5}]
    outs = run_spec(spec, tmp_path / "run")
    assert json.loads((outs["collect"] / "result.json").read_text()) == ["0", "5"]


HEADER = """
from dagtrail.flow import task, workflow

@task
def step(x=None, y=None):
    return x
"""


@pytest.mark.parametrize(("body", "words"), [
    ('step.map([{"depth": None}])', ["field 'items[0].depth'", "None cannot be a map item's value"]),
    ("step.map([[1, 2]])", ["field 'items[0]'", "a list cannot be a map item's value"]),
    ("step.map([step.options(name='a')(1)])", ["field 'items[0]'", "known when the workflow is built"]),
    ("step.map([])", ["map() needs at least one item"]),
    ('step.map({"a": 1})', ["map() needs a list of items, got dict"]),
    ("step.map([float('nan')])", ["field 'items[0]'", "not a JSON number"]),
    ("step.options(max_parallel=2)(1)", ["field 'max_parallel'", "use it with .map"]),
    ("step.options(max_parallel=0).map([1])", ["field 'max_parallel'", "greater than or equal to 1"]),
    ("step(step.map([1, 2])['accuracy'])", ["one result per item", "step[0]['accuracy']"]),
    ("[step(x) for x in step.options(name='m').map([1])]", ["result list of mapped task 'm'", ".file(name) / .dir"]),
    ("step(step.map([1])[-1].file('f'))", ["step[i].file(name) with i >= 0"]),
])
def test_map_mistakes_point_at_the_line(modules, body, words):
    path = modules.write(HEADER + textwrap.dedent(f"""
        @workflow
        def flow():
            {body}  # HERE
    """))
    with pytest.raises(SpecError) as caught:
        load_workflow(f"{path}:flow")
    err = caught.value
    assert (err.file, err.line) == (path.name, line_of(path, "# HERE")), err
    for word in words:
        assert word in str(err), str(err)
