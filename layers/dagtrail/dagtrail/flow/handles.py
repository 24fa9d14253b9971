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
    """What a task returns (its result.json), or one field of it: `train(...)["accuracy"]`.

    A mapped task's result (`mapped`) is the list of its items' results, in item order:
    `cases[2]` is item 2's, `cases.file(name)` the list of every item's file."""

    task: str
    path: tuple[str | int, ...] = ()
    mapped: bool = False

    def _describe(self) -> str:
        return f"the result list of mapped task {self.task!r}" if self.mapped else f"the result of task {self.task!r}"

    @property
    def _hint(self) -> str:  # type: ignore[override]
        if self.mapped and not self.path:
            return ("pass the whole list to a task, index one item (cases[0]), or pass every item's files "
                    "with .file(name) / .dir")
        return "pass it to a task as an argument"

    def __iter__(self) -> NoReturn:
        _not_yet(self._describe(), self._hint if self.mapped else
                 "to fan out over a list, map a task over a list known when the workflow is built")

    def __getitem__(self, key: str | int) -> Result:
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            file, line = caller()
            raise SpecError(f"index a result with a string or an integer, got {key!r}", file=file,
                            line=line, task=self.task)
        if self.mapped and not self.path and not isinstance(key, int):
            file, line = caller()
            raise SpecError(f"the result of a mapped task is a list with one result per item: index it with "
                            f"an item number ({self.task}[0][{key!r}]), or pass it whole",
                            file=file, line=line, task=self.task)
        return Result(self.task, self.path + (key,), self.mapped)

    def file(self, name: str) -> FileRef:
        """A file the task wrote into its outputs(), as a pathlib.Path in the consuming task; of
        a mapped task, the list of every item's file (or item i's, from `cases[i].file(name)`)."""
        if not isinstance(name, str) or not name or name.startswith("/") or ".." in name.split("/"):
            file, line = caller()
            raise SpecError(f"file() takes a relative path inside the task's outputs, got {name!r}",
                            file=file, line=line, task=self.task)
        return self._files(name)

    @property
    def dir(self) -> FileRef:
        """The task's whole output directory, as a pathlib.Path in the consuming task (of a mapped
        task, the list of its items' directories)."""
        return self._files("")

    def _files(self, name: str) -> FileRef:
        if not self.mapped:
            return FileRef(self.task, name)
        if not self.path:
            return FileRef(self.task, name, each=True)
        index = self.path[0]
        if len(self.path) == 1 and isinstance(index, int) and index >= 0:
            return FileRef(self.task, f"{index}/{name}" if name else str(index))
        file, line = caller()
        raise SpecError(f"files belong to one item of a mapped task: {self.task}[i].file(name) with i >= 0, "
                        f"or {self.task}.file(name) for every item's", file=file, line=line, task=self.task)

    def __repr__(self) -> str:
        return f"<result of {self.task}{''.join(f'[{p!r}]' for p in self.path)}>"


@dataclass(frozen=True, eq=False)
class FileRef(_Lazy):
    task: str
    name: str
    each: bool = False  # every item's file of a mapped task, as a list

    def _describe(self) -> str:
        what = f"file {self.name!r}" if self.name else "the outputs"
        return f"{what} of {'every item of ' if self.each else ''}task {self.task!r}"

    def __repr__(self) -> str:
        return f"<{self._describe()}>"


@dataclass(frozen=True, eq=False)
class Item(_Lazy):
    """Where a mapped task's item goes among its arguments (the first, for `task.map`)."""

    def _describe(self) -> str:
        return "the item of a mapped task"


ITEM = Item()


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
