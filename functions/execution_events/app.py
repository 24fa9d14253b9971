"""Step Functions Execution Status Change → run record and lineage."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from dagtrail.runs.executions import parse_execution_event, record_status
from dagtrail.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # X-Ray only when tracing is on: see dagtrail.tracing
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    parsed, ignored = parse_execution_event(event)
    if parsed is None:
        logger.info("ignored event", extra={"reason": ignored})
        return {"ignored": ignored}
    return record_status(parsed)
