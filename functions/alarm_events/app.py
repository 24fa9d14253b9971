"""CloudWatch Alarm State Change → structured log, metric, and an SNS notification."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dagtrail.triggers.alarms import handle
from dagtrail.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # X-Ray only when tracing is on: see dagtrail.tracing
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    result = handle(event)
    if result["status"] != "ignored":
        metrics.add_dimension(name="state", value=result["state"])
        metrics.add_metric(name="AlarmStateChange", unit=MetricUnit.Count, value=1)
    return result
