"""Placeholder so `sam build` has code for start_from_upload; its owner replaces it with the real handler."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    logger.info("ignored event", extra={"reason": "start_from_upload is not implemented yet"})
    return {"ignored": "start_from_upload is not implemented yet"}
