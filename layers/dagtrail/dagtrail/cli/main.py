"""Entry point: builds the parser from one module per command group, maps errors to exit codes.

Each command module exposes `register(subparsers)` and keeps heavy imports inside its
command functions, so `dagtrail --help` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from dagtrail.errors import DagtrailError
from dagtrail.cli import compile_cmd, lineage_cmd, run_cmd
from dagtrail.cli import events_cmd
from dagtrail.cli import invoke_cmd
from dagtrail.cli import server_cmd
from dagtrail.cli import stack_cmd

COMMAND_MODULES = (compile_cmd, run_cmd, lineage_cmd, events_cmd, invoke_cmd, stack_cmd, server_cmd)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        print(f"dagtrail: error: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dagtrail", description="Serverless workflows on AWS with lineage.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DagtrailError as exc:
        print(f"dagtrail: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dagtrail: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: one line unless asked for the traceback
        if os.environ.get("DAGTRAIL_DEBUG"):
            raise
        print(f"dagtrail: internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:400]} "
              "(set DAGTRAIL_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def main_and_flush(argv: Sequence[str] | None = None) -> int:
    """main(), then what the interpreter's exit would have done that matters: the console
    script and the warm server's children leave by os._exit (cli/console.py)."""
    code = main(argv)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to say there
            pass
    return code


if __name__ == "__main__":
    os._exit(main_and_flush())
