"""A results manifest written → Artifact lineage records for that attempt."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dagtrail.triggers.artifacts import handle
from dagtrail.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # X-Ray only when tracing is on: see dagtrail.tracing
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    result = handle(event)
    if "ignored" in result:
        logger.info("ignored event", extra={"reason": result["ignored"]})
    for item in result.get("results", []):
        if item["status"] == "recorded":
            metrics.add_metric(name="ArtifactsRecorded", unit=MetricUnit.Count, value=item["produced"])
        else:
            metrics.add_metric(name="ObjectIgnored", unit=MetricUnit.Count, value=1)
    return result
