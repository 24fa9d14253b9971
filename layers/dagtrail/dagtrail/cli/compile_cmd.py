"""`dagtrail compile SPEC [-o FILE]`: the state machine (ASL JSON) for a workflow spec."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compile",
        help="compile a workflow spec into a Step Functions state machine (ASL JSON)",
        description="Compile a workflow spec into ASL JSON with ${SubmitTaskFunctionArn} left "
        "for the deployment to substitute. Deterministic: the same spec gives the same bytes.",
    )
    parser.add_argument("spec", metavar="SPEC", help="workflow: a YAML spec, module:function or file.py:function")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dagtrail.compiler import compile_workflow, to_json
    from dagtrail.spec.workflow_ref import load_workflow

    text = to_json(compile_workflow(load_workflow(args.spec)))
    if args.output:
        write_atomically(Path(args.output), text)
    else:
        sys.stdout.write(text)
    return 0


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    from dagtrail.errors import UsageError

    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        os.unlink(tmp)
        raise
