"""The lineage writer of a local run in a process of its own.

On AWS the lineage queue's event source mapping runs lineage_writer beside the workflow's
handlers; in one local process the graph writes (gremlite, a sixth of a sweep's CPU) waited
for the GIL with everything else. A forked child runs the same handler, from the parent's
HandlerRegistry, one batch at a time, on the machine's other core; the drain hands it a batch
and collects the answer on a later cycle.

Forked, not spawned: the child starts in a few milliseconds and sees the parent's modules as
they are (tests patch the graph connection in-process). Only from a process with one thread,
so that no lock can be held across the fork; otherwise, and where there is no fork, the
writer is called in this process (`InProcessWriter`, the same interface) when the drain
collects the batch's answer.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from typing import Any

from dagtrail.errors import DagtrailError
from dagtrail.local.handlers import HandlerRegistry

WRITER = "LineageWriterFunction"


class LineageWorkerError(DagtrailError):
    """The lineage writer's process raised or went away."""


def start_writer(registry: HandlerRegistry) -> LineageWriter:
    """The forked writer where it is safe, else the in-process one."""
    if hasattr(os, "fork") and threading.active_count() == 1:
        return LineageWorker(registry)
    return InProcessWriter(registry)


class InProcessWriter:
    """The writer as a plain call in this process, made when the drain collects the answer."""

    def __init__(self, registry: HandlerRegistry) -> None:
        self.registry = registry
        self._event: dict[str, Any] | None = None

    @property
    def busy(self) -> bool:
        return self._event is not None

    def submit(self, event: dict[str, Any]) -> None:
        self._event = event

    def done(self) -> bool:
        return self.busy

    def result(self) -> Any:
        assert self._event is not None
        event, self._event = self._event, None
        return self.registry.invoke(WRITER, event)

    def close(self) -> None:
        pass


class LineageWorker:
    def __init__(self, registry: HandlerRegistry) -> None:
        from multiprocessing import Pipe

        self.registry = registry
        self._conn, child = Pipe()
        registry.line_buffered()  # two processes append to handlers.log: whole lines each
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:  # the child
            self._conn.close()
            _serve(child, registry)
        child.close()
        self._event: dict[str, Any] | None = None

    @property
    def busy(self) -> bool:
        return self._event is not None

    def submit(self, event: dict[str, Any]) -> None:
        assert self._event is None, "one batch at a time, as the mapping's concurrency of 1"
        self._conn.send(event)
        self._event = event

    def done(self) -> bool:
        """The batch in flight is written (or failed): result() will not wait."""
        return self._event is not None and self._conn.poll()

    def result(self) -> Any:
        """The handler's answer to the batch in flight, waiting for it if need be."""
        assert self._event is not None
        event, self._event = self._event, None
        try:
            kind, value, seconds = self._conn.recv()
        except (EOFError, OSError) as exc:
            error = LineageWorkerError(f"the lineage writer's process ended without an answer ({exc or 'EOF'})")
            self.registry.record(WRITER, event, 0.0, None, error)
            raise error from None
        if kind == "error":
            error = LineageWorkerError(f"lineage writer raised {value}")
            self.registry.record(WRITER, event, seconds, None, error)
            raise error
        self.registry.record(WRITER, event, seconds, value, None)  # the handler's own time, not the wait
        return value

    def close(self) -> None:
        try:
            self._conn.send(None)
        except OSError:
            pass
        self._conn.close()
        os.waitpid(self.pid, 0)


def _serve(conn: Any, registry: HandlerRegistry) -> None:
    code = 0
    try:
        registry.forget_event_log()  # the parent records each batch it gets back
        registry.load(WRITER)  # imported here, beside the parent's work; timed apart, as in-process
        while (event := conn.recv()) is not None:
            started = time.perf_counter()
            try:
                answer: tuple[str, Any] = ("ok", registry.invoke(WRITER, event))
            except Exception as exc:  # the parent raises it, as an in-process call would
                answer = ("error", f"{type(exc).__name__}: {exc}")
            conn.send((*answer, time.perf_counter() - started))
    except (EOFError, KeyboardInterrupt):
        pass  # the parent went away or the user stopped the run
    except BaseException:
        traceback.print_exc()  # the parent only sees the pipe close
        code = 1
    finally:
        # No parent atexit hooks, no flushing of buffers the parent owns.
        os._exit(code)


LineageWriter = LineageWorker | InProcessWriter
