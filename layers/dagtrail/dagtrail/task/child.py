"""Run the command as a child process: argv only, output tee'd, signals forwarded.

The child leads its own process group and signals go to the whole group: a shell or
launcher that does not forward SIGTERM would otherwise leave the real work running until
the platform's SIGKILL. Its stdout and stderr pass through to ours (so CloudWatch still gets
every line) and their last bytes are kept for `_logs/tail.txt`.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import BinaryIO

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


class Tail:
    """The last `limit` bytes written to it, from any thread."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        data = data[-self.limit:]
        with self._lock:
            self._chunks.append(data)
            self._size += len(data)
            while self._size - len(self._chunks[0]) >= self.limit:
                self._size -= len(self._chunks.popleft())

    def getvalue(self) -> bytes:
        with self._lock:
            return b"".join(self._chunks)[-self.limit:]


class Child:
    def __init__(self, argv: Sequence[str], env: dict[str, str], tail: Tail) -> None:
        self.tail = tail
        # start_new_session: a process group of its own, so signals can reach all of it.
        self.proc = subprocess.Popen(list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self._tees = [
            threading.Thread(target=self._tee, args=(self.proc.stdout, sys.stdout.buffer), daemon=True),
            threading.Thread(target=self._tee, args=(self.proc.stderr, sys.stderr.buffer), daemon=True),
        ]
        for tee in self._tees:
            tee.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, signum: int) -> None:
        try:
            os.killpg(self.proc.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass  # the group is gone

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def join_output(self, timeout: float = 5.0) -> None:
        """Let the tees drain. A daemon grandchild holding the pipes open cannot stall us."""
        for tee in self._tees:
            tee.join(timeout)

    def _tee(self, source: BinaryIO, sink: BinaryIO) -> None:
        while chunk := source.read1(65536):
            self.tail.write(chunk)
            try:
                sink.write(chunk)
                sink.flush()
            except (OSError, ValueError):
                pass  # our own stdout closed: keep draining so the child never blocks


def exit_code(returncode: int) -> int:
    """A child killed by signal N exits 128+N, as a shell reports it."""
    return 128 - returncode if returncode < 0 else returncode
