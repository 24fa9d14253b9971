"""Scheduled: repair what events missed — jobs with an unanswered token and no recent event."""

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dagtrail.runs.reconcile import DEFAULT_QUIET_SECONDS, reconcile
from dagtrail.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # X-Ray only when tracing is on: see dagtrail.tracing
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    report = reconcile(int(os.environ.get("DAGTRAIL_RECONCILE_QUIET_SECONDS", DEFAULT_QUIET_SECONDS)))
    for name in ("checked", "advanced", "tokens_sent", "stale_tokens", "lost"):
        metrics.add_metric(name=f"Reconcile{name.title().replace('_', '')}", unit=MetricUnit.Count,
                           value=getattr(report, name))
    return report.model_dump()
