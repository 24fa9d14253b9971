"""A minimal sequential runner for flow tests: each task's rendered command as a process, with
the directories and variables the local backend gives it. No moto, no lineage."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagtrail.spec.graph import topological_order
from dagtrail.spec.models import WorkflowSpec
from dagtrail.spec.params import resolve_params
from dagtrail.spec.render import render_task


def run_spec(spec: WorkflowSpec, root: Path, overrides: dict[str, str] | None = None) -> dict[str, Path]:
    root = root.resolve()
    params = resolve_params(spec, overrides or {})
    outs: dict[str, Path] = {}
    order = topological_order({n: t.depends_on for n, t in spec.tasks.items()})
    for name in order:
        task = render_task(spec.tasks[name], params)
        out = root / "out" / name
        inp = root / "in" / name
        out.mkdir(parents=True)
        inp.mkdir(parents=True)
        for dep in task.depends_on:
            (inp / dep).symlink_to(outs[dep], target_is_directory=True)
        env = dict(os.environ) | task.env | {
            "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
            "DAGTRAIL_OUTPUT_DIR": str(out), "DAGTRAIL_INPUT_DIR": str(inp),
            "DAGTRAIL_TASK": name, "DAGTRAIL_RUN_ID": "test-run", "DAGTRAIL_ATTEMPT": "1",
        }
        proc = subprocess.run(list(task.command), env=env, cwd=inp, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise TaskFailed(name, proc.returncode, proc.stdout + proc.stderr)
        outs[name] = out
    return outs


class TaskFailed(Exception):
    def __init__(self, task: str, code: int, log: str) -> None:
        self.task, self.code, self.log = task, code, log
        super().__init__(f"task {task} exited {code}:\n{log}")
