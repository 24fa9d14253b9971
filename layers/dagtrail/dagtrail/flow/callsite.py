"""Where in the user's code a workflow error happened: the first frame outside dagtrail.flow."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import FrameType, TracebackType

_FLOW_DIR = str(Path(__file__).resolve().parent) + os.sep
_DAGTRAIL_DIR = str(Path(__file__).resolve().parent.parent) + os.sep


def shown(filename: str) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(filename)
    except ValueError:  # another drive
        return filename
    return filename if rel.startswith("..") else rel


def _ours(filename: str, root: str) -> bool:
    return os.path.abspath(filename).startswith(root)


def caller() -> tuple[str, int]:
    """(file, line) of the innermost frame that is not dagtrail.flow's own code."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and _ours(frame.f_code.co_filename, _FLOW_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown>", 0
    return shown(frame.f_code.co_filename), frame.f_lineno


def user_frame_of(tb: TracebackType | None) -> tuple[str, int] | None:
    """(file, line) of the innermost traceback entry in user code (not dagtrail, not a library)."""
    found = None
    libs = tuple(p for p in {sys.prefix, sys.base_prefix, sys.exec_prefix} if p)
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        path = os.path.abspath(name)
        if not _ours(name, _DAGTRAIL_DIR) and not path.startswith(libs) and not name.startswith("<"):
            found = (shown(name), tb.tb_lineno)
        tb = tb.tb_next
    return found
