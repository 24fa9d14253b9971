"""`dagtrail server stop`: end the warm servers local runs started (dagtrail.local.warm_server)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from dagtrail.local.warm_client import DEFAULT_IDLE_SECONDS, ENABLE_ENV, IDLE_ENV

    p = subparsers.add_parser(
        "server", help="the warm server that local runs are forked from",
        description="Local runs are served by a process that keeps the emulator imported; it exits by "
                    f"itself after {IDLE_ENV} seconds (default {DEFAULT_IDLE_SECONDS}) without a run. "
                    f"{ENABLE_ENV}=off runs each local run in its own process instead.",
    )
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("stop", help="stop every warm server of this user once its runs have ended").set_defaults(
        func=_stop)


def _stop(args: argparse.Namespace) -> int:
    from dagtrail.local.warm_client import server_dir, stop_servers

    stopped = stop_servers()
    print(f"stopped {', '.join(map(str, stopped))}" if stopped else f"no warm server in {server_dir()}")
    return 0
