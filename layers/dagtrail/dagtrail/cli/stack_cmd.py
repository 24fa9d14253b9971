"""Commands against a deployed stack: deploy, start, status, logs.

    dagtrail deploy SPEC --stack NAME            create/update the "<stack>-<workflow>" state machine
    dagtrail start WORKFLOW --stack NAME [--param K=V ...] [--name RUN_ID]
    dagtrail status RUN_ID --stack NAME [--json]
    dagtrail logs RUN_ID TASK --stack NAME [--attempt N]

Each reads what it needs from the stack's CloudFormation outputs.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("deploy", help="deploy a workflow's state machine to a stack",
                              description="Compile SPEC and create or update the state machine "
                              "<stack>-<workflow> with the stack's role, logging and tracing. "
                              "Does nothing when the deployed machine is already up to date.")
    p.add_argument("spec", metavar="SPEC", help="workflow: a YAML spec, module:function or file.py:function")
    _stack_args(p)
    p.set_defaults(func=deploy)

    p = subparsers.add_parser("start", help="start a run of a deployed workflow",
                              description="Start a run; prints its run id, then its console link.")
    p.add_argument("workflow", metavar="WORKFLOW", help="the workflow's name (its spec's `name`)")
    _stack_args(p)
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="override a parameter")
    p.add_argument("--name", metavar="RUN_ID", help="the run id (execution name); default <workflow>-<time>-<random>")
    p.add_argument("--spec", metavar="SPEC", help="validate against this spec (for a machine deployed by "
                   "`sam deploy`, which records no parameter defaults); it must be the deployed version")
    p.set_defaults(func=start)

    p = subparsers.add_parser("status", help="per-task state, attempts and durations of a deployed run")
    p.add_argument("run_id", metavar="RUN_ID")
    _stack_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=status)

    p = subparsers.add_parser("logs", help="print a task attempt's CloudWatch log stream")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("task", metavar="TASK")
    _stack_args(p)
    p.add_argument("--attempt", type=int, metavar="N", help="attempt number (default: the latest)")
    p.set_defaults(func=logs)


def _stack_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", required=True, metavar="NAME", help="the CloudFormation stack (sam deploy's stack_name)")
    p.add_argument("--region", metavar="R", help="the stack's region (default: your AWS configuration's)")


def deploy(args: argparse.Namespace) -> int:
    from dagtrail.spec.workflow_ref import load_workflow
    from dagtrail.stack import deploy_workflow, load_stack

    spec = load_workflow(args.spec)
    result = deploy_workflow(spec, load_stack(args.stack, args.region))
    print(f"{result.action} {result.state_machine_arn}")
    return 0


def start(args: argparse.Namespace) -> int:
    from dagtrail.spec.params import parse_param_args
    from dagtrail.stack import load_stack, start_run

    overrides = parse_param_args(args.param)
    spec = None
    if args.spec:
        from dagtrail.spec.workflow_ref import load_workflow

        spec = load_workflow(args.spec)
    result = start_run(load_stack(args.stack, args.region), args.workflow, overrides, run_id=args.name, spec=spec)
    print(result.run_id)
    print(result.console_url)
    return 0


def status(args: argparse.Namespace) -> int:
    from dagtrail.stack import load_stack, run_status

    result = run_status(load_stack(args.stack, args.region), args.run_id)
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        print_status(result)
    return 0


def logs(args: argparse.Namespace) -> int:
    from dagtrail.errors import UsageError
    from dagtrail.stack import load_stack, log_lines, log_source

    if args.attempt is not None and args.attempt < 1:
        raise UsageError("--attempt must be at least 1")
    stack = load_stack(args.stack, args.region)
    source = log_source(stack, args.run_id, args.task, args.attempt)
    header = f"# {source.log_group} {source.log_stream} (attempt {source.attempt}, job {source.job_id})"
    for line in log_lines(stack, source):
        if header:  # once the stream is known to exist, so an error stays the only line
            print(header, file=sys.stderr)
            header = ""
        print(line)
    if header:
        print(header + ": empty", file=sys.stderr)
    return 0


def print_status(run) -> None:
    print(f"run {run.run_id} ({run.workflow}): {run.execution_status}")
    if run.started_at:
        print(f"  started {run.started_at}" + (f", stopped {run.stopped_at}" if run.stopped_at else ""))
    if run.error or run.cause:
        print(f"  {run.error or ''}{': ' if run.error and run.cause else ''}{' '.join((run.cause or '').split())[:300]}")
    rows = [("TASK", "STATE", "ATTEMPTS", "DURATION", "EXIT")]
    for task in run.tasks:
        last = task.history[-1] if task.history else None
        attempts = str(task.attempts)
        if task.items:  # a sweep: its items' progress says more than attempts
            attempts = f"{task.items['succeeded']}/{task.items['total']} items"
        rows.append((task.name, task.status, attempts, _duration(task.duration_seconds),
                     "" if last is None or last.exit_code is None else str(last.exit_code)))
        if len(task.history) > 1:
            for a in task.history:
                rows.append((f"  #{a.attempt}", a.state, "", _duration(a.duration_seconds),
                             "" if a.exit_code is None else str(a.exit_code)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    print(run.console_url)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
