"""Every patch dagtrail applies to moto, in one place, pinned to one moto version.

- Lambda invocations (Docker off) go to LambdaSimpleBackend.invoke, which echoes its input;
  we replace that one method to call the real handlers in-process.
- A retried waitForTaskToken state must get a new task token per attempt, as on AWS; moto
  makes one token per state entry, so after one SendTaskFailure every retry failed at once
  (`fresh_token_per_attempt`).
- Step Functions Retry intervals really sleep; tests may shrink them (`fast_retries`).
- moto's ASL grammar rejects numbers in exponent notation (`1e-05`), which AWS accepts and
  json.dumps writes: definitions for moto are written without exponents (`definition_text`).
- Speed, for sweeps of thousands of items (`fast_backends`): TransactWriteItems deep-copies
  every table it touches to roll back on failure (O(table) per call, so O(n²) over a sweep):
  we snapshot just the items the transaction names and restore those. SQS's ReceiveMessage
  reads the retention period through get_queue_attributes, which counts every message in
  the queue, once per message received: we read the queue's attribute directly.
- Speed, for streams of events (`cached_update_expressions`): each UpdateExpression string
  is parsed once, not twice per UpdateItem.

tests/unit/local/test_moto_patches.py fails loudly when an upgrade moves what we patch.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any

MOTO_VERSION = "5.2.5"

Dispatcher = Callable[[str, dict[str, Any]], Any]


class MotoVersionError(RuntimeError):
    pass


def check_version() -> None:
    import moto

    if moto.__version__ != MOTO_VERSION:
        raise MotoVersionError(
            f"dagtrail's moto patches are written for moto {MOTO_VERSION}, found {moto.__version__}: "
            "re-check dagtrail/local/moto_patches.py and its tests before upgrading"
        )


def install_lambda_dispatch(dispatch: Dispatcher) -> Callable[[], None]:
    """Route moto Lambda Invoke to `dispatch(function_name, event)`. Returns an undo function.

    A handler exception becomes a Lambda function error whose errorType is the exception's
    class name, which is what Step Functions matches in Retry and Catch.
    """
    check_version()
    from moto.awslambda_simple.models import LambdaSimpleBackend

    original = LambdaSimpleBackend.invoke

    def invoke(self, function_name, qualifier, body, headers, response_headers):  # noqa: ARG001
        name = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
        event = json.loads(body) if body else {}
        try:
            result = dispatch(name, event)
        except Exception as exc:  # a Lambda function error, not a crash of the emulator
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc)[-3:],
            }).encode()
        return json.dumps(result).encode()

    LambdaSimpleBackend.invoke = invoke

    def undo() -> None:
        LambdaSimpleBackend.invoke = original

    return undo


def definition_text(asl: Any) -> str:
    """JSON text of a state machine that moto's parser reads: floats in plain decimals."""
    from decimal import Decimal

    if isinstance(asl, float):
        text = repr(asl)
        return format(Decimal(text), "f") if "e" in text or "E" in text else text
    if isinstance(asl, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{definition_text(v)}" for k, v in asl.items()) + "}"
    if isinstance(asl, list | tuple):
        return "[" + ",".join(definition_text(v) for v in asl) + "]"
    return json.dumps(asl)


def fresh_token_per_attempt() -> Callable[[], None]:
    """Give every attempt of a waitForTaskToken Task state its own token. Returns an undo function."""
    check_version()
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceCondition,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )

    original = StateTaskServiceCallback._evaluate_with_timeout

    def _evaluate_with_timeout(self, env):
        state = env.states.context_object.context_object_data.get("State", {})
        if (
            state.get("RetryCount", 0) > 0
            and self._is_integration_pattern()
            and ResourceCondition.WaitForTaskToken in self._supported_integration_patterns
        ):
            token = env.states.context_object.update_task_token()
            env.callback_pool_manager.add(token)
        return original(self, env)

    StateTaskServiceCallback._evaluate_with_timeout = _evaluate_with_timeout

    def undo() -> None:
        StateTaskServiceCallback._evaluate_with_timeout = original

    return undo


def fast_retries(factor: float = 0.0) -> Callable[[], None]:
    """Scale Step Functions Retry sleeps by `factor` (tests). Returns an undo function."""
    check_version()
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    real_time = retrier_decl.time

    class _Time:
        def __getattr__(self, name: str) -> Any:
            return getattr(real_time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            real_time.sleep(seconds * factor)

    retrier_decl.time = _Time()

    def undo() -> None:
        retrier_decl.time = real_time

    return undo


def fast_backends() -> Callable[[], None]:
    """Per-item transaction rollback in DynamoDB, an O(1) retention check in SQS (module
    docstring). Same results as moto's own code. Returns an undo function."""
    check_version()
    import copy

    from moto.dynamodb import models as ddb_models
    from moto.dynamodb.models.table import Table
    from moto.sqs.models import SQSBackend

    original_transact = ddb_models.DynamoDBBackend.transact_write_items
    original_copy = ddb_models.copy
    original_retention = SQSBackend.is_message_valid_based_on_retention_period

    class _NoTableCopy:
        """`copy` as moto's DynamoDB models see it: tables are not copied (the wrapper below
        snapshots items instead); everything else is."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def transact_write_items(self, transact_items):
        saved = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            key = op.get("Key") or {k: op.get("Item", {}).get(k) for k in (table.hash_key_attr, table.range_key_attr) if k}
            try:
                hash_key, range_key = self.get_keys_value(table, key)
            except Exception:  # moto raises its own validation error below
                continue
            item = table.get_item(hash_key, range_key)
            saved.append((table, hash_key, range_key, copy.deepcopy(item)))
        try:
            return original_transact(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                _restore(table, hash_key, range_key, item)
            raise

    def is_message_valid_based_on_retention_period(self, queue_name, message):
        retention = self.get_queue(queue_name).message_retention_period
        return int(retention) + message.sent_timestamp / 1000 > unix_time()

    from moto.core.utils import unix_time

    ddb_models.copy = _NoTableCopy()
    ddb_models.DynamoDBBackend.transact_write_items = transact_write_items
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period

    def undo() -> None:
        ddb_models.copy = original_copy
        ddb_models.DynamoDBBackend.transact_write_items = original_transact
        SQSBackend.is_message_valid_based_on_retention_period = original_retention

    return undo


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    """Put one item back as it was before a failed transaction (absent if it was)."""
    if table.range_key_attr is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def cached_update_expressions(maxsize: int = 256) -> Callable[[], None]:
    """Parse each UpdateExpression string once. moto 5.2.5 tokenizes and parses it twice per
    UpdateItem (the response handler and the backend), a tenth of the handlers' time under
    bench/handler_throughput.py; a table's writers use a few dozen distinct expressions.
    Safe to share the tree: every consumer deep-copies it before resolving names and values
    (Validator.__init__) or only reads it (find_clauses). Returns an undo function."""
    check_version()
    import functools

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    original = UpdateExpressionParser.__dict__["make"]
    parse = functools.lru_cache(maxsize=maxsize)(original.__func__)
    UpdateExpressionParser.make = classmethod(parse)

    def undo() -> None:
        UpdateExpressionParser.make = original

    return undo
