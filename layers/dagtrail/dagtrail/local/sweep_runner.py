"""Run an array job (a sweep's items) locally, as AWS Batch would, for ProcessBackend.

Children run on a few worker threads, at most `max_parallel` at once and never more than the
backend's slots (--max-parallel, default the cores). Each child reports Batch-shaped events
with job id `<parent>:<index>` and arrayProperties.index; a failed child is tried again up
to `item_tries` times (Batch's retryStrategy, per child), keeping its earlier tries in
`attempts`. The parent ends after all children: SUCCEEDED only if every child did.
"""

from __future__ import annotations

import shutil
import threading
from typing import TYPE_CHECKING, Any

from dagtrail.results.manifest import build_for_dir, write_atomically
from dagtrail.sweeps.store import ItemReader
from dagtrail.sweeps.template import ItemError, item_env, render_item

if TYPE_CHECKING:
    from dagtrail.compute.models import JobRequest
    from dagtrail.local.processes import ProcessBackend

MAX_WORKERS = 64


def run_array(backend: ProcessBackend, job_id: str, request: JobRequest) -> None:
    from dagtrail.local.processes import _now_ms

    size = request.array_size or 0
    created = _now_ms()
    backend._event(job_id, request, "RUNNABLE", created=created, array={"size": size})
    in_dir = backend.workdir / "inputs" / request.run_id / request.task / f"{request.attempt}-{request.item_offset}"
    backend._stage_inputs(in_dir, request.inputs)
    log_dir = backend.workdir / "logs" / request.run_id / request.task / str(request.attempt)
    log_dir.mkdir(parents=True, exist_ok=True)
    assert request.items_uri is not None
    reader = ItemReader(request.items_uri.removesuffix("_items/"))
    reader_lock = threading.Lock()
    per_array = threading.BoundedSemaphore(request.max_parallel or size or 1)
    next_index = iter(range(size))
    index_lock = threading.Lock()
    failed: list[int] = []
    started: list[int] = []

    def take() -> int | None:
        with index_lock:
            return next(next_index, None)

    def child(i: int) -> None:
        index = request.item_offset + i
        with reader_lock:
            item = reader[index]
        child_id = f"{job_id}:{i}"
        out_dir = backend._local(request.output_prefix) / str(index)
        attempts: list[dict[str, Any]] = []
        for _try in range(1, request.item_tries + 1):
            if backend.stopped(job_id):
                break
            if out_dir.exists():
                shutil.rmtree(out_dir)
            out_dir.mkdir(parents=True)
            log_path = log_dir / f"{index}.log"
            with per_array, backend._slots:
                t0 = _now_ms()
                if not started:
                    started.append(t0)
                    backend._event(job_id, request, "RUNNING", created=created, started=t0, array={"size": size})
                backend._event(child_id, request, "RUNNING", created=created, started=t0, log=str(log_path),
                               attempts=attempts, array={"index": i})
                try:
                    env = {k: render_item(v, item) for k, v in request.env.items()} | item_env(item, index)
                    command = tuple(render_item(a, item) for a in request.command)
                except ItemError as exc:
                    log_path.write_text(f"dagtrail: {exc}\n")
                    code, reason = None, f"ItemError: {exc}"
                else:
                    one = request.model_copy(update={"command": command, "env": env})
                    import os
                    import sys

                    full_env = dict(os.environ) | env | {
                        "PATH": os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", os.environ.get("PATH", ""))]),
                        "DAGTRAIL_OUTPUT_DIR": str(out_dir), "DAGTRAIL_INPUT_DIR": str(in_dir),
                    }
                    code, reason = backend._execute(child_id, backend._argv(one, out_dir, in_dir), full_env, in_dir,
                                                    log_path, request.timeout)
                stopped = _now_ms()
            if code == 0:
                write_atomically(build_for_dir(out_dir, task=request.task, attempt=request.attempt,
                                               prefix=f"{request.output_prefix}{index}/"), out_dir)
                backend._event(child_id, request, "SUCCEEDED", created=created, started=t0, stopped=stopped,
                               exit_code=0, log=str(log_path), attempts=attempts, array={"index": i})
                return
            this = {"container": {"exitCode": code, "logStreamName": str(log_path)}, "startedAt": t0,
                    "stoppedAt": stopped, "statusReason": reason or "Essential container in task exited"}
            if _try == request.item_tries:
                backend._event(child_id, request, "FAILED", created=created, started=t0, stopped=stopped,
                               exit_code=code, reason=reason, log=str(log_path), attempts=attempts,
                               array={"index": i})
            attempts.append(this)
        failed.append(index)

    def worker() -> None:
        while (i := take()) is not None:
            child(i)

    workers = [threading.Thread(target=worker, name=f"array-{request.task}-{n}", daemon=True)
               for n in range(min(MAX_WORKERS, request.max_parallel or MAX_WORKERS, max(1, size)))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stopped = _now_ms()
    if failed or backend.stopped(job_id):
        reason = f"{len(failed)} of {size} child jobs failed" if failed else "Terminated"
        backend._event(job_id, request, "FAILED", created=created, started=started[0] if started else None,
                       stopped=stopped, reason=reason, array={"size": size})
    else:
        backend._event(job_id, request, "SUCCEEDED", created=created, started=started[0] if started else None,
                       stopped=stopped, exit_code=0, array={"size": size})
