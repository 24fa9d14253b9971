"""`dagtrail events route FILE`: which functions in template.yaml an event reaches."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dagtrail.errors import UsageError


def register(subparsers) -> None:
    events = subparsers.add_parser("events", help="work with AWS events and template.yaml routing")
    commands = events.add_subparsers(dest="events_command", required=True, parser_class=type(events))
    route = commands.add_parser(
        "route",
        help="print the logical ids of the functions an event reaches, one per line",
        description="Evaluate the event against every EventBridge rule, S3/SQS trigger and "
                    "schedule in template.yaml the way AWS does; print the matching targets' "
                    "logical ids, one per line (nothing when none match).",
    )
    route.add_argument("file", help="event JSON file ('-' reads stdin)")
    route.add_argument("--template", default=None, help="SAM template (default: ./template.yaml)")
    route.add_argument("--resolve", action="append", default=[], metavar="KEY=VALUE",
                       help="physical value for a logical id, Logical.Attribute, parameter or "
                            "AWS::StackName/AccountId/Region (repeatable)")
    route.set_defaults(func=_route)


def _route(args: argparse.Namespace) -> int:
    from dagtrail.events.routing import route

    template = Path(args.template) if args.template else Path("template.yaml")
    if not template.is_file():
        raise UsageError(f"{template}: template not found (pass --template)")
    resolved = {}
    for item in args.resolve:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--resolve {item!r}: expected KEY=VALUE")
        resolved[key] = value
    for target in route(_read_event(args.file), template, resolved):
        print(target)
    return 0


def _read_event(name: str) -> object:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{name}: cannot read event ({exc.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{name}:{exc.lineno}: invalid JSON ({exc.msg})") from None
