"""Batch Job / ECS Task State Change → advance the workflow (SendTaskSuccess/Failure once)."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dagtrail.runs.advance import apply, parse_job_event
from dagtrail.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # X-Ray only when tracing is on: see dagtrail.tracing
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    update, ignored = parse_job_event(event)
    if update is None:
        logger.info("ignored event", extra={"reason": ignored})
        return {"ignored": ignored}
    outcome = apply(update)
    if outcome.token == "stale":
        metrics.add_metric(name="StaleTaskToken", unit=MetricUnit.Count, value=1)
    if outcome.applied and outcome.state in ("SUCCEEDED", "FAILED"):
        metrics.add_metric(name=f"Task{outcome.state.title()}", unit=MetricUnit.Count, value=1)
        if outcome.duration_seconds is not None:
            metrics.add_metric(name="TaskDuration", unit=MetricUnit.Seconds, value=outcome.duration_seconds)
    return outcome.model_dump(mode="json")
