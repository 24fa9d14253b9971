"""`dagtrail invoke FUNCTION_LOGICAL_ID --event FILE [--workdir DIR]`: the Docker-free
`sam local invoke` — the handler from template.yaml, in-process, on an emulated account.

stdout: the handler's result as JSON. Exit 0 when the handler returned, 1 when it raised
(one line on stderr; its logs are in <workdir>/handlers.log), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "invoke", help="run one Lambda handler locally on an event (like `sam local invoke`)",
        description="Run a function of template.yaml in-process against emulated AWS services "
                    "and print its result as JSON.",
    )
    p.add_argument("function", metavar="FUNCTION_LOGICAL_ID", help="e.g. StartFromUploadFunction")
    p.add_argument("--event", "-e", required=True, type=Path, metavar="FILE",
                   help="event JSON, e.g. events/StartFromUploadFunction/s3-input-created.json ('-' = stdin)")
    p.add_argument("--workdir", type=Path, default=Path(".dagtrail"),
                   help="local results, lineage graph and handler logs (default: .dagtrail)")
    p.add_argument("--template", type=Path, default=None,
                   help="SAM template (default: ./template.yaml, else the repository's)")
    p.set_defaults(func=_invoke)


def _invoke(args: argparse.Namespace) -> int:
    from dagtrail.local.invoke import invoke, load_event

    template = args.template or (Path("template.yaml") if Path("template.yaml").is_file() else None)
    outcome = invoke(args.function, load_event(args.event), args.workdir, template)
    print(json.dumps(outcome.result, indent=2, sort_keys=True, default=str))
    return 0
