"""S3 Object Created under the inputs prefix → StartExecution, named so duplicates start one run."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dagtrail.triggers.upload import handle
from dagtrail.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # X-Ray only when tracing is on: see dagtrail.tracing
metrics = Metrics()

_METRIC = {"started": "RunStartedFromUpload", "duplicate": "DuplicateUpload", "ignored": "UploadIgnored"}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    result = handle(event)
    if "ignored" in result:
        logger.info("ignored event", extra={"reason": result["ignored"]})
    for item in result.get("results", []):
        metrics.add_metric(name=_METRIC[item["status"]], unit=MetricUnit.Count, value=1)
    return result
