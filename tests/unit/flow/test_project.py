"""DAGTRAIL_CODE_DIR is relative to the project, so `dagtrail compile` gives the same bytes in
every clone, and the task process finds the code from wherever it runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dagtrail.flow.project import PROJECT_DIR_ENV, code_dir_value, project_root, resolve_code_dir
from dagtrail.spec.workflow_ref import load_workflow

from .runner import run_spec

REPO = Path(__file__).resolve().parents[3]
DAGTRAIL = Path(sys.executable).parent / "dagtrail"

FLOW = """
from dagtrail.flow import task, workflow

@task
def hello(n: int) -> str:
    return f"hello {n}"

@workflow
def flow():
    hello.map([1, 2])
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv(PROJECT_DIR_ENV, raising=False)
    root = tmp_path / "proj"
    (root / "flows" / "demo").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    name = "wf_project_demo"
    (root / "flows" / "demo" / f"{name}.py").write_text(FLOW)
    yield root, root / "flows" / "demo" / f"{name}.py"
    sys.modules.pop(name, None)
    while str(root / "flows" / "demo") in sys.path:
        sys.path.remove(str(root / "flows" / "demo"))


def test_code_dir_is_relative_to_the_project_root_and_found_at_run_time(project, tmp_path, monkeypatch):
    root, path = project
    monkeypatch.chdir(tmp_path)  # neither the project nor the workflow's directory
    spec = load_workflow(f"{path}:flow")
    assert spec.tasks["hello"].env == {"DAGTRAIL_CODE_DIR": "flows/demo"}
    outs = run_spec(spec, tmp_path / "run", project=root)  # task processes run in their input dir
    assert [json.loads((outs["hello"] / str(i) / "result.json").read_text()) for i in (0, 1)] == [
        "hello 1", "hello 2"]


def test_the_project_root(tmp_path, monkeypatch):
    monkeypatch.delenv(PROJECT_DIR_ENV, raising=False)
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / ".git").mkdir()
    assert project_root(tmp_path / "a" / "b") == (tmp_path / "a").resolve()
    lone = tmp_path / "lone"
    lone.mkdir()
    if not any(project_root(lone) == p for p in lone.resolve().parents):  # no marker above tmp
        assert project_root(lone) == lone.resolve()
    monkeypatch.setenv(PROJECT_DIR_ENV, str(tmp_path / "a" / "b"))
    assert project_root(tmp_path) == (tmp_path / "a" / "b").resolve()
    assert code_dir_value(tmp_path / "a" / "b" / "c", tmp_path / "a") == "b/c"
    assert code_dir_value(tmp_path / "a", tmp_path / "a") == "."


def test_resolving_a_code_dir(tmp_path, monkeypatch):
    monkeypatch.delenv(PROJECT_DIR_ENV, raising=False)
    assert resolve_code_dir("/abs/code") == Path("/abs/code")  # specs compiled before relative dirs
    assert resolve_code_dir("flows/demo", cwd=tmp_path) == tmp_path / "flows" / "demo"
    monkeypatch.setenv(PROJECT_DIR_ENV, str(tmp_path / "proj"))
    assert resolve_code_dir("flows/demo", cwd=Path("/elsewhere")) == tmp_path / "proj" / "flows" / "demo"


def _clone(repo_root: Path, target: Path) -> Path:
    """What a clone holds of the example: the project marker and examples/cfd-sweep."""
    (target / "examples").mkdir(parents=True)
    shutil.copy(repo_root / "pyproject.toml", target / "pyproject.toml")
    shutil.copytree(repo_root / "examples" / "cfd-sweep", target / "examples" / "cfd-sweep",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _compile(ref: str, cwd: Path) -> str:
    env = {k: v for k, v in __import__("os").environ.items() if k != PROJECT_DIR_ENV}
    proc = subprocess.run([str(DAGTRAIL), "compile", ref], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_compile_output_is_identical_across_clones(tmp_path):
    first = _clone(REPO, tmp_path / "one" / "dagtrail")
    second = _clone(REPO, tmp_path / "two" / "deeper" / "checkout")
    ref = "examples/cfd-sweep/cfd_sweep.py:cavity_sweep"
    a = _compile(ref, first)
    b = _compile(str(second / ref), tmp_path)  # another clone, compiled from outside it
    c = _compile(ref, REPO)
    assert a == b == c
    assert str(tmp_path) not in a and str(REPO) not in c
    assert '\\"DAGTRAIL_CODE_DIR\\":\\"examples/cfd-sweep\\"' in a  # inside the definition's JSON
