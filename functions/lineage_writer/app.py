"""Lineage queue batch → idempotent upserts into the graph; failed messages reported back."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dagtrail.lineage.writer import handle_sqs_batch
from dagtrail.tracing import handler_tracer

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME
tracer = handler_tracer()  # X-Ray only when tracing is on: see dagtrail.tracing
metrics = Metrics()
# The library logs poison messages and their reasons; give them this handler's JSON format.
copy_config_to_registered_loggers(source_logger=logger, include={"dagtrail"})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    response = handle_sqs_batch(event)
    records = event.get("Records") if isinstance(event, dict) else None
    metrics.add_metric(name="LineageMessages", unit=MetricUnit.Count,
                       value=len(records) if isinstance(records, list) else 0)
    metrics.add_metric(name="LineageMessagesFailed", unit=MetricUnit.Count, value=len(response["batchItemFailures"]))
    return response
