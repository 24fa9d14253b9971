"""dagtrail.flow.entry: a Python task's process loads its arguments, calls it, writes result.json."""

from __future__ import annotations

import json

import pytest

from dagtrail.errors import DagtrailError
from dagtrail.flow import args as argcodec
from dagtrail.flow import entry, outputs

from .runner import TaskFailed, run_spec

PIPELINE = """
import numpy as np
from dagtrail.flow import outputs, task, workflow

@task
def make(n: int, scale: float, name: str, loud: bool) -> dict:
    np.save(outputs() / "field.npy", np.arange(n) * scale)
    (outputs() / "notes").mkdir()
    (outputs() / "notes" / "a.txt").write_text(name)
    return {"n": n, "total": np.float64(scale) * n, "ints": np.arange(3), "loud": loud}

@task
def use(made: dict, total, field, notes, sizes: list) -> dict:
    return {"n": made["n"], "total": total, "field_sum": float(np.load(field).sum()),
            "note": (notes / "a.txt").read_text(), "sizes": sizes}

@task(image="alpine", command=["sh", "-c", "echo hi > $DAGTRAIL_OUTPUT_DIR/hi.txt"])
def shell(): ...

@task
def read_shell(text_file, upstream=None) -> str:
    return text_file.read_text().strip()

@workflow
def flow(n: int = 4, scale: float = 0.5, name: str = "x", loud: bool = False):
    made = make(n, scale, name, loud)
    use(made, made["total"], made.file("field.npy"), made.file("notes"), [1, {"two": 2}])
    sh = shell()
    read_shell(sh.file("hi.txt"))
"""


def test_results_files_and_parameters_flow_between_task_processes(modules, tmp_path):
    spec, _ = modules.build(PIPELINE)
    outs = run_spec(spec, tmp_path / "run", {"n": "6", "name": "{{ not a template }}", "loud": "true"})
    made = json.loads((outs["make"] / "result.json").read_text())
    assert made == {"n": 6, "total": 3.0, "ints": [0, 1, 2], "loud": True}
    used = json.loads((outs["use"] / "result.json").read_text())
    assert used == {"n": 6, "total": 3.0, "field_sum": 7.5, "note": "{{ not a template }}",
                    "sizes": [1, {"two": 2}]}
    assert json.loads((outs["read_shell"] / "result.json").read_text()) == "hi"


def test_a_failing_function_fails_the_task_with_its_traceback(modules, tmp_path):
    spec, _ = modules.build("""
        from dagtrail.flow import task, workflow

        @task
        def boom(x):
            raise RuntimeError(f"exploding at {x}")

        @workflow
        def flow():
            boom(3)
    """)
    with pytest.raises(TaskFailed) as caught:
        run_spec(spec, tmp_path / "run")
    assert caught.value.code == 1
    assert "RuntimeError: exploding at 3" in caught.value.log and "Traceback" in caught.value.log
    assert not (tmp_path / "run" / "out" / "boom" / "result.json").exists()


def test_a_result_that_is_not_json_fails_the_task(modules, tmp_path):
    spec, _ = modules.build("""
        from dagtrail.flow import task, workflow

        @task
        def bad():
            return object()

        @workflow
        def flow():
            bad()
    """)
    with pytest.raises(TaskFailed, match="not JSON-serialisable"):
        run_spec(spec, tmp_path / "run")


def test_asking_for_the_result_of_a_command_task_says_what_to_do(modules, tmp_path):
    spec, _ = modules.build("""
        from dagtrail.flow import task, workflow

        @task(image="alpine", command=["true"])
        def shell(): ...

        @task
        def use(value):
            return value

        @workflow
        def flow():
            use(shell())
    """)
    with pytest.raises(TaskFailed, match=r"task 'shell' left no result.json .*shell.file\(name\) or shell.dir"):
        run_spec(spec, tmp_path / "run")


def test_decode_resolves_every_kind(tmp_path):
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "result.json").write_text('{"a": [10, 20]}')
    encoded = {"x": {"$dagtrail": "result", "task": "up", "path": ["a", 1]},
               "f": {"$dagtrail": "file", "task": "up", "name": "f.csv"},
               "p": [{"$dagtrail": "param", "name": k, "type": t} for k, t in
                     [("i", "int"), ("f", "float"), ("b", "bool"), ("s", "str")]],
               "d": {"$dagtrail": "dict", "value": {"$dagtrail": 1}}}
    params = {"i": "3", "f": "2.5", "b": "false", "s": "hello"}
    assert argcodec.decode(encoded, params=params, input_dir=tmp_path) == {
        "x": 20, "f": tmp_path / "up" / "f.csv", "p": [3, 2.5, False, "hello"], "d": {"$dagtrail": 1}}
    with pytest.raises(LookupError, match="has no item 'b'"):
        argcodec.decode({"$dagtrail": "result", "task": "up", "path": ["b"]}, params={}, input_dir=tmp_path)


def test_entry_usage_error():
    assert entry.main(["no-colon"]) == entry.EXIT_USAGE


def test_outputs_outside_a_task(monkeypatch, tmp_path):
    monkeypatch.delenv("DAGTRAIL_OUTPUT_DIR", raising=False)
    with pytest.raises(DagtrailError, match="only available inside a running task"):
        outputs()
    monkeypatch.setenv("DAGTRAIL_OUTPUT_DIR", str(tmp_path / "o"))
    assert outputs() == tmp_path / "o" and (tmp_path / "o").is_dir()


def test_a_task_process_skips_the_build_checks_and_never_imports_pydantic(modules, tmp_path):
    import os
    import subprocess
    import sys

    path = modules.write("""
        from dagtrail.flow import task, workflow

        @task(vcpu=2)
        def double(x: int) -> int:
            return 2 * x

        @workflow
        def flow():
            double(21)
    """)
    code = ("import sys; from dagtrail.flow import entry; "
            f"code = entry.main(['{path.stem}:double', '{{\"args\":[21]}}']); "
            "assert 'pydantic' not in sys.modules, 'pydantic imported'; sys.exit(code)")
    env = {**os.environ, "DAGTRAIL_CODE_DIR": ".", "DAGTRAIL_PROJECT_DIR": str(path.parent),
           "DAGTRAIL_OUTPUT_DIR": str(tmp_path / "out")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path / "..", capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "out" / "result.json").read_text()) == 42
