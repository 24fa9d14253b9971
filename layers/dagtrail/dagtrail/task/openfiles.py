"""Which files under a directory some process holds open for writing (Linux /proc).

The stdlib has no inotify, so "closed" is judged by polling: a file is ready when no
visible process has it open for writing and its size and mtime did not change between two
scans. This module answers the first half; /proc is per host (or per container), so in a
container it sees every writer. Writes through a mapping that outlives its descriptor are
invisible here; the stability check and the final sweep at exit cover them.
"""

from __future__ import annotations

import os

PROC = "/proc"


def available() -> bool:
    return os.path.isdir(f"{PROC}/self/fdinfo")


def open_for_writing(root: str) -> set[str] | None:
    """Real paths under `root` open O_WRONLY/O_RDWR by any process we may inspect.

    None when /proc is missing (macOS): callers then rely on stability alone.
    """
    if not available():
        return None
    prefix = os.path.realpath(root).rstrip("/") + "/"
    found: set[str] = set()
    for pid in os.listdir(PROC):
        if not pid.isdigit():
            continue
        fd_dir = f"{PROC}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # gone, or another user's process
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if target.startswith(prefix) and _writable(f"{PROC}/{pid}/fdinfo/{fd}"):
                found.add(target)
    return found


def _writable(fdinfo: str) -> bool:
    try:
        with open(fdinfo) as fh:
            for line in fh:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & os.O_ACCMODE != os.O_RDONLY
    except (OSError, ValueError, IndexError):
        pass
    return False
