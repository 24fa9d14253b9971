"""Errors of working against a deployed stack; each is one line and exit code 2."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from dagtrail.errors import DagtrailError, NotFoundError


class StackError(DagtrailError):
    """The stack cannot serve the command: a missing output, an AWS call refused."""


class StackNotFound(NotFoundError):
    """No CloudFormation stack of that name in the region."""


class MissingOutput(StackError):
    """The stack lacks an output a command reads (an older template.yaml)."""


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code", "")


@contextlib.contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Turn botocore failures (permissions, credentials, network) into one-line errors.

    Callers catch the codes they expect (not found, already exists) inside this block.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        raise StackError(f"{what}: {error_code(exc)}: {' '.join(message.split())}") from None
    except BotoCoreError as exc:  # no credentials, no region, endpoint unreachable
        raise StackError(f"{what}: {exc}") from None
