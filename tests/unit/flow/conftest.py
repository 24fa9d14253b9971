"""Helpers: write a workflow module to a temporary directory and build it by file reference."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from dagtrail.spec.workflow_ref import load_workflow


class Modules:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.names: list[str] = []

    def write(self, source: str) -> Path:
        name = f"wf_{uuid.uuid4().hex[:10]}"
        self.names.append(name)
        path = self.root / f"{name}.py"
        path.write_text(textwrap.dedent(source).lstrip("\n"))
        return path

    def build(self, source: str, fn: str = "flow"):
        path = self.write(source)
        return load_workflow(f"{path}:{fn}"), path


@pytest.fixture
def modules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mods = Modules(tmp_path)
    yield mods
    for name in mods.names:
        sys.modules.pop(name, None)
    while str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def line_of(path: Path, marker: str) -> int:
    """The 1-based line holding `marker` (a comment in the test source)."""
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if marker in text:
            return number
    raise AssertionError(f"{marker!r} not in {path}")
