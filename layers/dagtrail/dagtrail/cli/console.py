"""The `dagtrail` console script.

It imports nothing of dagtrail's CLI before knowing whether a warm server takes the run
(dagtrail.local.warm_server): a served run's process only connects, hands over and waits.
"""

from __future__ import annotations

import os
import sys


def entry() -> None:
    """Exit without the interpreter's teardown: after a local run, tearing down moto's and
    botocore's heap object by object takes about a second and saves nothing (files are closed
    by then, and main_and_flush flushes the streams)."""
    from dagtrail.local import warm_client

    try:
        code = warm_client.run_served(sys.argv) if warm_client.enabled(sys.argv) else None
    except KeyboardInterrupt:  # while the first run waited for the server to start
        print("dagtrail: interrupted", file=sys.stderr)
        os._exit(130)
    if code is None:
        from dagtrail.cli.main import main_and_flush

        code = main_and_flush()
    os._exit(code)
