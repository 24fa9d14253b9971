"""Python workflows build the same WorkflowSpec as YAML: DAG from data flow, params, maps, options."""

from __future__ import annotations

import json

import pytest

from dagtrail.compiler import compile_workflow
from dagtrail.flow import args as argcodec
from dagtrail.spec.models import WorkflowSpec
from dagtrail.spec.params import resolve_params

DIAMOND = """
from dagtrail.flow import task, workflow

@task(vcpu=2, memory_mib=4096, retries=2, timeout="10m", compute="ecs", image="ghcr.io/x/sim:1")
def prepare(size: int) -> dict:
    return {"size": size}

@task
def left(data: dict) -> int:
    return data["size"]

@task
def right(data: dict, scale: float) -> int:
    return 2

@task
def join(a, b, label="x"):
    return [a, b, label]

@workflow(name="diamond", parameters={"label": "demo"})
def flow(size: int = 8, scale: float = 1.5, label: str = "demo"):
    data = prepare(size)
    join(left(data), right(data, scale), label=label)
"""


def _call(spec: WorkflowSpec, task: str) -> tuple[str, dict, list[str]]:
    command = spec.tasks[task].command
    assert list(command[:3]) == ["python3", "-m", "dagtrail.flow.entry"]
    return command[3], json.loads(command[4]), list(command[5:])


def test_dependencies_come_from_data_flow(modules):
    spec, path = modules.build(DIAMOND)
    assert isinstance(spec, WorkflowSpec) and spec.name == "diamond"
    assert {n: t.depends_on for n, t in spec.tasks.items()} == {
        "prepare": (), "left": ("prepare",), "right": ("prepare",), "join": ("left", "right")}
    ref, payload, params = _call(spec, "join")
    assert ref == f"{path.stem}:join"
    assert payload == {"args": [{"$dagtrail": "result", "task": "left", "path": []},
                                {"$dagtrail": "result", "task": "right", "path": []}],
                       "kwargs": {"label": {"$dagtrail": "param", "name": "label", "type": "str"}}}
    assert params == ["label={{ params.label }}"]
    assert spec.tasks["join"].env == {"DAGTRAIL_CODE_DIR": "."}  # the module's directory, as the project
    compile_workflow(spec)  # a valid state machine, like any YAML spec's


def test_task_options_become_the_task_definition(modules):
    spec, _ = modules.build(DIAMOND)
    prepare = spec.tasks["prepare"]
    assert prepare.image == "ghcr.io/x/sim:1" and prepare.compute == "ecs"
    assert (prepare.retries, prepare.timeout) == (2, 600)
    assert (prepare.resources.vcpu, prepare.resources.memory_mib, prepare.resources.gpu) == (2.0, 4096, 0)
    assert spec.tasks["left"].image == "python:3.11-slim" and spec.tasks["left"].timeout == 3600


def test_parameters_come_from_the_signature_and_the_decorator(modules):
    spec, _ = modules.build(DIAMOND)
    assert spec.parameters == {"label": "demo", "size": 8, "scale": 1.5}
    assert resolve_params(spec, {"scale": "2.5"})["scale"] == 2.5
    _, payload, params = _call(spec, "right")
    assert payload["args"][1] == {"$dagtrail": "param", "name": "scale", "type": "float"}
    assert params == ["scale={{ params.scale }}"]


def test_result_items_files_and_after(modules):
    spec, _ = modules.build("""
        from dagtrail.flow import task, workflow

        @task
        def a():
            return {"best": [1, 2]}

        @task
        def b(x, path, where):
            return None

        @task
        def c():
            return None

        @workflow
        def flow():
            first = a()
            later = c()
            b.options(after=[later], retries=3)(first["best"][1], first.file("sub/f.npy"), first.dir)
    """)
    _, payload, _ = _call(spec, "b")
    assert payload["args"] == [{"$dagtrail": "result", "task": "a", "path": ["best", 1]},
                               {"$dagtrail": "file", "task": "a", "name": "sub/f.npy"},
                               {"$dagtrail": "file", "task": "a", "name": ""}]
    assert spec.tasks["b"].depends_on == ("a", "c") and spec.tasks["b"].retries == 3


def test_command_tasks_are_first_class(modules):
    spec, _ = modules.build("""
        from dagtrail.flow import task, workflow

        @task
        def make():
            return 1

        @task(image="alpine:3.20", command=["sh", "-c", "wc -c $DAGTRAIL_INPUT_DIR/make/* > out.txt", "{{ params.n }}"])
        def count(): ...

        @workflow
        def flow(n: int = 3):
            count(make())
    """)
    count = spec.tasks["count"]
    assert count.image == "alpine:3.20" and count.depends_on == ("make",) and count.env == {}
    assert count.command == ("sh", "-c", "wc -c $DAGTRAIL_INPUT_DIR/make/* > out.txt", "{{ params.n }}")


def test_literal_template_braces_are_not_parameter_references(modules):
    spec, _ = modules.build("""
        from dagtrail.flow import task, workflow

        @task
        def show(text, mapping):
            return text

        @workflow
        def flow():
            show("{{ params.nothing }} and {{{x}}}", {"$dagtrail": "literal"})
    """)
    text = spec.tasks["show"].command[4]
    assert "{{" not in text  # submit_task would try to render it
    payload = json.loads(text)
    decoded = argcodec.decode(payload, params={}, input_dir=None)
    assert decoded["args"] == ["{{ params.nothing }} and {{{x}}}", {"$dagtrail": "literal"}]


def test_the_same_source_builds_the_same_spec(modules):
    first, path = modules.build(DIAMOND)
    from dagtrail.spec.workflow_ref import load_workflow

    assert load_workflow(f"{path}:flow").content_hash() == first.content_hash()
    assert load_workflow(str(path)).content_hash() == first.content_hash()  # the one @workflow in the file


def test_import_by_module_name_from_the_working_directory(modules):
    path = modules.write(DIAMOND)
    from dagtrail.spec.workflow_ref import load_workflow

    spec = load_workflow(f"{path.stem}:flow")
    assert spec.tasks["left"].command[3] == f"{path.stem}:left"


def test_importing_dagtrail_is_light_and_flow_is_the_api():
    import subprocess
    import sys

    code = ("import sys, dagtrail; assert 'pydantic' not in sys.modules; "
            "from dagtrail.flow import task, workflow, outputs; import dagtrail.task as wrapper; "
            "assert task is not wrapper; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_yaml_specs_still_load(tmp_path):
    from dagtrail.spec.workflow_ref import is_python_ref, load_workflow

    spec_file = tmp_path / "w.yaml"
    spec_file.write_text("name: w\ntasks:\n  a: {image: alpine, command: [echo]}\n")
    assert load_workflow(str(spec_file)).tasks["a"].command == ("echo",)
    assert not is_python_ref("dir/w.yaml") and is_python_ref("pkg.mod:fn") and is_python_ref("a/b.py")
    assert is_python_ref("a/b.py:fn") and not is_python_ref("c:/x/w.yaml")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_floats_are_not_json(value):
    with pytest.raises(argcodec.NotSerialisable):
        argcodec.encode({"x": [value]}, "arg")
