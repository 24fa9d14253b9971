"""Mistakes in workflow code: a SpecError naming the user's file and line, one line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dagtrail.errors import SpecError
from dagtrail.spec.workflow_ref import load_workflow

from .conftest import line_of

HEADER = """
from dagtrail.flow import task, workflow

@task
def step(x=None, y=None):
    return x
"""


def _error(modules, body: str, fn: str = "flow") -> tuple[SpecError, Path]:
    path = modules.write(HEADER + body)
    with pytest.raises(SpecError) as caught:
        load_workflow(f"{path}:{fn}")
    return caught.value, path


def _assert_at(err: SpecError, path: Path, marker: str, *words: str) -> None:
    assert err.file == path.name, err  # relative to the working directory
    assert err.line == line_of(path, marker), err
    text = str(err)
    assert text.startswith(f"{path.name}:{err.line}: ") and "\n" not in text
    for word in words:
        assert word in text, text


def test_calling_a_task_outside_a_workflow(modules):
    err, path = _error(modules, """
step(1)  # HERE
""")
    _assert_at(err, path, "# HERE", "outside a @workflow", "step.fn(")


def test_a_non_serialisable_argument_names_the_argument(modules):
    err, path = _error(modules, """
@workflow
def flow():
    step(1, y={"ok": [1, object()]})  # HERE
""")
    _assert_at(err, path, "# HERE", "field 'y.ok[1]'", "builtins.object", "not JSON-serialisable")
    assert err.task == "step" and err.field == "y.ok[1]"


def test_calling_a_task_twice_without_a_name_is_a_duplicate(modules):
    err, path = _error(modules, """
@workflow
def flow():
    step(1)  # FIRST
    step(2)  # HERE
""")
    _assert_at(err, path, "# HERE", "duplicate task name 'step'", f"first at {path.name}:{line_of(path, '# FIRST')}",
               ".options(name=")


def test_a_map_and_a_call_of_the_same_task_clash(modules):
    err, path = _error(modules, """
@workflow
def flow():
    step.map([1, 2])
    step(3)  # HERE
""")
    _assert_at(err, path, "# HERE", "duplicate task name 'step'", ".options(name=")


def test_wrong_arguments_for_the_function(modules):
    err, path = _error(modules, """
@workflow
def flow():
    step(1, 2, 3)  # HERE
""")
    _assert_at(err, path, "# HERE", "step(): too many positional arguments")


def test_bad_task_options_point_at_the_decorator(modules):
    err, path = _error(modules, """
@task(vcpu=-1)  # HERE
def heavy():
    return 1
""")
    _assert_at(err, path, "# HERE", "field 'vcpu'", "greater than 0")


def test_a_bad_timeout_points_at_the_decorator(modules):
    err, path = _error(modules, """
@task(timeout="ninety minutes")  # HERE
def slow():
    return 1
""")
    _assert_at(err, path, "# HERE", "field 'timeout'", "not seconds or a duration")


def test_a_bad_task_name(modules):
    err, path = _error(modules, """
@workflow
def flow():
    step.options(name="Bad Name")(1)  # HERE
""")
    _assert_at(err, path, "# HERE", "'Bad Name' is not a task name")


def test_using_a_parameter_in_python_logic(modules):
    err, path = _error(modules, """
@workflow
def flow(n: int = 3):
    for i in range(n):  # HERE
        step(i)
""")
    _assert_at(err, path, "# HERE", "parameter 'n' is only known at run time")


def test_branching_on_a_result(modules):
    err, path = _error(modules, """
@workflow
def flow():
    r = step(1)
    if r["ok"]:  # HERE
        pass
""")
    _assert_at(err, path, "# HERE", "the result of task 'step' is only known at run time")


def test_mapping_over_a_run_time_value(modules):
    err, path = _error(modules, """
@workflow
def flow():
    r = step(1)
    step.options(name="again").map(r)  # HERE
""")
    _assert_at(err, path, "# HERE", "map() needs a list known when the workflow is built")


def test_a_handle_from_another_workflow(modules):
    err, path = _error(modules, """
SAVED = []

@workflow
def first():
    SAVED.append(step(1))

first.build()

@workflow
def flow():
    step.options(name="other")(SAVED[0])  # HERE
""")
    _assert_at(err, path, "# HERE", "'step' is not a task of workflow 'flow'")


def test_a_workflow_that_calls_no_task(modules):
    err, path = _error(modules, """
@workflow  # HERE
def flow():
    pass
""")
    _assert_at(err, path, "# HERE", "calls no task")


def test_a_parameter_without_default_or_with_a_bad_one(modules):
    err, path = _error(modules, """
@workflow  # HERE
def flow(n):
    step(n)
""")
    _assert_at(err, path, "# HERE", "parameter 'n' needs a default")
    err, path = _error(modules, """
@workflow(parameters={"grid": [1, 2]})  # HERE
def flow():
    step(1)
""")
    _assert_at(err, path, "# HERE", "must default to a string, number or boolean")


def test_a_bug_in_the_workflow_body_points_at_it(modules):
    err, path = _error(modules, """
@workflow
def flow():
    sizes = {"a": 1}
    step(sizes["b"])  # HERE
""")
    _assert_at(err, path, "# HERE", "KeyError: 'b'")


def test_an_error_while_importing_the_module(modules):
    err, path = _error(modules, """
import json
json.loads("{")  # HERE
""")
    _assert_at(err, path, "# HERE", "JSONDecodeError")
    err, path = _error(modules, """
def broken(:  # HERE
    pass
""")
    _assert_at(err, path, "# HERE", "SyntaxError")


def test_a_local_function_cannot_be_a_python_task(modules):
    err, path = _error(modules, """
def factory():
    @task  # HERE
    def inner():
        return 1
    return inner

factory()
""")
    _assert_at(err, path, "# HERE", "top level of a module")


def test_command_tasks_take_only_results(modules):
    err, path = _error(modules, """
@task(image="alpine", command=["true"])
def cmd(): ...

@workflow
def flow():
    cmd(5)  # HERE
""")
    _assert_at(err, path, "# HERE", "a command task takes only results of other tasks")


def test_calling_a_workflow_directly(modules):
    err, path = _error(modules, """
@workflow
def other():
    step(1)

other()  # HERE
""")
    _assert_at(err, path, "# HERE", "not called directly")


def test_unknown_references(modules, tmp_path):
    path = modules.write(HEADER)
    with pytest.raises(SpecError, match="no 'missing' in module"):
        load_workflow(f"{path}:missing")
    with pytest.raises(SpecError, match="'step' is not a @workflow function"):
        load_workflow(f"{path}:step")
    with pytest.raises(SpecError, match=r"name the workflow as .*: none\)"):
        load_workflow(str(path))
    with pytest.raises(SpecError, match="no such file"):
        load_workflow(str(tmp_path / "nope.py") + ":flow")
    with pytest.raises(SpecError, match="cannot import module 'no_such_module_here'"):
        load_workflow("no_such_module_here:flow")


def test_through_the_cli_one_line_and_exit_2(modules, tmp_path):
    path = modules.write(HEADER + """
@workflow
def flow():
    step(object())  # HERE
""")
    dagtrail = Path(sys.executable).parent / "dagtrail"
    for command in ("compile", "run"):
        proc = subprocess.run([str(dagtrail), command, f"{path.name}:flow"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert proc.stderr.startswith(f"dagtrail: error: {path.name}:{line_of(path, '# HERE')}: task 'step'")
