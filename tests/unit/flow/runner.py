"""A minimal sequential runner for flow tests: each task's rendered command as a process, with
the directories and variables the local backend gives it; a sweep's items one by one under
<task>/<index>/ with $DAGTRAIL_ITEM, then its sweep.json. No moto, no lineage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dagtrail.spec.graph import topological_order
from dagtrail.spec.models import WorkflowSpec
from dagtrail.spec.params import resolve_params
from dagtrail.spec.render import render_task
from dagtrail.sweeps.template import item_env, render_item


def run_spec(spec: WorkflowSpec, root: Path, overrides: dict[str, str] | None = None,
             project: Path | None = None) -> dict[str, Path]:
    """Run every task; `project` is what `dagtrail run` exports as DAGTRAIL_PROJECT_DIR (default:
    the working directory, where the `modules` fixture writes workflow files)."""
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
            "DAGTRAIL_INPUT_DIR": str(inp), "DAGTRAIL_PROJECT_DIR": str(project or Path.cwd()),
            "DAGTRAIL_TASK": name, "DAGTRAIL_RUN_ID": "test-run", "DAGTRAIL_ATTEMPT": "1",
        }
        if task.foreach is None:
            _run(name, list(task.command), env | {"DAGTRAIL_OUTPUT_DIR": str(out)}, inp)
        else:
            items = list(task.foreach.items())
            for index, item in enumerate(items):
                (out / str(index)).mkdir()
                item_vars = {k: render_item(v, item) for k, v in task.env.items()} | item_env(item, index)
                _run(name, [render_item(a, item) for a in task.command],
                     env | item_vars | {"DAGTRAIL_OUTPUT_DIR": str(out / str(index))}, inp)
            (out / "sweep.json").write_text(json.dumps({"task": name, "count": len(items)}))
        outs[name] = out
    return outs


def _run(name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise TaskFailed(name, proc.returncode, proc.stdout + proc.stderr)


class TaskFailed(Exception):
    def __init__(self, task: str, code: int, log: str) -> None:
        self.task, self.code, self.log = task, code, log
        super().__init__(f"task {task} exited {code}:\n{log}")
