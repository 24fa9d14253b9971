"""The DAG a workflow function builds while it runs: one node per task call."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagtrail.errors import SpecError

_current: contextvars.ContextVar[Builder | None] = contextvars.ContextVar("dagtrail_flow_builder", default=None)


@dataclass
class Node:
    name: str
    spec: dict[str, Any]  # TaskSpec fields
    file: str
    line: int


@dataclass
class Builder:
    workflow: str
    file: str
    line: int
    params: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    root: Path = field(default_factory=Path.cwd)  # the project root task code dirs are relative to

    def add(self, node: Node) -> None:
        if node.name in self.nodes:
            first = self.nodes[node.name]
            raise SpecError(
                f"duplicate task name {node.name!r} (first at {first.file}:{first.line}); "
                "give this call its own name with .options(name=...), or use .map(...) for a fan-out",
                file=node.file, line=node.line, task=node.name,
            )
        self.nodes[node.name] = node

    def check_known(self, tasks: set[str], *, file: str, line: int, task: str) -> None:
        """A handle from another workflow's build (kept in a global, say) is not a task here."""
        for name in sorted(tasks):
            if name not in self.nodes:
                raise SpecError(f"{name!r} is not a task of workflow {self.workflow!r}; "
                                "results can only be passed within the workflow that made them",
                                file=file, line=line, task=task)


def current() -> Builder | None:
    return _current.get()


def activate(builder: Builder) -> contextvars.Token:
    return _current.set(builder)


def deactivate(token: contextvars.Token) -> None:
    _current.reset(token)
