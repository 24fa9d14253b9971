"""Lazy values inside a workflow function: task results and workflow parameters.

A handle is only a name for something known at run time. Passing one to a task makes a
dependency (results) or a `{{ params.x }}` reference (parameters); using one in Python
logic (`if`, `for`, arithmetic) is an error, because the value does not exist yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

from dagtrail.errors import SpecError
from dagtrail.flow.callsite import caller


def _not_yet(what: str, hint: str) -> NoReturn:
    file, line = caller()
    raise SpecError(f"{what} is only known at run time; {hint}", file=file, line=line)


class _Lazy:
    """Refuses every use that would need the run-time value."""

    def _describe(self) -> str:
        raise NotImplementedError

    _hint = "pass it to a task as an argument"

    def __bool__(self) -> NoReturn:
        _not_yet(self._describe(), self._hint)

    def __iter__(self) -> NoReturn:
        _not_yet(self._describe(), "to fan out over a list, map a task over a list known when the workflow is built")

    def __len__(self) -> NoReturn:
        _not_yet(self._describe(), self._hint)

    def __index__(self) -> NoReturn:
        _not_yet(self._describe(), self._hint)

    def __int__(self) -> NoReturn:
        _not_yet(self._describe(), self._hint)

    def __float__(self) -> NoReturn:
        _not_yet(self._describe(), self._hint)

    def __eq__(self, other: object) -> NoReturn:  # type: ignore[override]
        _not_yet(self._describe(), self._hint)

    def __lt__(self, other: object) -> NoReturn:
        _not_yet(self._describe(), self._hint)

    __le__ = __gt__ = __ge__ = __lt__

    def __add__(self, other: object) -> NoReturn:
        _not_yet(self._describe(), "do the arithmetic inside a task")

    __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __pow__ = __add__
    __floordiv__ = __mod__ = __neg__ = __add__

    def __hash__(self) -> int:
        return id(self)


@dataclass(frozen=True, eq=False)
class Result(_Lazy):
    """What a task returns (its result.json), or one field of it: `train(...)["accuracy"]`."""

    task: str
    path: tuple[str | int, ...] = ()

    def _describe(self) -> str:
        return f"the result of task {self.task!r}"

    def __getitem__(self, key: str | int) -> Result:
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            file, line = caller()
            raise SpecError(f"index a result with a string or an integer, got {key!r}", file=file,
                            line=line, task=self.task)
        return Result(self.task, self.path + (key,))

    def file(self, name: str) -> FileRef:
        """A file the task wrote into its outputs(), as a pathlib.Path in the consuming task."""
        if not isinstance(name, str) or not name or name.startswith("/") or ".." in name.split("/"):
            file, line = caller()
            raise SpecError(f"file() takes a relative path inside the task's outputs, got {name!r}",
                            file=file, line=line, task=self.task)
        return FileRef(self.task, name)

    @property
    def dir(self) -> FileRef:
        """The task's whole output directory, as a pathlib.Path in the consuming task."""
        return FileRef(self.task, "")

    def __repr__(self) -> str:
        return f"<result of {self.task}{''.join(f'[{p!r}]' for p in self.path)}>"


@dataclass(frozen=True, eq=False)
class FileRef(_Lazy):
    task: str
    name: str

    def _describe(self) -> str:
        return f"file {self.name!r} of task {self.task!r}" if self.name else f"the outputs of task {self.task!r}"

    def __repr__(self) -> str:
        return f"<{self._describe()}>"


@dataclass(frozen=True, eq=False)
class Param(_Lazy):
    """A workflow parameter. In an f-string it reads `{{ params.name }}`, for command tasks."""

    name: str
    default: Any = field(default=None)

    def _describe(self) -> str:
        return f"parameter {self.name!r}"

    def __str__(self) -> str:
        return "{{ params.%s }}" % self.name

    def __format__(self, spec: str) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"<parameter {self.name}>"
