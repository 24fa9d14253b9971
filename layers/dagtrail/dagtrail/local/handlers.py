"""Load the real Lambda handlers from functions/<name>/app.py and call them in-process."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from dagtrail.errors import DagtrailError

REPO_ROOT = Path(__file__).resolve().parents[4]
FUNCTIONS_DIR = REPO_ROOT / "functions"


def function_dir(logical_id: str) -> Path:
    """SubmitTaskFunction -> functions/submit_task."""
    stem = logical_id.removesuffix("Function")
    return FUNCTIONS_DIR / re.sub(r"(?<!^)(?=[A-Z])", "_", stem).lower()


@dataclass
class LambdaContext:
    """The parts of the Lambda context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_seconds: float = 900
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


class HandlerRegistry:
    """Imports each handler once and serialises invocations.

    One at a time, like a function with reserved concurrency 1: moto's in-process backends
    do not make conditional writes atomic across threads, and the real ones do.
    """

    def __init__(self, log_file: Path | None = None, event_log: Path | None = None) -> None:
        self._modules: dict[str, ModuleType] = {}
        self.invocations = 0  # handlers write the runs table: unchanged count, unchanged table
        self._lock = threading.RLock()
        self._taken: list[tuple[logging.StreamHandler, Any]] = []
        self._log_stream = log_file.open("a") if log_file else open(os.devnull, "w")  # noqa: SIM115
        # Optional record of every invocation, one JSON line each (function, event, result or
        # error, seconds): what the delivery-chaos tests replay and bench/soak.py times.
        self._event_log = event_log.open("a") if event_log else None  # noqa: SIM115

    @property
    def lock(self) -> threading.RLock:
        """Held while a handler runs; hold it to read what handlers write (moto's backends are
        not safe to read while another thread writes)."""
        return self._lock

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        module = self.load(logical_id)
        self.invocations += 1
        # Powertools prints metrics to stdout when 100 accumulate, even when disabled; stdout
        # is the user's (and --json's), so anything a handler prints goes to the log instead.
        with self._lock, contextlib.redirect_stdout(self._log_stream):
            if self._event_log is None:
                return module.handler(event, LambdaContext(function_name=logical_id))
            started, recorded = time.perf_counter(), _copy(event)
            try:
                result = module.handler(event, LambdaContext(function_name=logical_id))
            except Exception as exc:
                self._record(logical_id, recorded, time.perf_counter() - started, None, exc)
                raise
            self._record(logical_id, recorded, time.perf_counter() - started, result, None)
            return result

    def record(self, logical_id: str, event: dict[str, Any], seconds: float, result: Any,
               error: BaseException | None) -> None:
        """An invocation made elsewhere (local/lineage_worker.py), counted and logged as ours."""
        with self._lock:
            self.invocations += 1
            if self._event_log is not None:
                self._record(logical_id, _copy(event), seconds, result, error)

    def forget_event_log(self) -> None:
        """In a forked copy of the registry: the parent's copy records the invocations."""
        self._event_log = None

    def line_buffered(self) -> None:
        """Whole lines per write, for when another process appends to the same log."""
        self._log_stream.flush()
        self._log_stream.reconfigure(line_buffering=True)

    def load(self, logical_id: str) -> ModuleType:
        """The handler module of `logical_id`, imported on first use."""
        with self._lock:
            if logical_id not in self._modules:
                self._modules[logical_id] = self._import(logical_id)
            return self._modules[logical_id]

    def _import(self, logical_id: str) -> ModuleType:
        path = function_dir(logical_id) / "app.py"
        if not path.exists():
            raise DagtrailError(f"no handler for {logical_id}: {path} is missing")
        name = f"dagtrail_fn_{path.parent.name}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        # Powertools logs to stdout; local mode keeps stdout for the user (and --json).
        logger = getattr(module, "logger", None)
        if logger is not None:
            for handler in logging.getLogger(logger.name).handlers:
                if isinstance(handler, logging.StreamHandler):
                    self._taken.append((handler, handler.setStream(self._log_stream)))
        return module

    def _record(self, logical_id: str, event: Any, seconds: float, result: Any, error: BaseException | None) -> None:
        entry = {"function": logical_id, "event": event, "seconds": round(seconds, 6)}
        if error is None:
            entry["result"] = result
        else:
            entry["error"] = type(error).__name__
        self._event_log.write(json.dumps(entry, default=str) + "\n")
        self._event_log.flush()

    def close(self) -> None:
        # Powertools loggers are process-wide: give their streams back before closing ours, or
        # the next registry in this process (another run) flushes a closed file.
        for handler, previous in reversed(self._taken):
            handler.setStream(previous)
        self._taken.clear()
        self._log_stream.close()
        if self._event_log:
            self._event_log.close()


def _copy(event: Any) -> Any:
    """The event as the handler got it (a handler may change what it was given)."""
    return json.loads(json.dumps(event, default=str))
