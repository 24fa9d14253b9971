"""`dagtrail run SPEC`: run a workflow locally through the real pipeline."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dagtrail.errors import RunFailed

PROJECT_FILE = "project-dir"  # <workdir>/runs/<run_id>/: where a Python workflow's code was


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="run a workflow locally on emulated AWS services")
    p.add_argument("spec", help="workflow: a YAML spec, module:function or file.py:function")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="override a parameter")
    p.add_argument("--workdir", default=".dagtrail", help="results, logs and lineage (default .dagtrail)")
    p.add_argument("--json", action="store_true", help="print the run summary as one JSON object")
    p.add_argument("--event", metavar="FILE",
                   help="an S3 Object Created event: its bucket and key become input_bucket and input_key")
    _execution_options(p)
    p.set_defaults(func=run)

    r = subparsers.add_parser("resume", help="run a failed local run again, reusing every task that succeeded")
    r.add_argument("run_id", help="the run to resume (see `dagtrail lineage show`, or <workdir>/last-run)")
    r.add_argument("--workdir", default=".dagtrail", help="where the run was made (default .dagtrail)")
    r.add_argument("--json", action="store_true", help="print the run summary as one JSON object")
    r.add_argument("--stack", metavar="NAME", help="resume a run on this deployed stack instead (redrive "
                   "when its definition is unchanged, else a new run reusing what succeeded)")
    r.add_argument("--region", metavar="R", help="the stack's region")
    _execution_options(r)
    r.set_defaults(func=resume)


def _execution_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-parallel", type=int, default=None, help="concurrent tasks (default: cores)")
    p.add_argument("--docker", choices=("auto", "always", "never"), default="auto",
                   help="run tasks in containers when a Docker engine is present (default auto)")
    p.add_argument("--no-cache", action="store_true", help="run every task, even if an identical one ran before")


def run(args: argparse.Namespace) -> int:
    from dagtrail.spec.params import parse_param_args, resolve_params
    from dagtrail.spec.workflow_ref import load_workflow

    spec = load_workflow(args.spec)
    params = resolve_params(spec, _event_params(args.event, spec) | parse_param_args(args.param))
    _set_project_dir(args.spec)
    return _execute(args, spec, params, {"no_cache": args.no_cache})


def _set_project_dir(ref: str) -> None:
    """Python tasks name their code relative to the project (DAGTRAIL_CODE_DIR); the task
    processes inherit where that is. `dagtrail resume` takes the run's (PROJECT_FILE)."""
    from dagtrail.flow.project import PROJECT_DIR_ENV
    from dagtrail.spec.workflow_ref import is_python_ref, python_workflow

    if is_python_ref(ref):
        os.environ[PROJECT_DIR_ENV] = str(python_workflow(ref).project_dir)


def resume(args: argparse.Namespace) -> int:
    """A new run of the same spec and params; tasks that succeeded in RUN_ID are reused when
    their inputs are unchanged (dagtrail.cache.lookup), the rest run."""
    if args.stack:
        from dagtrail.stack import load_stack
        from dagtrail.stack.resume import resume_run

        result = resume_run(load_stack(args.stack, args.region), args.run_id)
        if args.json:
            print(result.model_dump_json(indent=2))
        else:
            print(f"{result.how}: {result.run_id} ({result.reason})\n{result.console_url}")
        return 0
    from dagtrail.local.engine import load_saved_spec

    from dagtrail.flow.project import PROJECT_DIR_ENV, project_root

    spec, params = load_saved_spec(Path(args.workdir), args.run_id)
    saved = Path(args.workdir) / "runs" / args.run_id / PROJECT_FILE
    os.environ[PROJECT_DIR_ENV] = saved.read_text().strip() if saved.is_file() else str(project_root(Path.cwd()))
    return _execute(args, spec, params, {"no_cache": args.no_cache, "resume_from": args.run_id})


def _execute(args: argparse.Namespace, spec, params: dict, options: dict) -> int:
    from dagtrail.local.engine import LocalRun
    from dagtrail.local.progress import Progress

    if args.max_parallel is not None and args.max_parallel < 1:
        from dagtrail.errors import UsageError

        raise UsageError("--max-parallel must be at least 1")
    docker = {"auto": None, "always": True, "never": False}[args.docker]
    workdir = Path(args.workdir)
    out = sys.stderr if args.json else sys.stdout
    run = LocalRun(spec, params, workdir, max_parallel=args.max_parallel, docker=docker, options=options,
                   reclaim_memory=False)  # the process ends with the run
    _remember_project_dir(workdir, run.run_id)
    run.progress = Progress(run.run_id, list(spec.tasks), stream=out)
    summary = run.execute()
    (workdir / "last-run").write_text(summary.run_id + "\n")
    if args.json:
        print(json.dumps(summary.model_dump(mode="json"), indent=2))
    else:
        _print_summary(summary)
    if summary.status != "SUCCEEDED":
        failed = summary.failed_tasks
        if failed:
            t = failed[0]
            detail = f"exit code {t.exit_code}" if t.exit_code is not None else (t.reason or "failed")
            if t.exit_code is not None and t.reason:
                detail += f" ({t.reason})"
            raise RunFailed(f"run {summary.run_id} failed: task '{t.name}' attempt {t.attempts}: {detail}"
                            + (f"; log: {t.log}" if t.log else ""))
        why = summary.cause or summary.error or "no task failed; see handlers.log in the workdir"
        raise RunFailed(f"run {summary.run_id} failed: {' '.join(why.split())[:500]}")
    return 0


def _remember_project_dir(workdir: Path, run_id: str) -> None:
    """Beside the run's saved spec: so `dagtrail resume` finds the code from any directory."""
    from dagtrail.flow.project import PROJECT_DIR_ENV

    root = os.environ.get(PROJECT_DIR_ENV)
    if root:
        target = workdir / "runs" / run_id / PROJECT_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(root + "\n")


def _event_params(path: str | None, spec) -> dict[str, str]:
    if not path:
        return {}
    from dagtrail.errors import UsageError
    from dagtrail.local.upload_event import params_from_event

    params = params_from_event(path)
    missing = sorted(set(params) - set(spec.parameters))
    if missing:
        raise UsageError(f"--event: workflow {spec.name} has no parameter {missing[0]!r} to take the upload")
    return params


def _print_summary(summary) -> None:
    print(f"\nrun {summary.run_id}: {summary.status}")
    cached = [t.name for t in summary.tasks if t.cached]
    if cached:
        print(f"  from the cache: {', '.join(cached)}")
    for a in summary.artifacts:
        print(f"  {a.task}/{a.name}  {a.size} bytes  {a.path or a.uri}")
