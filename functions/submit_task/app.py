"""Task state → start the attempt's job and hold the task token (waitForTaskToken)."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from dagtrail.runs.models import SubmitTaskInput
from dagtrail.runs.submit import submit_task
from dagtrail.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # X-Ray only when tracing is on: see dagtrail.tracing
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    # The model itself, not Powertools' event_parser: that utility (a TypeAdapter per model,
    # envelopes) costs more at cold start than this one model needs.
    result = submit_task(SubmitTaskInput.model_validate(event))
    metrics.add_metric(name="DuplicateSubmit" if result["duplicate"] else "TaskSubmitted",
                       unit=MetricUnit.Count, value=1)
    return result
