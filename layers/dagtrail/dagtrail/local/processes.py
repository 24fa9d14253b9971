"""The local compute backend: each attempt a process (or `docker run` where an engine runs).

It stands in for AWS Batch: submit() returns a job id at once, and the job's life is
reported as "Batch Job State Change" events through `emit`, into the same job_events
handler that runs on AWS.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagtrail.compute.models import JobRequest
from dagtrail.results.layout import split_uri
from dagtrail.results.manifest import build_for_dir, write_atomically

TIMEOUT_REASON = "Job attempt duration exceeded timeout"
Emit = Callable[[dict[str, Any]], None]


def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class ProcessBackend:
    name = "local"

    def __init__(self, workdir: Path, emit: Emit, *, max_parallel: int | None = None,
                 use_docker: bool = False, job_queue_arn: str) -> None:
        self.workdir = workdir
        self.results = workdir / "results"
        self._emit = emit
        self._slots = threading.BoundedSemaphore(max_parallel or os.cpu_count() or 2)
        self._use_docker = use_docker
        self._queue_arn = job_queue_arn
        self._procs: dict[str, subprocess.Popen] = {}
        self._cancelled: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._closed = False  # shut down: nothing more starts
        self._last: dict[str, dict[str, Any]] = {}  # job id -> its latest Batch-shaped detail
        self._lock = threading.Lock()

    # -- Backend protocol ---------------------------------------------------------------
    def submit(self, request: JobRequest) -> str:
        job_id = str(uuid.uuid4())
        # An array job (a sweep): its children run here with bounded parallelism (sweep_runner).
        target = self._run if request.array_size is None else self._run_array
        thread = threading.Thread(target=target, args=(job_id, request), name=f"job-{request.task}",
                                  daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return job_id

    def terminate(self, job_id: str, reason: str) -> None:
        with self._lock:
            self._cancelled.add(job_id)
            procs = [p for j, p in self._procs.items() if j == job_id or j.startswith(f"{job_id}:")]
        for proc in procs:
            if proc.poll() is None:
                _kill_group(proc)

    def describe(self, job_ids: list[str]) -> dict:
        """What DescribeJobs would say: the latest state of each job this backend ran."""
        from dagtrail.events.models import BatchJobDetail
        from dagtrail.runs.advance import from_batch_detail

        with self._lock:
            known = {j: self._last[j] for j in job_ids if j in self._last}
        return {j: from_batch_detail(BatchJobDetail.model_validate(d)) for j, d in known.items()}

    def shutdown(self, wait_seconds: float = 5.0) -> None:
        """Kill what runs, start nothing more, and wait (bounded) for the job threads to end,
        so that an abandoned run starts no process after it returned."""
        with self._lock:
            self._closed = True
            procs = list(self._procs.values())
            threads = list(self._threads)
        for proc in procs:
            if proc.poll() is None:
                _kill_group(proc)
        deadline = time.monotonic() + wait_seconds
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def stopped(self, job_id: str) -> bool:
        """Terminated, or the backend shut down: the job starts no (further) process."""
        return self._closed or job_id in self._cancelled

    # -- one job ------------------------------------------------------------------------
    def _run(self, job_id: str, request: JobRequest) -> None:
        created = _now_ms()
        self._event(job_id, request, "RUNNABLE", created=created)
        with self._slots:
            if self.stopped(job_id):
                self._event(job_id, request, "FAILED", created=created, reason="Terminated before start")
                return
            out_dir = self._local(request.output_prefix)
            if out_dir.exists():  # a rerun of the same attempt number starts clean
                shutil.rmtree(out_dir)
            out_dir.mkdir(parents=True)
            # An inline sweep's items share an attempt number: each gets its own inputs and log.
            slot = str(request.attempt) if request.item_index is None else f"{request.attempt}-{request.item_index}"
            in_dir = self.workdir / "inputs" / request.run_id / request.task / slot
            self._stage_inputs(in_dir, request.inputs)
            log_path = self.workdir / "logs" / request.run_id / request.task / f"{slot}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            env = dict(os.environ) | request.env | {
                # `python3` in a task command is the interpreter running dagtrail (its venv's numpy).
                "PATH": os.pathsep.join([os.path.dirname(sys.executable), request.env.get("PATH", os.environ.get("PATH", ""))]),
                "DAGTRAIL_OUTPUT_DIR": str(out_dir), "DAGTRAIL_INPUT_DIR": str(in_dir),
            }
            argv = self._argv(request, out_dir, in_dir)
            started = _now_ms()
            self._event(job_id, request, "RUNNING", created=created, started=started, log=str(log_path))
            exit_code, reason = self._execute(job_id, argv, env, in_dir, log_path, request.timeout)
            stopped = _now_ms()
            if exit_code == 0:
                write_atomically(build_for_dir(out_dir, task=request.task, attempt=request.attempt,
                                               prefix=request.output_prefix), out_dir)
            status = "SUCCEEDED" if exit_code == 0 else "FAILED"
            self._event(job_id, request, status, created=created, started=started, stopped=stopped,
                        exit_code=exit_code, reason=reason, log=str(log_path))

    def _run_array(self, job_id: str, request: JobRequest) -> None:
        from dagtrail.local.sweep_runner import run_array

        run_array(self, job_id, request)

    def _execute(self, job_id: str, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path,
                 timeout: int) -> tuple[int | None, str | None]:
        with log_path.open("wb") as log:
            try:
                proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
            except OSError as exc:
                log.write(f"dagtrail: cannot start {argv[0]!r}: {exc}\n".encode())
                return None, f"CannotStartContainerError: {exc.strerror or exc}"
            with self._lock:
                self._procs[job_id] = proc
                cancelled = self.stopped(job_id)
            if cancelled:  # terminated between its RUNNING event and the process starting
                _kill_group(proc)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                proc.wait()
                return None, TIMEOUT_REASON
            finally:
                with self._lock:
                    self._procs.pop(job_id, None)
        if job_id in self._cancelled:
            return code if code != 0 else None, "Terminated: superseded"
        reason = None if code == 0 else "Essential container in task exited"
        return code, reason

    def _argv(self, request: JobRequest, out_dir: Path, in_dir: Path) -> list[str]:
        if not self._use_docker:
            return list(request.command)
        env_flags = [flag for k, v in sorted(request.env.items()) for flag in ("-e", f"{k}={v}")]
        return [
            "docker", "run", "--rm", "-v", f"{out_dir}:/dagtrail/output", "-v", f"{in_dir}:/dagtrail/input:ro",
            *env_flags, "-e", "DAGTRAIL_OUTPUT_DIR=/dagtrail/output", "-e", "DAGTRAIL_INPUT_DIR=/dagtrail/input",
            request.image, *request.command,
        ]

    def _stage_inputs(self, in_dir: Path, inputs: dict[str, str]) -> None:
        if in_dir.exists():
            shutil.rmtree(in_dir)
        in_dir.mkdir(parents=True)
        for dep, prefix in inputs.items():
            (in_dir / dep).symlink_to(self._local(prefix), target_is_directory=True)

    def _local(self, uri: str) -> Path:
        _bucket, key = split_uri(uri)
        return self.results / key

    def _event(self, job_id: str, request: JobRequest, status: str, *, created: int,
               started: int | None = None, stopped: int | None = None, exit_code: int | None = None,
               reason: str | None = None, log: str | None = None, attempts: list[dict[str, Any]] | None = None,
               array: dict[str, int] | None = None) -> None:
        container = {"exitCode": exit_code, "logStreamName": log, "image": request.image}
        container = {k: v for k, v in container.items() if v is not None}
        detail: dict[str, Any] = {
            "jobId": job_id, "jobName": request.job_name, "jobQueue": self._queue_arn, "status": status,
            "createdAt": created, "container": container, "tags": request.tags,
            "attempts": [], "dependsOn": [], "parameters": {},
        }
        if reason:
            detail["statusReason"] = reason
        if started:
            detail["startedAt"] = started
        if stopped:
            detail["stoppedAt"] = stopped
            detail["attempts"] = [{"container": container, "startedAt": started, "stoppedAt": stopped,
                                   "statusReason": reason or "Essential container in task exited"}]
        if attempts is not None:  # an array child's earlier (failed) tries, then this one if it ended
            detail["attempts"] = attempts + (detail["attempts"] if stopped else [])
        if array is not None:
            detail["arrayProperties"] = array
        with self._lock:
            self._last[job_id] = detail
        self._emit({
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "Batch Job State Change",
            "source": "aws.batch", "account": "123456789012", "region": "us-east-1",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "resources": [f"arn:aws:batch:us-east-1:123456789012:job/{job_id}"], "detail": detail,
        })


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _now_ms() -> int:
    return int(time.time() * 1000)
