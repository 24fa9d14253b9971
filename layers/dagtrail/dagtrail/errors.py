"""One error hierarchy; the CLI maps it to exit codes in one place."""

from __future__ import annotations


class DagtrailError(Exception):
    """Base for every error dagtrail raises on purpose. Exit code 2: bad input."""

    exit_code = 2


class SpecError(DagtrailError):
    """An invalid workflow spec, located by file, task, field and YAML line."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        task: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.task = task
        self.field = field
        self.line = line
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = self.file or "<spec>"
        if self.line is not None:
            where += f":{self.line}"
        parts = [where]
        if self.task:
            parts.append(f"task '{self.task}'")
        if self.field:
            parts.append(f"field '{self.field}'")
        text = f"{': '.join(parts)}: {self.message}"
        # One line whatever a key or value held: control characters are shown escaped.
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class UsageError(DagtrailError):
    """A bad command-line argument."""


class NotFoundError(DagtrailError):
    """A run, task, artifact or resource the user named does not exist."""


class RunFailed(DagtrailError):
    """A workflow run ended unsuccessfully. Exit code 1."""

    exit_code = 1
