"""Every compiled machine passes asl-validator: the fixtures, the checked-in statemachines/,
and random DAGs with awkward commands (multi-line scripts, empty arguments)."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from dagtrail.compiler import compile_workflow, to_json
from dagtrail.spec import TaskSpec, WorkflowSpec, load_spec

REPO = Path(__file__).resolve().parents[3]
VALIDATOR = REPO / "node_modules" / ".bin" / "asl-validator"
FIXTURES = REPO / "tests" / "fixtures" / "specs"


def random_spec(seed: int) -> WorkflowSpec:
    rng = random.Random(seed)
    n = rng.randint(1, 16)
    names = [f"t{i}-{rng.choice(['sim', 'fit', 'plot'])}" for i in range(n)]
    rng.shuffle(names)
    tasks = {}
    for j, name in enumerate(names):
        command = rng.choice([
            ["python3", "-c", "import sys\nprint(sys.argv)\n", "{{ params.n }}"],
            ["sh", "-c", "echo \"$1\" > out.txt", "", "{{ params.n }}"],
            ["true"],
        ])
        tasks[name] = TaskSpec(
            image="python:3.11-slim",
            command=command,
            env={"N": "{{ params.n }}"} if rng.random() < 0.5 else {},
            depends_on=tuple(names[i] for i in range(j) if rng.random() < 0.3),
            retries=rng.choice([0, 0, 1, 3]),
            timeout=rng.choice([60, 3600, "2h"]),
            compute=rng.choice(["batch", "ecs"]),
        )
    return WorkflowSpec(name=f"random-{seed}", parameters={"n": 3}, tasks=tasks)


def machines(tmp_path: Path) -> list[Path]:
    paths = sorted((REPO / "statemachines").glob("*.asl.json"))
    specs = [load_spec(FIXTURES / "diamond.yaml")] + [random_spec(seed) for seed in range(30)]
    for spec in specs:
        path = tmp_path / f"{spec.name}.asl.json"
        path.write_text(to_json(compile_workflow(spec)))
        paths.append(path)
    return paths


def test_compiled_machines_pass_asl_validator(tmp_path):
    if shutil.which("node") is None:
        pytest.skip("node is not installed (make test installs asl-validator with npm)")
    assert VALIDATOR.exists(), "asl-validator missing: run `make test` (it runs npm install)"
    paths = machines(tmp_path)
    assert any(p.parent.name == "statemachines" for p in paths), "statemachines/ is empty"
    args = [str(VALIDATOR)]
    for path in paths:
        args += ["--json-path", str(path)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("is valid") == len(paths)


def test_asl_validator_rejects_a_broken_machine(tmp_path):
    """The check above means something: the validator does fail bad ASL."""
    if shutil.which("node") is None or not VALIDATOR.exists():
        pytest.skip("asl-validator not installed")
    bad = tmp_path / "bad.asl.json"
    bad.write_text('{"StartAt": "a", "States": {"a": {"Type": "Task", "Next": "nowhere"}}}')
    result = subprocess.run([str(VALIDATOR), "--json-path", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
