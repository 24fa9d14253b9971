"""dagtrail.tracing: Powertools' Tracer only when it would trace, and Powertools' own rule for that."""

from __future__ import annotations

import itertools

import pytest
from aws_lambda_powertools import Tracer

from dagtrail.tracing import Untraced, handler_tracer, tracing_enabled

VARIABLES = {
    "POWERTOOLS_TRACE_DISABLED": [None, "true", "false", "1", "0"],
    "LAMBDA_TASK_ROOT": [None, "/var/task"],
    "AWS_SAM_LOCAL": [None, "true"],
    "AWS_CHALICE_CLI_MODE": [None, "true"],
}


@pytest.mark.parametrize("values", list(itertools.product(*VARIABLES.values())))
def test_the_rule_is_powertools_own(monkeypatch, values):
    """An upgrade of Powertools that changes when its Tracer disables itself fails here."""
    for name, value in zip(VARIABLES, values, strict=True):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert tracing_enabled() is not bool(Tracer._is_tracer_disabled())


def test_off_outside_lambda(monkeypatch):
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    assert isinstance(handler_tracer(), Untraced)


def test_untraced_decorators_return_the_function_itself():
    def handler(event, context):
        return event

    untraced = Untraced()
    assert untraced.capture_lambda_handler(handler) is handler
    assert untraced.capture_lambda_handler(capture_response=False)(handler) is handler
    assert untraced.capture_method(handler) is handler
    assert untraced.capture_method(capture_error=False)(handler) is handler
