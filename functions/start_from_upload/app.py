"""S3 Object Created under the inputs prefix → StartExecution, named so duplicates start one run."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dagtrail.triggers.upload import handle

logger = Logger()
tracer = Tracer()
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
