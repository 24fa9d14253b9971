"""X-Ray tracing for the handlers: Powertools' Tracer, created only when traces can go somewhere.

`Tracer()` imports aws_xray_sdk (150-450 ms at cold start here, more than boto3) even when
tracing is disabled. Handlers call `handler_tracer()` instead: on AWS with the template's
`Tracing: Active` it is Powertools' Tracer, exactly as before; with POWERTOOLS_TRACE_DISABLED,
outside Lambda, or under `sam local`, where Powertools' Tracer would disable itself anyway, it
is a decorator that returns the handler unchanged and never imports the X-Ray SDK.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice


def tracing_enabled() -> bool:
    """Powertools' own rule (Tracer._is_tracer_disabled, checked against it by a test)."""
    if resolve_truthy_env_var_choice(env=os.getenv(constants.TRACER_DISABLED_ENV, "false")):
        return False
    in_lambda = bool(os.getenv(constants.LAMBDA_TASK_ROOT_ENV))
    emulated = bool(os.getenv(constants.SAM_LOCAL_ENV) or os.getenv(constants.CHALICE_LOCAL_ENV))
    return in_lambda and not emulated


class Untraced:
    """The part of Tracer's interface the handlers use, for when tracing is off."""

    def capture_lambda_handler(self, lambda_handler: Callable | None = None, **_options: Any) -> Callable:
        return lambda_handler if lambda_handler is not None else (lambda handler: handler)

    def capture_method(self, method: Callable | None = None, **_options: Any) -> Callable:
        return method if method is not None else (lambda function: function)


def handler_tracer() -> Any:
    """A Powertools Tracer when tracing is on (imports aws_xray_sdk), else `Untraced()`."""
    if not tracing_enabled():
        return Untraced()
    from aws_lambda_powertools import Tracer

    return Tracer()
