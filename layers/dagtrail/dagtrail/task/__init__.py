"""The task wrapper: the container entrypoint that stages inputs, runs the command and
streams its outputs to the results bucket.

Run as ``python -m dagtrail.task -- <argv>``. Everything on this path imports only the
standard library, boto3/botocore and light dagtrail modules, so it works in any image with
Python 3.11+ and boto3 (no pydantic, no PyYAML).
"""

from dagtrail.task.main import main

__all__ = ["main"]
