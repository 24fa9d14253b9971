"""Every invalid spec exits 2 with one line naming file:line, task and field — never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dagtrail.cli.main import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "specs"
INVALID = FIXTURES / "invalid"

# fixture -> the stderr line after "dagtrail: error: <path>:"
EXPECTED = {
    "bad-yaml.yaml": "5: invalid YAML: expected ',' or ']', but got '<stream end>'",
    "not-a-mapping.yaml": "1: the top level must be a mapping with name and tasks, got a list",
    "empty.yaml": "1: the spec is empty",
    "unknown-top-key.yaml": "2: field 'task': unknown key 'task' (did you mean 'tasks'?); "
    "allowed: description, name, parameters, tasks",
    "unknown-task-key.yaml": "4: task 'prepare': field 'imgae': unknown key 'imgae' (did you mean 'image'?); "
    "allowed: cache, cache_version, command, compute, depends_on, env, foreach, image, max_parallel, resources, retries, timeout",
    "unknown-resources-key.yaml": "8: task 'prepare': field 'resources.memory': unknown key 'memory' "
    "(did you mean 'memory_mib'?); allowed: gpu, memory_mib, vcpu",
    "missing-image.yaml": "3: task 'prepare': field 'image': is required",
    "missing-command.yaml": "3: task 'prepare': field 'command': is required",
    "command-string.yaml": "5: task 'prepare': field 'command': must be an argv list like "
    "[\"sh\", \"-c\", \"...\"], got the string 'echo hello'",
    "command-item-number.yaml": "7: task 'prepare': field 'command[1]': must be a string, got 10; quote it",
    "retries-string.yaml": "6: task 'prepare': field 'retries': must be an integer, got 'two'",
    "retries-negative.yaml": "6: task 'prepare': field 'retries': must be greater than or equal to 0, got -1",
    "env-number.yaml": "7: task 'prepare': field 'env.THREADS': must be a string, got 4; quote it",
    "compute-unknown.yaml": "6: task 'prepare': field 'compute': must be 'batch' or 'ecs', got 'lambda'",
    "bad-workflow-name.yaml": "1: field 'name': 'My_Workflow' is not a workflow name: lowercase letters, "
    "digits and '-', at most 40 characters, not starting or ending with '-'",
    "bad-task-name.yaml": "3: task 'Prepare Data': 'Prepare Data' is not a task name: lowercase letters, "
    "digits, '_' and '-', starting with a letter or digit, at most 63 characters",
    "yaml-bool-key.yaml": "3: field 'tasks': key 'on' must be a string; quote it",
    "duplicate-task.yaml": "6: task 'prepare': duplicate task name 'prepare' (first at line 3)",
    "duplicate-top-key.yaml": "6: field 'name': duplicate key 'name' (first at line 1)",
    "no-tasks.yaml": "2: field 'tasks': must not be empty",
    "unknown-dependency.yaml": "11: task 'report': field 'depends_on[1]': unknown dependency 'analyse' "
    "(tasks: prepare, report)",
    "self-dependency.yaml": "6: task 'prepare': field 'depends_on[0]': task depends on itself",
    "cycle.yaml": "13: task 'analyse': field 'depends_on[0]': dependency cycle: "
    "analyse -> simulate -> report -> analyse (each task depends on the next)",
    "bad-timeout.yaml": "6: task 'prepare': field 'timeout': '3 weeks' is not seconds or a duration like '90m' or '2h'",
    "zero-timeout.yaml": "6: task 'prepare': field 'timeout': must be positive, got 0",
    "undefined-param-command.yaml": "7: task 'prepare': field 'command[2]': undefined parameter 'steps' "
    "(parameters: size)",
    "undefined-param-env.yaml": "10: task 'prepare': field 'env.STEPS': undefined parameter 'steps' "
    "(parameters: size)",
    "malformed-param-reference.yaml": "7: task 'prepare': field 'command[1]': '{{ size }}' is not a parameter "
    "reference; write '{{ params.size }}'",
    "param-null.yaml": "3: field 'parameters.size': must be a string, number or boolean, got null",
}


def test_every_invalid_fixture_has_an_expectation():
    assert sorted(p.name for p in INVALID.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_spec_exits_2_with_one_located_line(name, capsys, tmp_path):
    spec = INVALID / name
    out_file = tmp_path / "machine.json"
    code = main(["compile", str(spec), "-o", str(out_file)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err == f"dagtrail: error: {spec}:{EXPECTED[name]}\n"
    assert not out_file.exists()


@pytest.mark.parametrize("name", ["cycle.yaml", "bad-yaml.yaml", "command-string.yaml"])
def test_installed_cli_prints_no_traceback(name):
    dagtrail = Path(sys.executable).parent / "dagtrail"
    result = subprocess.run([str(dagtrail), "compile", str(INVALID / name)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"dagtrail: error: {INVALID / name}:")


def test_missing_file_is_a_spec_error(capsys, tmp_path):
    assert main(["compile", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err == f"dagtrail: error: {tmp_path / 'nope.yaml'}: no such file\n"


def test_non_utf8_file_is_a_spec_error(capsys, tmp_path):
    spec = tmp_path / "latin1.yaml"
    spec.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert main(["compile", str(spec)]) == 2
    assert capsys.readouterr().err == f"dagtrail: error: {spec}: not UTF-8 text\n"
