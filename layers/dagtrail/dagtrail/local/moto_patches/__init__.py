"""Every patch dagtrail applies to moto, in one place (this package; update_plan is the
model of UpdateItem that fast_update_items runs), pinned to one moto version.

- The Step Functions interpreter's Lambda invocations call the real handlers in-process
  (`install_lambda_dispatch`), without moto's Lambda service: no function or IAM role to
  create, no Invoke request per task.
- A retried waitForTaskToken state must get a new task token per attempt, as on AWS; moto
  makes one token per state entry, so after one SendTaskFailure every retry failed at once
  (`fresh_token_per_attempt`).
- Step Functions Retry intervals really sleep; tests may shrink them (`fast_retries`).
- moto emits no event when an execution ends; the local engine would have to poll
  DescribeExecution. `on_execution_end` calls back when moto records the end, and the
  engine then describes the execution as it would after the EventBridge event on AWS.
- moto's StopExecution leaves the states that wait for a task token blocked until their
  timeout; `stop_releases_waiting_tasks` wakes them, as AWS drops a stopped execution's tokens.
  moto also keeps every interpreter thread it starts in a list for the process's life;
  `join_interpreter_threads` waits for them and forgets the ended ones.
- moto's ASL grammar rejects numbers in exponent notation (`1e-05`), which AWS accepts and
  json.dumps writes: definitions for moto are written without exponents (`definition_text`).
- Speed, for sweeps of thousands of items (`fast_backends`): TransactWriteItems deep-copies
  every table it touches to roll back on failure (O(table) per call, so O(n²) over a sweep):
  we snapshot just the items the transaction names and restore those. SQS's ReceiveMessage
  reads the retention period through get_queue_attributes, which counts every message in
  the queue, once per message received: we read the queue's attribute directly.
- Speed, for every UpdateItem (`fast_update_expressions`, with `cached_update_expressions`
  below): moto deep-copies the expression tree generically, rebuilds each validator's
  dispatch table at every node, and re-runs three checks that depend only on the tree, its
  attribute names and the table's keys, two of them quadratic in the number of SET actions
  (one `if_not_exists` SET per field in RunsTable.transition). We copy the tree node by
  node and remember which (tree, names, keys) passed those three checks.
- Speed, for every UpdateItem dagtrail writes (`fast_update_items`): even so, moto walks
  the copied tree ten times (twice for a new item) and again to execute it. Expressions of
  top-level SET (values, if_not_exists, + and -), REMOVE and numeric ADD run from a plan
  made once per expression (update_plan); anything else, and anything moto would
  refuse, runs moto's own code. About half the CPU of the runs table's UpdateItem.
- Speed, for every response moto serializes (`fast_attribute_picker`): finding a member's
  value asks six alias providers per member, and a DynamoDB AttributeValue has ten members,
  so returning one item costs hundreds of lookups. For plain dicts (DynamoDB's results) the
  candidate keys depend only on the key and the shape: we compute them once per pair.
- Speed, for every DynamoDB item moto returns (`plain_attribute_values`): even with those
  lookups cached, serializing an AttributeValue walks its ten members through the generic
  structure serializer, per attribute, per nested map and list: about 45 % of the runs
  table's UpdateItem (which returns the item). Values already in wire form (S, N, BOOL,
  NULL, SS, NS, M and L of those) are copied as they are; anything else (binary, or a value
  of an unexpected type) goes through moto's serializer.
- Speed, per run (`table_items`, `put_items`): local mode saves the runs table to the
  workdir after a run and loads it before the next; a Scan or BatchWriteItem through a
  client serializes every item twice more. These read and write moto's table directly.
- Speed, for streams of events (`cached_update_expressions`): each UpdateExpression string
  is parsed once, not twice per UpdateItem.
- Speed, at start (`check_version` → `_defer_batch_package`): moto's Step Functions
  interpreter imports `moto.batch.utils` for its Batch integration, and the `moto.batch`
  package's `__init__` imports the Batch backend, which imports EC2's (loading its AMI and
  instance-type catalogues): about a second of every `dagtrail run`, for an integration
  dagtrail's state machines never use. The package's own `__init__` now runs on the first
  attribute read instead; its submodules import as before.
- Speed, per run (`cached_parses`): CreateStateMachine parses the definition (moto's ANTLR
  grammar in Python: 0.1–0.2 s for a ten-task workflow, more for a sweep) to validate it and
  throws the parse away; each execution then parses the same text again. A definition is
  parsed once, pickled, and each of those calls gets a copy; local runs also keep the pickles
  in the user's cache directory (services.parse_cache_dir), so an unchanged workflow is not
  parsed again by its next run.
- Speed, per Task state (`shared_sfn_clients`): the interpreter makes a new boto3 client
  (from a new default session, loading the service model from disk) for every Lambda
  invocation of every Task state. While moto intercepts in-process, clients are made once per
  (region, service) from dagtrail's session, with moto's own settings and credentials.
- Speed, at start (`shared_model_loader`): moto loads each service's model with a new
  botocore Loader, and each new Loader lists every service directory on disk first (about
  30 ms, once per emulated service a run touches). One Loader serves them all.
- Speed, at start (`shared_botocore_session`): moto lists each service's regions from a
  botocore Session of its own, which loads endpoints.json (50 ms) and the service models
  dagtrail's clients have just loaded. It uses dagtrail's session instead.
- Memory, per emulated account (`regions_per_service`): moto lists a service's regions
  through an lru_cache on the account backend's method, keyed by the backend itself (its hash
  is a fresh uuid, so the cache never answers for another backend): the last 128 account
  backends, with every table, queue and execution they hold, stay alive after their mock has
  ended, about 1 MB a run in a process that runs workflows one after another. The regions
  depend only on the service's name and are kept per name.
- Speed, per emulated call (`cached_method_names`): moto lists a response class's methods
  with inspect.getmembers on every request, to check the action is one of them (0.13–0.19
  ms a call); the list is made once per class.
- Speed, per emulated call (`light_requests`): moto turns each botocore request into a
  werkzeug Request through EnvironBuilder, which rebuilds the whole WSGI environ (URL
  parsing and quoting, header objects, stream probing) every call, about a tenth of a
  DynamoDB call's CPU. The environ EnvironBuilder makes for a (method, URL) is kept, and
  each request adds its own headers and body as EnvironBuilder would.
- Speed, per emulated call (`cached_routes`): moto finds the service for each request by
  trying the URL against every service's pattern (about fifty regular expressions before
  DynamoDB's), then builds that backend's URL table to find the handler, every call. The
  (service, handler) answer depends only on the URL, so it is kept per URL; the passthrough
  and allow-list configuration is still checked on every call.
- Speed, per emulated call (`unsigned_requests`): botocore signs every request (SigV4: a
  canonical request, four HMACs), about 15 % of a GetItem's CPU, and moto checks no
  signature (IAM authentication is off in local mode); it reads only the access key from the
  Authorization header. While intercepted, plain SigV4 requests carry that header with the
  same credential scope and no signature; S3's and every other signer's are unchanged.
- Speed, per emulated call (`fast_random_strings`): moto draws each request id (52
  characters) and each SQS receipt handle (185) one random.choice at a time, about 4 % of a
  GetItem; random.choices draws them in one call, from the same pool with the same
  distribution (and the same seed).
- Speed, per SQS message (`cached_camelcase`): SendMessage reads one queue attribute through
  the `attributes` property, which converts the name of each of the queue's attributes from
  camelCase character by character (14 conversions a message, 9 % of job_events' CPU); moto's
  dispatcher converts the action name the same way per request. The pure conversion is
  memoized in those modules.
- Speed, per conditional write (`cached_condition_lexing`): moto lexes each
  ConditionExpression with six regular expressions tried per token, every call; the tokens of
  a text are the same every time, so they are kept per text.
- Speed, per state (`cached_json_paths`): the interpreter parses every JSONPath it reads
  (`$.params`, `$$.Task.Token`, ...) each time, and jsonpath_ng builds a new PLY lexer and
  parser for each parse: about 0.75 ms, eight times per task, 7 % of a local sweep's CPU. A
  parsed path only reads the data it is given (`find`, `update_or_create` change the data,
  not the path), so each text is parsed once; an invalid path still raises on every use.
- Speed, per SQS message (`fast_message_clock`): moto's SQS reads the clock through
  datetime arithmetic, several times per message per send and receive; over a queue of a
  few hundred messages that was most of a SendMessage. It reads time.time() instead.

tests/unit/local/test_moto_patches.py fails loudly when an upgrade moves what we patch.
"""

from __future__ import annotations

import base64
import io
import json
import time
import traceback
import types
from collections import deque
from collections.abc import Callable
from pathlib import Path
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
            "re-check dagtrail/local/moto_patches/ and its tests before upgrading"
        )
    _defer_batch_package()


class _DeferredPackage(types.ModuleType):
    """A package whose `__init__` runs on the first read of an attribute it has not got.

    `__path__` and `__spec__` are there from the start, so importing a submodule does not
    run it (importlib.util.LazyLoader would: it loads on any attribute, `__path__` included).
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        self.__class__ = types.ModuleType
        self.__spec__.loader.exec_module(self)
        return getattr(self, name)


def _defer_batch_package() -> None:
    import importlib.util
    import sys

    if "moto.batch" in sys.modules:
        return
    spec = importlib.util.find_spec("moto.batch")
    package = importlib.util.module_from_spec(spec)
    package.__class__ = _DeferredPackage
    sys.modules["moto.batch"] = package
    sys.modules["moto"].batch = package  # as the import system binds a loaded submodule


def install_lambda_dispatch(dispatch: Dispatcher) -> Callable[[], None]:
    """The Step Functions interpreter's Lambda invocations call `dispatch(function_name,
    event)` in-process. Returns an undo function.

    No Lambda service in between: moto's needs the function created first, under an IAM role
    it checks (two more clients and service models, the role and the function: about half
    of the 0.46 s the emulated account took to set up), and each invocation would be one
    more emulated request. A handler exception becomes a
    Lambda function error whose errorType is the exception's class name, which is what Step
    Functions matches in Retry and Catch.
    """
    check_version()
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    client = _InProcessLambda(dispatch)
    current = lambda_eval_utils.boto_client_for  # moto's, or shared_sfn_clients'

    def boto_client_for(region: str, service: str, state_credentials: Any = None):
        return client if service == "lambda" else current(region, service, state_credentials)

    return _replace(lambda_eval_utils, "boto_client_for", boto_client_for)


class _InProcessLambda:
    """The one call the interpreter makes of a Lambda client, answered as Lambda answers it."""

    def __init__(self, dispatch: Dispatcher) -> None:
        self._dispatch = dispatch

    def invoke(self, FunctionName: str, Payload: bytes | str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        # a function's name, or its ARN (arn:aws:lambda:region:account:function:name[:qualifier])
        name = FunctionName.split(":")[6] if FunctionName.startswith("arn:") else FunctionName.split(":")[0]
        event = json.loads(Payload) if Payload else {}
        response: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
        try:
            result = self._dispatch(name, event)
        except Exception as exc:  # a Lambda function error, not a crash of the emulator
            response["FunctionError"] = "Unhandled"
            result = {"errorType": type(exc).__name__, "errorMessage": str(exc),
                      "stackTrace": traceback.format_exception(exc)[-3:]}
        response["Payload"] = io.BytesIO(json.dumps(result).encode())
        return response


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

    return _replace(StateTaskServiceCallback, "_evaluate_with_timeout", _evaluate_with_timeout)


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

    return _replace(retrier_decl, "time", _Time())


def on_execution_end(callback: Callable[[str], None]) -> Callable[[], None]:
    """Call `callback(execution_arn)` after moto records that an execution ended (succeeded,
    failed, timed out or stopped). Returns an undo function."""
    check_version()
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    original_terminated = BaseExecutionWorkerCommunication.terminated
    original_stop = Execution.stop

    def terminated(self) -> None:
        original_terminated(self)
        callback(self.execution.exec_arn)

    def stop(self, *args, **kwargs):
        try:
            return original_stop(self, *args, **kwargs)
        finally:
            callback(self.exec_arn)

    return _replace_all([(BaseExecutionWorkerCommunication, "terminated", terminated), (Execution, "stop", stop)])


def stop_releases_waiting_tasks() -> Callable[[], None]:
    """StopExecution also wakes the execution's states that wait for a task token. moto only
    marks the execution stopped: a waiting state's two threads stay blocked until the task's
    timeout (up to hours), and an abandoned local run left about two per open task in the
    process. On AWS a stopped execution's tokens are dead at once. Returns an undo function."""
    check_version()
    from moto.stepfunctions.parser.backend.execution import Execution

    original_stop = Execution.stop

    def stop(self, *args, **kwargs):
        try:
            return original_stop(self, *args, **kwargs)
        finally:
            env = getattr(self.exec_worker, "env", None)
            if env is not None:
                for endpoint in list(env.callback_pool_manager._pool.values()):
                    endpoint.interrupt_all()

    return _replace(Execution, "stop", stop)


def join_interpreter_threads(timeout: float) -> int:
    """Wait up to `timeout` seconds for the threads moto's Step Functions interpreter started
    to end, and forget those that did: moto lists every thread it starts in a module-level
    list it never empties (one per state and map iteration, kept for the process's life).
    Returns how many are still running."""
    check_version()
    from moto.stepfunctions.parser.utils import TMP_THREADS

    deadline = time.monotonic() + timeout
    for thread in list(TMP_THREADS):
        thread.join(max(0.0, deadline - time.monotonic()))
    TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]
    return len(TMP_THREADS)


def fast_backends() -> Callable[[], None]:
    """Per-item transaction rollback in DynamoDB, an O(1) retention check in SQS (module
    docstring). Same results as moto's own code. Returns an undo function."""
    check_version()
    import copy

    from moto.dynamodb import models as ddb_models
    from moto.dynamodb.models.table import Table
    from moto.sqs.models import SQSBackend

    original_transact = ddb_models.DynamoDBBackend.transact_write_items

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

    return _replace_all([(ddb_models, "copy", _NoTableCopy()),
                         (ddb_models.DynamoDBBackend, "transact_write_items", transact_write_items),
                         (SQSBackend, "is_message_valid_based_on_retention_period",
                          is_message_valid_based_on_retention_period)])


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


def table_items(table_name: str, account: str, region: str) -> list[dict[str, Any]]:
    """Every item of an emulated DynamoDB table in wire form, as a Scan returns them, read
    from moto's backend: a Scan through a client serializes and parses every item again
    (a 100-item sweep's runs table, 211 items: 120 ms that way, 18 ms this way)."""
    return [{name: _binary_as(value, _base64) for name, value in item.to_json()["Attributes"].items()}
            for item in _emulated_table(table_name, account, region).all_items()]


def put_items(table_name: str, items: list[dict[str, Any]], account: str, region: str) -> None:
    """Put wire-form items (as table_items returns them) into an emulated table through
    moto's own put_item, without a request per 25 items."""
    table = _emulated_table(table_name, account, region)
    for item in items:
        table.put_item({name: _binary_as(value, base64.b64decode) for name, value in item.items()})


def _emulated_table(table_name: str, account: str, region: str) -> Any:
    check_version()
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account][region].get_table(table_name)


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _binary_as(value: dict[str, Any], convert: Callable[[Any], Any]) -> dict[str, Any]:
    """One AttributeValue with its binary members converted: moto holds bytes, the wire
    (and JSON) base64."""
    (kind, inner), = value.items()
    if kind == "B":
        return {kind: convert(inner)}
    if kind == "BS":
        return {kind: [convert(v) for v in inner]}
    if kind == "M":
        return {kind: {k: _binary_as(v, convert) for k, v in inner.items()}}
    if kind == "L":
        return {kind: [_binary_as(v, convert) for v in inner]}
    return value


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
    return _replace(UpdateExpressionParser, "make", classmethod(parse))


def fast_update_expressions() -> Callable[[], None]:
    """Copy expression trees node by node and skip the tree-only checks a (tree, names, keys)
    already passed (module docstring); same results and the same errors as moto's own code.
    The memo pays off with `cached_update_expressions`, which hands out one tree per text.
    Returns an undo function."""
    check_version()
    import weakref

    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser

    # Depend only on the tree, the attribute names and the table's key attributes.
    pure = (validators.ActionCountValidator, validators.OverlappingPathsValidator,
            validators.UpdateHashRangeKeyValidator)
    passed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # tree -> keys that passed

    def __init__(self, expression, expression_attribute_names, expression_attribute_values, item, table):
        self.expression_attribute_names = expression_attribute_names
        self.expression_attribute_values = expression_attribute_values
        self.item = item
        self.table = table
        self.processors = self.get_ast_processors()
        self.node_to_validate = _copy_tree(expression)
        self._dagtrail_source = expression

    def validate(self):
        source = self._dagtrail_source
        key = (frozenset((self.expression_attribute_names or {}).items()), tuple(self.table.table_key_attrs))
        checked = key in passed.get(source, ())
        n = self.node_to_validate
        for processor in self.processors:
            if not (checked and isinstance(processor, pure)):
                n = processor.traverse(n)
        if not checked:
            passed.setdefault(source, set()).add(key)
        return n

    def nodes_to_be_processed(self):
        return _dispatch(self)[1]

    def process(self, node):
        for class_key, processor in _dispatch(self)[0].items():
            if isinstance(node, class_key):
                return processor(node)
        return None

    return _replace_all([(validators.Validator, "__init__", __init__),
                         (validators.UpdateExpressionValidator, "validate", validate),
                         (DepthFirstTraverser, "nodes_to_be_processed", nodes_to_be_processed),
                         (DepthFirstTraverser, "process", process)])


def _dispatch(traverser: Any) -> tuple[dict, tuple]:
    """A traverser's processing map, built once per traverser instead of once per node."""
    cached = traverser.__dict__.get("_dagtrail_dispatch")
    if cached is None:
        mapping = traverser._processing_map()
        cached = traverser.__dict__["_dagtrail_dispatch"] = (mapping, tuple(mapping))
    return cached


def _copy_tree(node: Any, memo: dict[int, Any] | None = None) -> Any:
    """copy.deepcopy of a moto expression tree, without deepcopy's generic dispatch per node."""
    import copy

    from moto.dynamodb.parsing.ast_nodes import Node

    memo = {} if memo is None else memo
    if not isinstance(node, Node):
        return copy.deepcopy(node, memo)
    done = memo.get(id(node))
    if done is not None:
        return done
    new = object.__new__(type(node))
    memo[id(node)] = new
    state = new.__dict__
    for name, value in node.__dict__.items():
        if name == "children" and value is not None:
            state[name] = [_copy_tree(child, memo) if isinstance(child, Node) else copy.deepcopy(child, memo)
                           for child in value]
        elif isinstance(value, Node):
            state[name] = _copy_tree(value, memo)
        else:
            state[name] = copy.deepcopy(value, memo)
    return new


def fast_update_items(maxsize: int = 1024) -> Callable[[], None]:
    """UpdateItem from a plan per expression, where update_plan models the expression;
    moto's own code for everything else and wherever moto would refuse (module docstring).
    Returns an undo function."""
    check_version()
    import copy

    from moto.dynamodb.comparisons import create_condition_expression_parser, get_expected
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.utilities import bytesize
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    from dagtrail.local.moto_patches import update_plan

    original = DynamoDBBackend.update_item
    plans: dict[str, update_plan.Plan | None] = {}

    def update_item(self, table_name, key, update_expression, expression_attribute_names,
                    expression_attribute_values, attribute_updates=None, expected=None,
                    condition_expression=None, return_values_on_condition_check_failure=None):
        # Up to the first write, the same steps as moto's update_item; where moto would
        # raise (or the plan cannot say), moto's own code runs from the start and answers.
        try:
            if not update_expression or attribute_updates:
                raise update_plan.Unsupported("no update expression")
            table = self.get_table(table_name)
            plan = plans.get(update_expression, _UNPLANNED)
            if plan is _UNPLANNED:
                if len(plans) >= maxsize:
                    plans.clear()
                plan = plans[update_expression] = update_plan.compile_plan(
                    UpdateExpressionParser.make(update_expression))
            if plan is None:
                raise update_plan.Unsupported("not a planned expression")
            hash_value, range_value = _update_keys(table, key)
            item = table.get_item(hash_value, range_value)
            if not get_expected(expected or {}).expr(item):
                raise update_plan.Unsupported("Expected failed")
            condition = create_condition_expression_parser(
                condition_expression, expression_attribute_names, expression_attribute_values).parse()
            if not condition.expr(item):
                raise update_plan.Unsupported("condition failed")
            if item is None:
                attrs: dict[str, Any] = {}
                size = sum(bytesize(k) + v.size() for k, v in
                           ((table.hash_key_attr, hash_value), (table.range_key_attr, range_value)) if v is not None)
            else:
                attrs = item.attrs
                size = item.size()
            changes = update_plan.changes(plan, expression_attribute_names, expression_attribute_values,
                                               attrs, size, table)
        except Exception:
            return original(self, table_name, key, update_expression, expression_attribute_names,
                            expression_attribute_values, attribute_updates, expected, condition_expression,
                            return_values_on_condition_check_failure)
        orig_item = None
        if item is None:
            data = {table.hash_key_attr: {hash_value.type: hash_value.value}}
            if range_value:
                data[table.range_key_attr] = {range_value.type: range_value.value}
            table.put_item(data)  # raises, if at all, where moto's would (nothing written yet)
            item = table.get_item(hash_value, range_value)
        elif table.stream_shard is not None:
            orig_item = copy.deepcopy(item)
        attrs = item.attrs
        for kind, name, value in changes:
            if kind == "REMOVE":
                attrs.pop(name, None)
            else:  # size checked for all writes at once by `changes`
                dict.__setitem__(attrs, name, value)
        if table.stream_shard is not None:
            table.stream_shard.add(orig_item, item)
        return item

    return _replace(DynamoDBBackend, "update_item", update_item)


_UNPLANNED = object()


def _update_keys(table: Any, key: dict[str, Any]) -> tuple[Any, Any]:
    """moto's update_item's reading of the Key (which differs from get_keys_value's)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if table.hash_key_attr in key and table.range_key_attr in key:
        return DynamoType(key[table.hash_key_attr]), DynamoType(key[table.range_key_attr])
    if table.hash_key_attr in key:
        return DynamoType(key[table.hash_key_attr]), None
    return DynamoType(key), None


def fast_attribute_picker() -> Callable[[], None]:
    """Candidate keys per (key, shape) for plain-dict values (module docstring); same values
    as moto's own picker. Returns an undo function."""
    check_version()
    from moto.core import serialize
    from moto.core.utils import MISSING, get_value

    original_call = serialize.AttributePicker.__call__
    # (key, id(shape), id(parent), providers) -> (shape, parent, candidate keys); the shapes
    # are kept so that an id is never reused while its entry lives.
    candidates: dict[tuple, tuple[Any, Any, tuple[str, ...]]] = {}

    def __call__(self, context):
        obj = context.obj
        if type(obj) is not dict:  # other objects' aliases depend on their class and Meta
            return original_call(self, context)
        shape = context.shape
        parent = getattr(shape, "parent", None)
        cache_key = (context.key, id(shape), id(parent), id(self.alias_providers), type(self))
        hit = candidates.get(cache_key)
        if hit is None or hit[0] is not shape or hit[1] is not parent:
            if len(candidates) >= _CANDIDATES_LIMIT:
                candidates.clear()
            hit = candidates[cache_key] = (shape, parent, tuple(self.get_possible_keys(context)))
        for possible_key in hit[2]:
            value = get_value(obj, possible_key, MISSING)
            if value is not MISSING:
                break
        else:
            value = None
        if self.response_transformers:
            key_path = f"{context.key_path}.{context.key}"
            for transform_path, transform in self.response_transformers.items():
                if key_path.endswith(transform_path):
                    value = transform(value)
                    break
        return value

    return _replace(serialize.AttributePicker, "__call__", __call__)


_CANDIDATES_LIMIT = 4096


def plain_attribute_values() -> Callable[[], None]:
    """DynamoDB AttributeValues already in wire form are copied, not serialized member by
    member (module docstring). Returns an undo function."""
    check_version()
    from moto.core.serialize import BaseJSONSerializer

    original = BaseJSONSerializer._serialize_type_structure

    def _serialize_type_structure(self, serialized, value, shape, key):
        if key and shape.name == "AttributeValue" and type(value) is dict:
            wire = _wire_attribute_value(value)
            if wire is not None:
                self._default_serialize(serialized, wire, shape, key)
                return
        original(self, serialized, value, shape, key)

    return _replace(BaseJSONSerializer, "_serialize_type_structure", _serialize_type_structure)


def _wire_attribute_value(value: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of `value` as moto's serializer would write it, or None where only moto's
    serializer knows (binary, sets of binary, anything of an unexpected type)."""
    out: dict[str, Any] = {}
    for kind, v in value.items():
        t = type(v)
        if kind in ("S", "N") and t is str or kind in ("BOOL", "NULL") and t is bool:
            out[kind] = v
        elif kind in ("SS", "NS") and t is list and all(type(x) is str for x in v):
            out[kind] = list(v)
        elif kind == "M" and t is dict:
            members = {}
            for name, member in v.items():
                wire = _wire_attribute_value(member) if type(member) is dict else None
                if wire is None:
                    return None
                members[name] = wire
            out[kind] = members
        elif kind == "L" and t is list:
            elements = [_wire_attribute_value(e) if type(e) is dict else None for e in v]
            if any(e is None for e in elements):
                return None
            out[kind] = elements
        else:
            return None
    return out


def cached_parses(directory: Path | None = None, keep_files: int = 64) -> Callable[[], None]:
    """Each state machine definition text parsed once, in this process and, with `directory`,
    across runs (module docstring). Returns an undo function.

    A parse is kept pickled, as it was before any execution ran it, and every later caller
    gets its own copy (executions mutate theirs). moto reads only the program: the parse tree,
    which only the static analysers moto does not run read, is None for a kept parse.
    """
    check_version()
    import pickle
    import threading

    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original = AmazonStateLanguageParser.parse
    kept: dict[str, bytes] = {}
    lock = threading.Lock()

    def parse(definition: str):
        with lock:
            blob = kept.get(definition)
        if blob is None and directory is not None:
            blob = _read_parse(_parse_file(directory, definition))
        if blob is not None:
            try:
                return pickle.loads(blob), None
            except Exception:  # a file from a failed write or another build of a class: parse again
                pass
        program, tree = original(definition)  # an invalid definition raises: nothing kept
        try:
            blob = pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
            return program, tree  # a part that does not pickle: parsed every time, as moto does
        if directory is not None:
            _write_parse(directory, _parse_file(directory, definition), blob, keep_files)
        with lock:
            kept[definition] = blob
            while len(kept) > 8:  # bounded: a process may create many state machines
                kept.pop(next(iter(kept)))
        return program, tree  # nothing has run this one: it is what the kept copy holds

    return _replace(AmazonStateLanguageParser, "parse", staticmethod(parse))


def _parse_file(directory: Path, definition: str) -> Path:
    import hashlib
    import pickle
    import sys

    # A parse is only valid for the moto and the Python that pickled it.
    digest = hashlib.sha256(f"{MOTO_VERSION}\0{sys.version}\0{pickle.HIGHEST_PROTOCOL}\0{definition}".encode())
    return directory / f"{digest.hexdigest()}.pickle"


def _read_parse(path: Path) -> bytes | None:
    """The kept parse at `path`, if this user wrote it: a pickle runs code when loaded, so
    one that anyone else could have written or replaced is not read."""
    import os
    import stat

    try:
        for info in (path.parent.stat(), path.stat()):
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None
        blob = path.read_bytes()
        os.utime(path)  # recently used: kept when the directory is pruned
        return blob
    except OSError:  # not there, or unreadable: parse
        return None


def _write_parse(directory: Path, path: Path, blob: bytes, keep_files: int) -> None:
    import os
    import tempfile

    part = None
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as out:
            part = Path(out.name)
            out.write(blob)
        os.replace(part, path)  # whole or not at all, for a run reading it concurrently
        files = sorted(directory.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[keep_files:]:
            old.unlink(missing_ok=True)
    except OSError:  # a read-only or full disk: this run parsed, the next one will too
        if part is not None:
            part.unlink(missing_ok=True)


def shared_sfn_clients() -> Callable[[], None]:
    """The Step Functions interpreter's clients, made once per (region, service) from
    dagtrail's session while moto intercepts in-process (module docstring). Returns an undo
    function."""
    check_version()
    import sys
    import threading

    from botocore.config import Config
    from moto.core.models import botocore_stubber
    from moto.stepfunctions.parser.asl.parse import asl_parser  # noqa: F401  loads every user of the name
    from moto.stepfunctions.parser.asl.utils import boto_client

    from dagtrail import aws

    original = boto_client.boto_client_for
    made: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()
    # moto's own settings and credentials for these clients (asl/utils/boto_client.py)
    config = Config(parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1},
                    connect_timeout=boto_client.TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                    read_timeout=boto_client.TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS)

    def boto_client_for(region: str, service: str, state_credentials: Any = None):
        if not botocore_stubber.enabled:
            return original(region, service, state_credentials)
        # moto's own ignores state_credentials too: every client signs as "ak"
        key = (region, service)
        with lock:
            if key not in made:
                made[key] = aws.new_client(service, region, config, aws_access_key_id="ak",
                                           aws_secret_access_key="sk")
            return made[key]

    # the interpreter's modules import the name by value
    return _replace_all([(module, "boto_client_for", boto_client_for) for name, module in list(sys.modules.items())
                         if name.startswith("moto.stepfunctions.parser")
                         and getattr(module, "boto_client_for", None) is original])


def fast_message_clock() -> Callable[[], None]:
    """SQS's message clock from time.time() instead of datetime arithmetic (module
    docstring). Returns an undo function."""
    check_version()

    from moto.sqs import models

    original = models.unix_time_millis

    def unix_time_millis(dt=None) -> float:
        return original(dt) if dt is not None else time.time() * 1000.0

    return _replace(models, "unix_time_millis", unix_time_millis)


def cached_method_names() -> Callable[[], None]:
    """moto's per-request list of a response class's methods, made once per class (module
    docstring). Returns an undo function."""
    check_version()
    import functools

    from moto.core import responses

    original = responses.method_names_from_class
    return _replace(responses, "method_names_from_class", functools.cache(lambda clazz: frozenset(original(clazz))))


def cached_camelcase() -> Callable[[], None]:
    """moto's camelCase → snake_case conversion, memoized where it runs per request (module
    docstring). Returns an undo function."""
    check_version()
    import functools

    from moto.core import responses, utils
    from moto.sqs import models

    cached = functools.lru_cache(maxsize=4096)(utils.camelcase_to_underscores)
    return _replace_all([(module, "camelcase_to_underscores", cached) for module in (utils, responses, models)])


def cached_json_paths(maxsize: int = 1024) -> Callable[[], None]:
    """Each JSONPath the interpreter reads parsed once (module docstring). Returns an undo function."""
    check_version()
    import functools

    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    return _replace_all([(module, "parse", functools.lru_cache(maxsize=maxsize)(module.parse))
                         for module in (json_path, result_path)])


def cached_condition_lexing(maxsize: int = 1024) -> Callable[[], None]:
    """Each ConditionExpression string lexed once (module docstring). Returns an undo function."""
    check_version()
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser._lex_condition_expression
    lexed: dict[str, tuple] = {}

    def _lex_condition_expression(self):
        text = self.condition_expression
        nodes = lexed.get(text)
        if nodes is None:
            nodes = tuple(original(self))
            if len(lexed) < maxsize:
                lexed[text] = nodes
        # Later stages build new nodes; fresh `children` lists keep the cached ones untouched.
        return deque(node._replace(children=[]) for node in nodes)

    return _replace(ConditionExpressionParser, "_lex_condition_expression", _lex_condition_expression)


def light_requests(max_urls: int = 256) -> Callable[[], None]:
    """Each request's WSGI environ from the one werkzeug's EnvironBuilder made for its method
    and URL, with its own headers and body (module docstring). Returns an undo function."""
    check_version()
    from moto.core.request import (PRESERVED_HEADER_NAMES_ENVIRON_KEY, Request, environ_key_for_header,
                                   should_preserve_original_header_name)

    original = vars(Request)["from_primitives"]
    bases: dict[tuple[str, str], dict[str, Any]] = {}

    def from_primitives(cls, method: str, url: str, headers: Any, body: Any = None):
        base = bases.get((method, url))
        if base is None and len(bases) < max_urls and cls is Request:
            base = dict(original.__func__(cls, method, url, {}, b"").environ)
            for key in ("CONTENT_LENGTH", PRESERVED_HEADER_NAMES_ENVIRON_KEY, "werkzeug.request"):
                base.pop(key, None)
            bases[(method, url)] = base
        if base is None or cls is not Request or not isinstance(body, (bytes, type(None))):
            return original.__func__(cls, method, url, headers, body)
        body = body or b""
        items = [(key, value.decode("utf-8") if isinstance(value, bytes) else str(value))
                 for key, value in headers.items() if key.lower() != "transfer-encoding"]
        # in EnvironBuilder's order: the base, the body's type and length, then the headers
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(body)
        content_type = next((value for key, value in items if key.lower() == "content-type"), None)
        if content_type is not None:
            environ["CONTENT_TYPE"] = content_type
        if body:  # EnvironBuilder measures a body; moto sets "0" after the headers when there is none
            environ["CONTENT_LENGTH"] = str(len(body))
        preserved = {}
        for key, value in items:
            if key.lower() in ("content-type", "content-length"):
                continue
            name = f"HTTP_{key.upper().replace('-', '_')}"
            environ[name] = f"{environ[name]}, {value}" if name in environ and name not in base else value
            if should_preserve_original_header_name(key):
                preserved[environ_key_for_header(key)] = key
        environ.setdefault("CONTENT_LENGTH", "0")
        environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = preserved
        return cls(environ)

    return _replace(Request, "from_primitives", classmethod(from_primitives))


def cached_routes(max_urls: int = 256) -> Callable[[], None]:
    """The service and handler that answer a URL, found once per URL (module docstring).
    Returns an undo function."""
    check_version()
    import re

    import moto.backend_index as backend_index
    import moto.backends as backends
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.base_backend import BackendDict
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.core.config import passthrough_service, passthrough_url, service_whitelisted
    from moto.core.exceptions import HTTPException, ServiceNotWhitelisted
    from moto.core.request import normalize_request
    from moto.core.utils import get_equivalent_url_in_aws_domain
    from moto.moto_api import recorder

    original = BotocoreStubber.process_request
    routes: dict[str, tuple[str, tuple[str, ...], Any]] = {}
    raw_urls: dict[tuple[str, str | None], str] = {}

    def route(url: str) -> tuple[str, tuple[str, ...], Any] | None:
        """As process_request searches: the clean URL, every service whose pattern matched up
        to the one with a handler for it (each is checked against the config), the handler."""
        parsed, _ = get_equivalent_url_in_aws_domain(url)
        clean_url = f"{parsed.scheme}://{parsed.netloc}{parsed.path}"
        matched: list[str] = []
        for service, pattern in backend_index.backend_url_patterns:
            if not pattern.match(clean_url):
                continue
            matched.append(service)
            backend_dict = backends.get_backend(service)
            if isinstance(backend_dict, BackendDict):
                regions = backend_dict[DEFAULT_ACCOUNT_ID]
                backend = regions["us-east-1"] if "us-east-1" in regions else regions["aws"]
            else:
                backend = backend_dict["global"]
            for pattern_text, handler in backend.urls.items():  # module-level handlers: no backend state
                if re.compile(pattern_text).match(clean_url):
                    return clean_url, tuple(matched), handler
        return None

    def process_request(self, request):
        found = routes.get(request.url)
        if found is None:
            found = route(request.url)
            if found is None or len(routes) >= max_urls:
                return original(self, request)
            routes[request.url] = found
        clean_url, services, handler = found
        if passthrough_url(clean_url):
            return None
        for service in services:
            if passthrough_service(service):
                return None
            if not service_whitelisted(service):
                raise ServiceNotWhitelisted(service)
        normalized = normalize_request(request)
        # raw_url derives from the URL and the Host header alone, through werkzeug's IRI code
        raw_key = (request.url, request.headers.get("Host"))
        raw_url = raw_urls.get(raw_key)
        if raw_url is None:
            raw_url = normalized.raw_url
            if len(raw_urls) < max_urls:
                raw_urls[raw_key] = raw_url
        try:
            recorder._record_request(normalized)
            return handler(normalized, raw_url, normalized.headers)
        except HTTPException as e:
            return e.code, e.get_headers(), e.get_body()

    return _replace(BotocoreStubber, "process_request", process_request)


def unsigned_requests() -> Callable[[], None]:
    """Plain SigV4 requests carry their credential scope but no signature (module
    docstring). Returns an undo function."""
    check_version()
    from botocore import auth
    from botocore.exceptions import NoCredentialsError

    original = auth.SigV4Auth.add_auth

    def add_auth(self, request) -> None:
        if type(self) is not auth.SigV4Auth:  # S3's and the others': their own headers matter
            return original(self, request)
        if self.credentials is None:
            raise NoCredentialsError()
        request.context["timestamp"] = auth.get_current_datetime().strftime(auth.SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        request.headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.scope(request)}, "
                                            f"SignedHeaders=host, Signature={_NO_SIGNATURE}")

    return _replace(auth.SigV4Auth, "add_auth", add_auth)


_NO_SIGNATURE = "0" * 64


def fast_random_strings() -> Callable[[], None]:
    """moto's random strings in one draw each (module docstring). Returns an undo function."""
    check_version()
    import string

    from moto.moto_api._internal import mock_random
    from moto.moto_api._internal.moto_random import MotoRandom
    from moto.sqs import models

    def get_random_string(self, length: int = 20, include_digits: bool = True, lower_case: bool = False) -> str:
        pool = string.ascii_letters + string.digits if include_digits else string.ascii_letters
        random_str = "".join(self.choices(pool, k=length))
        return random_str.lower() if lower_case else random_str

    def generate_receipt_handle() -> str:
        return "".join(mock_random.choices(string.ascii_lowercase, k=185))

    return _replace_all([(MotoRandom, "get_random_string", get_random_string),
                         (models, "generate_receipt_handle", generate_receipt_handle)])


def shared_model_loader() -> Callable[[], None]:
    """One moto model Loader for every service instead of one each (module docstring).
    Returns an undo function."""
    check_version()
    import functools

    from moto.core import utils

    return _replace(utils, "create_loader", functools.cache(utils.create_loader))


def shared_botocore_session() -> Callable[[], None]:
    """moto's botocore Session (for each service's regions) is dagtrail's own (module
    docstring). Returns an undo function."""
    check_version()
    from moto.core.base_backend import AccountSpecificBackend

    from dagtrail import aws

    return _replace(AccountSpecificBackend, "get_session", classmethod(lambda cls: aws.session()))


def regions_per_service() -> Callable[[], None]:
    """Each service's region list kept per service name, not per account backend (module
    docstring). Returns an undo function."""
    check_version()
    import functools

    from moto.core.base_backend import AccountSpecificBackend

    listed = AccountSpecificBackend._generate_regions.__wrapped__  # moto's own, without its cache
    regions = functools.cache(lambda service_name: tuple(listed(None, service_name)))  # it reads no self
    return _replace(AccountSpecificBackend, "_generate_regions", lambda self, service_name: list(regions(service_name)))


def speedups(parse_cache: Path | None = None) -> Callable[[], None]:
    """Every patch here that only makes moto faster (none changes an answer; see the module
    docstring), installed together; `parse_cache` keeps state machine parses across runs.
    Returns one undo function, which undoes them in reverse."""
    return _undo_all([shared_model_loader(), shared_botocore_session(), regions_per_service(), fast_backends(),
                      cached_update_expressions(), fast_update_expressions(), fast_update_items(),
                      fast_attribute_picker(), plain_attribute_values(), cached_parses(parse_cache),
                      shared_sfn_clients(), fast_message_clock(), cached_method_names(), unsigned_requests(),
                      fast_random_strings(), cached_camelcase(), cached_condition_lexing(), cached_json_paths(),
                      light_requests(), cached_routes()])


def _replace(owner: Any, name: str, value: Any) -> Callable[[], None]:
    """Set owner.name to value; returns the function that puts the original back (as stored:
    a staticmethod stays one; an attribute the owner only inherited is removed again)."""
    if name not in vars(owner):
        setattr(owner, name, value)
        return lambda: delattr(owner, name)
    original = vars(owner)[name]
    setattr(owner, name, value)
    return lambda: setattr(owner, name, original)


def _replace_all(replacements: list[tuple[Any, str, Any]]) -> Callable[[], None]:
    return _undo_all([_replace(owner, name, value) for owner, name, value in replacements])


def _undo_all(undos: list[Callable[[], None]]) -> Callable[[], None]:
    def undo() -> None:
        for fn in reversed(undos):
            fn()

    return undo
