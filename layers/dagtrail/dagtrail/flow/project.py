"""Where a Python task's code lives, named relative to the project so compiled output is the
same in every clone: DAGTRAIL_CODE_DIR=examples/cfd-sweep, resolved at run time against
$DAGTRAIL_PROJECT_DIR (which `dagtrail run` sets) or else the working directory (a
container's WORKDIR holding the project).

Standard library only: dagtrail.flow.entry resolves it inside task images.
"""

from __future__ import annotations

import os
from pathlib import Path

CODE_DIR_ENV = "DAGTRAIL_CODE_DIR"
PROJECT_DIR_ENV = "DAGTRAIL_PROJECT_DIR"
# What marks a project's root, as packaging tools and git see it.
_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


def project_root(start: Path) -> Path:
    """$DAGTRAIL_PROJECT_DIR, else the nearest directory at or above `start` holding a project
    marker, else `start` itself (a workflow file on its own)."""
    given = os.environ.get(PROJECT_DIR_ENV)
    if given:
        return Path(given).resolve()
    start = start.resolve()
    for directory in (start, *start.parents):
        if any((directory / marker).exists() for marker in _MARKERS):
            return directory
    return start


def code_dir_value(code_dir: Path, root: Path) -> str:
    """code_dir relative to root, with '/' on every platform ('.' for the root itself)."""
    return Path(os.path.relpath(code_dir.resolve(), root)).as_posix()


def resolve_code_dir(value: str, cwd: Path | None = None) -> Path:
    """The directory a DAGTRAIL_CODE_DIR value names in this process."""
    path = Path(value)
    if path.is_absolute():  # specs compiled before code dirs were relative
        return path
    base = os.environ.get(PROJECT_DIR_ENV)
    return (Path(base) if base else (cwd or Path.cwd())) / path
