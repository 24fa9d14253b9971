"""These fail loudly when a moto upgrade moves what dagtrail patches (see dagtrail/local/moto_patches/)."""

import inspect
import json
import re
import string

import boto3
import moto
import pytest

from dagtrail.local import moto_patches


def test_moto_is_the_version_the_patches_were_written_for():
    assert moto.__version__ == moto_patches.MOTO_VERSION, (
        "moto was upgraded: re-check dagtrail/local/moto_patches/, then update MOTO_VERSION")


def test_the_interpreter_still_invokes_lambda_through_boto_client_for_and_reads_what_we_answer():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import boto_client

    source = inspect.getsource(lambda_eval_utils)
    assert source.count("boto_client_for(") == 2 and source.count(".invoke(**parameters)") == 2
    # what _InProcessLambda answers: the keys the interpreter reads of a response
    assert '.get("FunctionError")' in source and '["Payload"]' in source and "select_from_typed_dict" in source
    assert list(inspect.signature(boto_client.boto_client_for).parameters) == ["region", "service", "state_credentials"]


def test_the_retry_sleep_is_still_time_sleep_in_retrier_decl():
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    assert "time.sleep(" in inspect.getsource(retrier_decl)


def _lambda_function() -> tuple[str, str]:
    """A role and a Lambda function for moto's state machines to call: neither exists in moto,
    dispatch answers the function."""
    return "arn:aws:iam::123456789012:role/r", "arn:aws:lambda:us-east-1:123456789012:function:Fn"


def test_lambda_invoke_dispatches_to_our_function_and_errors_carry_the_class_name(aws_mock):
    calls = []

    class Boom(Exception):
        pass

    def dispatch(name, event):
        calls.append((name, event))
        if event.get("fail"):
            raise Boom("no")
        return {"echo": event["x"]}

    undo = moto_patches.install_lambda_dispatch(dispatch)
    try:
        role, arn = _lambda_function()
        sfn = boto3.client("stepfunctions")
        caught = {"ErrorEquals": ["Boom"], "ResultPath": "$.error", "Next": "Caught"}
        machine = sfn.create_state_machine(name="m", roleArn=role, definition=json.dumps({
            "StartAt": "Ok", "States": {
                "Ok": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "ResultPath": "$.ok",
                       "Parameters": {"FunctionName": arn, "Payload": {"x": 1}}, "Next": "Plain"},
                "Plain": {"Type": "Task", "Resource": arn, "Parameters": {"x": 2}, "ResultPath": "$.plain",
                          "Next": "Bad"},
                "Bad": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": "Fn", "Payload": {"fail": True}}, "Catch": [caught],
                        "End": True},
                "Caught": {"Type": "Succeed"}}}))["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        described = _wait_done(sfn, execution)
        assert described["status"] == "SUCCEEDED", described
        output = json.loads(described["output"])
        assert output["ok"]["Payload"] == {"echo": 1} and output["ok"]["StatusCode"] == 200
        assert output["plain"] == {"echo": 2}
        assert output["error"]["Error"] == "Boom" and json.loads(output["error"]["Cause"])["errorMessage"] == "no"
        assert calls == [("Fn", {"x": 1}), ("Fn", {"x": 2}), ("Fn", {"fail": True})]
        assert boto3.client("lambda").list_functions()["Functions"] == []  # no Lambda service involved
    finally:
        undo()


def test_version_check_raises_on_a_mismatch(monkeypatch):
    monkeypatch.setattr(moto, "__version__", "9.9.9")
    with pytest.raises(moto_patches.MotoVersionError, match="9.9.9"):
        moto_patches.check_version()


def test_each_retry_of_a_callback_state_gets_a_new_token(aws_mock):
    """Without the patch, moto reuses one token for all attempts and the retry fails at once."""
    import threading
    import time

    tokens = []
    seen = threading.Event()

    def dispatch(name, event):
        tokens.append(event["token"])
        seen.set()
        return {}

    undo = [moto_patches.install_lambda_dispatch(dispatch), moto_patches.fresh_token_per_attempt(),
            moto_patches.fast_retries(0.0)]
    try:
        role, arn = _lambda_function()
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(name="m", roleArn=role, definition=json.dumps({
            "StartAt": "T", "States": {"T": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": arn, "Payload": {"token.$": "$$.Task.Token"}},
                "Retry": [{"ErrorEquals": ["Again"], "MaxAttempts": 2, "IntervalSeconds": 1}],
                "End": True}}}))["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        for expected in (1, 2):
            assert seen.wait(10)
            seen.clear()
            while len(tokens) < expected:
                time.sleep(0.01)
            if expected == 1:
                sfn.send_task_failure(taskToken=tokens[-1], error="Again", cause="first attempt")
            else:
                sfn.send_task_success(taskToken=tokens[-1], output="{}")
        for _ in range(200):
            status = sfn.describe_execution(executionArn=execution)["status"]
            if status != "RUNNING":
                break
            time.sleep(0.02)
        assert status == "SUCCEEDED"
        assert len(set(tokens)) == 2
    finally:
        for fn in reversed(undo):
            fn()


def test_definitions_for_moto_have_no_exponent_numbers(aws_mock):
    """moto's ASL grammar rejects 1e-05 (AWS accepts it): definition_text writes 0.00001."""
    asl = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"tol": 1e-05, "big": 1.5e20, "n": 3,
                                                                        "s": "1e-05", "ok": True, "none": None},
                                            "End": True}}}
    text = moto_patches.definition_text(asl)
    assert json.loads(text) == asl
    assert "1e-05" not in text.replace('"1e-05"', "")
    sfn = boto3.client("stepfunctions")
    sfn.create_state_machine(name="m", definition=text, roleArn="arn:aws:iam::123456789012:role/r")
    with pytest.raises(sfn.exceptions.ClientError if hasattr(sfn.exceptions, "ClientError") else Exception):
        sfn.create_state_machine(name="m2", definition=json.dumps(asl), roleArn="arn:aws:iam::123456789012:role/r")


def test_what_fast_backends_replaces_is_still_there():
    from moto.dynamodb.models import DynamoDBBackend
    from moto.sqs.models import SQSBackend

    source = inspect.getsource(DynamoDBBackend.transact_write_items)
    assert "copy.deepcopy(" in source and "original_table_state[table_name]" in source
    assert "get_queue_attributes" in inspect.getsource(SQSBackend.is_message_valid_based_on_retention_period)


@pytest.fixture
def fast(aws_mock):
    undo = moto_patches.fast_backends()
    yield
    undo()


def _table():
    from dagtrail.runs.table import table_definition

    ddb = boto3.client("dynamodb")
    ddb.create_table(**table_definition("t"))
    return ddb


def _key(pk, sk="S"):
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def test_a_failed_transaction_still_rolls_back_every_item(fast):
    ddb = _table()
    ddb.put_item(TableName="t", Item={**_key("a"), "n": {"N": "1"}})
    ddb.put_item(TableName="t", Item={**_key("c"), "n": {"N": "1"}})
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "t", "Key": _key("a"), "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Update": {"TableName": "t", "Key": _key("b"), "UpdateExpression": "SET n = :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Update": {"TableName": "t", "Key": _key("c"), "UpdateExpression": "SET n = :one",
                        "ConditionExpression": "attribute_not_exists(n)",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        ])
    assert ddb.get_item(TableName="t", Key=_key("a"))["Item"]["n"] == {"N": "1"}
    assert "Item" not in ddb.get_item(TableName="t", Key=_key("b"))
    ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": "t", "Key": _key("a"), "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Put": {"TableName": "t", "Item": {**_key("b"), "n": {"N": "5"}}}},
    ])
    assert ddb.get_item(TableName="t", Key=_key("a"))["Item"]["n"] == {"N": "2"}
    assert ddb.get_item(TableName="t", Key=_key("b"))["Item"]["n"] == {"N": "5"}
    assert ddb.scan(TableName="t")["Count"] == 3


def test_sqs_still_stops_at_messages_past_their_retention(fast):
    """As moto itself does: a receive stops at an expired message (it is never returned)."""
    from moto.sqs.models import sqs_backends

    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    for body in ("new1", "old", "new2"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    queue = sqs_backends["123456789012"]["us-east-1"].queues["q"]
    next(m for m in queue._messages if m.body == "old").sent_timestamp -= 120_000

    def receive():
        return [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]

    assert (receive(), receive()) == (["new1"], ["new2"])


def test_what_cached_update_expressions_relies_on_is_still_there():
    from moto.dynamodb import responses
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.parsing.validators import Validator

    assert isinstance(UpdateExpressionParser.__dict__["make"], classmethod)
    # The shared tree is never changed in place: the validator works on its own copy.
    assert "self.node_to_validate = deepcopy(expression)" in inspect.getsource(Validator.__init__)
    assert "UpdateExpressionParser.make(update_expression)" in inspect.getsource(DynamoDBBackend.update_item)
    assert "UpdateExpressionParser.make(update_expression)" in inspect.getsource(responses.DynamoHandler.update_item)


def test_cached_update_expressions_give_the_same_items_and_leave_the_tree_alone(aws_mock):
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    from dagtrail.runs.states import JobState
    from dagtrail.runs.table import RunsTable, table_definition

    boto3.client("dynamodb").create_table(**table_definition("t"))
    table = RunsTable("t")
    original = UpdateExpressionParser.__dict__["make"]
    undo = moto_patches.cached_update_expressions()
    try:
        for job in ("a", "b"):  # the second job reuses the first one's parsed expressions
            assert table.transition(job, JobState.RUNNING, {"started_at": f"s-{job}", "exit_code": None})[0]
            applied, record = table.transition(job, JobState.SUCCEEDED, {"started_at": "later", "exit_code": 3})
            assert applied and (record.started_at, record.exit_code) == (f"s-{job}", 3)
            assert not table.transition(job, JobState.RUNNING, {})[0]
        expression = "SET #state = :state, state_rank = :rank, updated_at = :now"
        # Used by the last transition above; still what a fresh parse gives.
        assert _tree(UpdateExpressionParser.make(expression)) == _tree(original.__func__(UpdateExpressionParser, expression))
        assert UpdateExpressionParser.make(expression) is UpdateExpressionParser.make(expression)
    finally:
        undo()
    assert UpdateExpressionParser.__dict__["make"] is original


def _tree(node):
    children = getattr(node, "children", None)
    return (type(node).__name__, [_tree(c) for c in children]) if children is not None else node


def test_what_fast_update_expressions_and_the_attribute_picker_replace_is_still_there():
    from moto.core import serialize
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node

    init = inspect.getsource(validators.Validator.__init__)
    assert "self.processors = self.get_ast_processors()" in init and "deepcopy(expression)" in init
    assert "for processor in self.processors:" in inspect.getsource(validators.Validator.validate)
    processors = inspect.getsource(validators.UpdateExpressionValidator.get_ast_processors)
    for name in ("ActionCountValidator()", "OverlappingPathsValidator(self.expression_attribute_names)",
                 "UpdateHashRangeKeyValidator("):
        assert name in processors
    assert set(vars(Node()).keys()) == {"type", "children", "parent"}  # what _copy_tree copies
    assert "self._processing_map()" in inspect.getsource(DepthFirstTraverser.process)
    picker = inspect.getsource(serialize.AttributePicker.__call__)
    assert "self.get_possible_keys(context)" in picker and "self.response_transformers" in picker
    # Candidate keys depend on the object only through its class (and a Meta a dict cannot have).
    assert [p.__name__ for p in serialize.DEFAULT_ALIAS_PROVIDERS] == [
        "ExplicitAlias", "ShapeNameAlias", "NoAlias", "ShapePrefixAlias", "ClassPrefixAlias", "ModelAlias"]


def _dynamodb_story():
    """Writes, reads and refused writes of every kind the runs table makes, and then some;
    what each call answered (or the error it raised)."""
    from botocore.exceptions import ClientError

    from dagtrail.runs.states import JobState
    from dagtrail.runs.table import RunsTable

    ddb = _table()
    table = RunsTable("t")
    out = []

    def call(fn, **kwargs):
        try:
            resp = fn(**kwargs)
            resp.pop("ResponseMetadata", None)
            out.append(resp)
        except ClientError as exc:
            out.append((exc.response["Error"]["Code"], exc.response["Error"]["Message"]))

    for job in ("a", "b", "a"):
        out.append(table.transition(job, JobState.RUNNING, {"started_at": f"s-{job}", "exit_code": None}))
        out.append(table.transition(job, JobState.SUCCEEDED, {"started_at": "later", "exit_code": 3}))
    update = {"TableName": "t", "Key": _key("x"), "ReturnValues": "ALL_NEW"}
    call(ddb.update_item, **update, UpdateExpression="SET #a = :v, #b = if_not_exists(#b, :w) ADD n :one",
         ExpressionAttributeNames={"#a": "a", "#b": "b"},
         ExpressionAttributeValues={":v": {"M": {"k": {"L": [{"S": "s"}, {"N": "1"}, {"BOOL": True}]}}},
                                    ":w": {"B": b"\x00\x01"}, ":one": {"N": "1"}})
    call(ddb.update_item, **update, UpdateExpression="SET a.k[0] = :v REMOVE b ADD ss :ss",
         ExpressionAttributeValues={":v": {"NULL": True}, ":ss": {"SS": ["p", "q"]}})
    for expression, names in [("SET #a = :v, #a = :v", {"#a": "a"}),  # the same path twice
                              ("SET #a = :v, #b = :v", {"#a": "a", "#b": "a"}),  # twice by two names
                              ("SET #a = :v", {"#a": "pk"}),  # a key attribute
                              ("SET #a = :v SET c = :v", {"#a": "a"}),  # two SET clauses
                              ("SET #a = :v", {"#a": "a"}), ("SET #a = :v", {"#a": "b"}),
                              ("SET #a = nosuch.deep + :n", {"#a": "a"}),  # no such path
                              ("SET #a = :v, b = :n + :n", {"#a": "a"})]:
        values = {":v": {"S": "v"}, ":n": {"N": "2"}}
        call(ddb.update_item, **update, UpdateExpression=expression, ExpressionAttributeNames=names,
             ExpressionAttributeValues={k: v for k, v in values.items() if k in expression})
    call(ddb.get_item, TableName="t", Key=_key("x"))
    call(ddb.query, TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "x"}})
    call(ddb.scan, TableName="t")
    return out


def test_fast_update_expressions_and_the_attribute_picker_change_no_answer_and_no_error():
    from moto import mock_aws

    from dagtrail import aws

    answers = []
    for patched in (False, True):
        undo = [moto_patches.cached_update_expressions(), moto_patches.fast_update_expressions(),
                moto_patches.fast_attribute_picker()] if patched else []
        try:
            story = []
            for _ in range(2):  # the second time from the caches and memos
                with mock_aws():
                    aws.reset_clients()
                    story += _dynamodb_story()
        finally:
            for fn in reversed(undo):
                fn()
            aws.reset_clients()
        answers.append([_no_times(a) for a in story])
    plain, fast = answers
    assert sum('Exception"' in a for a in plain) >= 10  # the refused writes were refused, both times
    assert plain == fast


def _no_times(x):
    """updated_at is the wall-clock time of a write; everything else must match."""
    import re

    return re.sub(r'"20\d\d-\d\d-\d\dT[^"]*"', '"<time>"', json.dumps(x, sort_keys=True, default=repr))


def test_on_execution_end_calls_back_when_an_execution_succeeds_fails_or_is_stopped(aws_mock):
    import threading

    ended: list[str] = []
    seen = threading.Event()

    def callback(arn):
        ended.append(arn)
        seen.set()

    undo = moto_patches.on_execution_end(callback)
    try:
        sfn = boto3.client("stepfunctions")
        role = "arn:aws:iam::123456789012:role/r"

        def machine(name, state):
            return sfn.create_state_machine(name=name, roleArn=role, definition=json.dumps(
                {"StartAt": "S", "States": {"S": state}}))["stateMachineArn"]

        for arn in (machine("ok", {"Type": "Pass", "End": True}),
                    machine("bad", {"Type": "Fail", "Error": "E", "Cause": "c"})):
            seen.clear()
            execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
            assert seen.wait(10)
            assert ended[-1] == execution
            assert sfn.describe_execution(executionArn=execution)["status"] in ("SUCCEEDED", "FAILED")
        waiting = machine("wait", {"Type": "Wait", "Seconds": 60, "End": True})
        execution = sfn.start_execution(stateMachineArn=waiting)["executionArn"]
        sfn.stop_execution(executionArn=execution)
        assert execution in ended
    finally:
        undo()
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    assert "on_execution_end" not in BaseExecutionWorkerCommunication.terminated.__qualname__
    assert "on_execution_end" not in Execution.stop.__qualname__


def test_step_functions_import_leaves_the_batch_and_ec2_backends_unloaded_until_used():
    """If this fails after an upgrade, moto's Step Functions interpreter imports more of Batch
    than `moto.batch.utils`: re-check `_defer_batch_package` (it saves ~1 s per local run)."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from dagtrail.local import moto_patches\n"
        "moto_patches.check_version()\n"
        "import moto.stepfunctions.parser.backend.execution\n"
        "assert 'moto.ec2' not in sys.modules and 'moto.batch.models' not in sys.modules, 'loaded early'\n"
        "import boto3\n"
        "from moto import mock_aws\n"
        "from moto.batch import batch_backends\n"
        "with mock_aws():\n"
        "    batch = boto3.client('batch', region_name='us-east-1')\n"
        "    assert batch.describe_job_queues()['jobQueues'] == []\n"
        "import moto.batch\n"
        "assert moto.batch.batch_backends is batch_backends and moto.batch.utils.JobStatus\n"
    )
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
           "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_what_fast_update_items_replaces_is_still_there():
    """fast_update_items copies moto's update_item up to the first write and models every
    check its validators make: a new step or validator in moto must be looked at first."""
    import ast

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict
    from moto.dynamodb.parsing import executors, validators

    assert list(inspect.signature(DynamoDBBackend.update_item).parameters) == [
        "self", "table_name", "key", "update_expression", "expression_attribute_names",
        "expression_attribute_values", "attribute_updates", "expected", "condition_expression",
        "return_values_on_condition_check_failure"]
    source = inspect.getsource(DynamoDBBackend.update_item)
    steps = ["UpdateExpressionParser.make(update_expression)",
             "hash_value = DynamoType(key[table.hash_key_attr])",
             "item = table.get_item(hash_value, range_value)", "orig_item = copy.deepcopy(item)",
             "if not get_expected(expected).expr(item):", "condition_op = condition_expression_parser.parse()",
             "if not condition_op.expr(item):", "if item is None:", "item = Item(hash_value, range_value, attrs={})",
             "table.put_item(data)", "validated_ast = validator.validate()", "validated_ast.normalize()",
             "UpdateExpressionExecutor(", "except ItemSizeTooLarge:", "table.stream_shard.add(orig_item, item)"]
    at = [source.find(step) for step in steps]
    assert -1 not in at and at == sorted(at), [s for s, i in zip(steps, at) if i == -1] or "moved"
    called = [node.func.id for node in ast.walk(ast.parse(inspect.getsource(
        validators.UpdateExpressionValidator.get_ast_processors).strip().replace("def ", "def _", 1)))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    assert called == ["ActionCountValidator", "OverlappingPathsValidator", "UpdateHashRangeKeyValidator",
                      "ExpressionAttributeValueProcessor", "ExpressionAttributeResolvingProcessor",
                      "UpdateExpressionFunctionEvaluator", "NoneExistingPathChecker", "ExecuteOperations",
                      "TypeMismatchValidator", "EmptyStringKeyValueValidator"]
    assert "key = node.children[0].children[0].children[0]" in inspect.getsource(validators.TypeMismatchValidator)
    assert "> 405000" in inspect.getsource(LimitedSizeDict.__setitem__)
    assert set(executors.UpdateExpressionExecutor.execution_map) == {
        validators.UpdateExpressionSetAction, validators.UpdateExpressionAddAction,
        validators.UpdateExpressionRemoveAction, validators.UpdateExpressionDeleteAction}


# Attributes of the generated updates: the table's keys, its index keys (declared S), a
# reserved word and plain ones.
_ATTRS = ["a", "b", "n", "open_job", "updated_at", "status", "pk", "sk"]
_BIG = "x" * 150_000  # three of them pass moto's item size limit


def _values():
    from hypothesis import strategies as st

    scalar = st.one_of(
        st.sampled_from(["", "o", "p", "2026-01-01"]).map(lambda s: {"S": s}),
        st.integers(-3, 3).map(lambda i: {"N": str(i)}), st.just({"N": "1.5"}),
        st.booleans().map(lambda b: {"BOOL": b}), st.just({"NULL": True}),
        st.sampled_from([b"", b"\x00"]).map(lambda b: {"B": b}),
        st.just({"SS": ["x", "y"]}), st.just({"NS": ["1", "2"]}))
    nested = st.one_of(scalar, st.lists(scalar, max_size=2).map(lambda v: {"L": v}),
                       st.dictionaries(st.sampled_from(["k", "m"]), scalar, max_size=2).map(lambda v: {"M": v}))
    return st.integers(0, 29).flatmap(lambda i: st.just({"S": _BIG}) if i == 0 else nested)


@pytest.fixture(scope="module")
def _strategies():
    from hypothesis import strategies as st

    values = _values()

    @st.composite
    def update(draw):
        """One UpdateItem (or a transaction of one): SET / if_not_exists / REMOVE / ADD of
        existing and missing attributes. Half of them `wild`: also key, index and reserved
        attributes, undefined names, two actions on one attribute, and what the plan leaves
        to moto (nested paths, list_append, DELETE)."""
        wild = draw(st.booleans())
        names: dict[str, str] = {}
        vals: dict[str, dict] = {}
        tame = iter(draw(st.permutations(["a", "b", "n", "c", "open_job", "updated_at"])))

        def path(target=False):
            attr = draw(st.sampled_from(_ATTRS if wild else ["a", "b", "n", "c"])) if wild or not target else next(tame)
            style = draw(st.sampled_from(["plain", "name", "name", "alias", "unmapped", "nested"] if wild else
                                         ["plain", "name"]))
            if attr in ("status", "open_job", "updated_at") and not wild:
                style = "name"  # a reserved word; index keys (whose type moto checks only by plain name)
            if style == "plain":
                return attr
            if style == "nested":
                return draw(st.sampled_from([f"{attr}.k", f"{attr}[0]", f"#{attr}.m"]))
            placeholder = {"name": f"#{attr}", "alias": f"#al_{attr}", "unmapped": "#nope"}[style]
            if style != "unmapped":
                names[placeholder] = attr
            return placeholder

        def value(number=False):
            name = f":v{draw(st.integers(0, 3))}" if wild else f":{'n' if number else 'v'}{len(vals)}"
            vals.setdefault(name, draw(values) if wild or not number else {"N": str(draw(st.integers(-2, 2)))})
            return name

        def counter():
            kind = draw(st.sampled_from(["plain", "name", "ine", "ine", "value", "value"]))
            if kind == "name":
                names["#n"] = "n"
            return {"plain": lambda: "n", "name": lambda: "#n", "value": lambda: value(True),
                    "ine": lambda: f"if_not_exists(n, {value(True)})"}[kind]()

        def operand(depth=0):
            kinds = ["value"] * 4 + ["path", "ine", "ine"] + (["plus", "minus", "append"] if depth == 0 else [])
            kind = draw(st.sampled_from(kinds if wild else ["value", "value", "value", "ine", "ine", "path", "plus"]))
            if kind == "value":
                return value()
            if kind == "path":
                return path()
            if kind == "ine":
                return f"if_not_exists({path()}, {draw(st.sampled_from([value, value, path] if wild else [value]))()})"
            if kind == "append":
                return f"list_append({path()}, {value()})"
            if not wild:
                return f"{counter()} {draw(st.sampled_from(['+', '-']))} {counter()}"
            return f"{operand(1)} {'+' if kind == 'plus' else '-'} {operand(1)}"

        clauses: dict[str, list[str]] = {}
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(["SET"] * 5 + ["REMOVE"] * 2 + ["ADD"] * 2 + (["DELETE"] if wild else [])))
            target = path(target=True)
            action = {"SET": lambda: f"{target} = {operand()}", "REMOVE": lambda: target,
                      "ADD": lambda: f"{target} {value(number=not wild or draw(st.booleans()))}",
                      "DELETE": lambda: f"{target} {value()}"}[kind]()
            clauses.setdefault(kind, []).append(action)
        order = draw(st.permutations(sorted(clauses)))
        text = " ".join(f"{kind} {', '.join(clauses[kind])}" for kind in order)
        if wild and draw(st.integers(0, 9)) == 0:
            text += " SET b = :v0"  # a second SET clause
            vals.setdefault(":v0", {"S": "p"})
        condition = draw(st.sampled_from([None] * (2 if wild else 6) + ["attribute_exists(#c)", "attribute_not_exists(#c)",
                                          "attribute_not_exists(pk) OR n < :c", "n < :c"]))
        if condition and "#c" in condition:
            names["#c"] = draw(st.sampled_from(["a", "n", "open_job"]))
        if condition and ":c" in condition:
            vals[":c"] = {"N": "2"}
        if wild and vals and draw(st.integers(0, 4)) == 0:
            del vals[draw(st.sampled_from(sorted(vals)))]  # undefined (or, for :c, unused) value
        call = _u(text, vals, names, key=draw(st.sampled_from(["k1", "k2", "k3"])),
                  **({"ConditionExpression": condition} if condition else {}))["update"]
        if draw(st.integers(0, 5)) == 0:
            del call["ReturnValues"]  # not a transaction's
            return {"transact": call}
        call["ReturnValues"] = draw(st.sampled_from(["NONE", "ALL_NEW", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD"]))
        return {"update": call}

    item = st.fixed_dictionaries(
        {"pk": st.sampled_from(["k1", "k2"]).map(lambda k: {"S": k}), "sk": st.just({"S": "s"})},
        optional={"a": values, "b": values, "n": st.integers(-2, 2).map(lambda i: {"N": str(i)}),
                  "open_job": st.just({"S": "o"}), "updated_at": st.just({"S": "2026-01-01"})})
    return st.lists(item, max_size=3), st.lists(update(), min_size=1, max_size=5)


def _replay(ddb, table: str, puts: list, updates: list) -> list:
    """What each write answered (or the error it raised), then the table and its index."""
    from botocore.exceptions import ClientError

    out = []
    for item in puts:
        ddb.put_item(TableName=table, Item=item)
    for update in updates:
        try:
            if "transact" in update:
                resp = ddb.transact_write_items(TransactItems=[{"Update": {"TableName": table, **update["transact"]}}])
            else:
                resp = ddb.update_item(TableName=table, **update["update"])
            resp.pop("ResponseMetadata", None)
            out.append(resp)
        except ClientError as exc:
            out.append((exc.response["Error"], exc.response.get("CancellationReasons")))
        except Exception as exc:  # moto's own bugs (a KeyError for an undefined :value) alike
            out.append((type(exc).__name__, str(exc)))
    out.append(sorted(ddb.scan(TableName=table)["Items"], key=lambda i: i["pk"]["S"]))
    out.append(ddb.query(TableName=table, IndexName="open-jobs", KeyConditionExpression="open_job = :o",
                         ExpressionAttributeValues={":o": {"S": "o"}})["Items"])
    return out


class _Differential:
    """Runs a story on moto as it is and on moto with the local patches (fast_update_items on
    top of the expression caches), in two regions of one mock; counts the backend calls of
    the patched side and how many of them fell back to moto's own code."""

    def __init__(self) -> None:
        from moto.dynamodb.models import DynamoDBBackend

        self.backend = DynamoDBBackend
        self.plain = DynamoDBBackend.update_item
        self.counts = {"calls": 0, "moto": 0}
        self.tables = iter(range(10**6))

    def _counting(self, method, key):
        def update_item(*args, **kwargs):
            self.counts[key] += 1
            return method(*args, **kwargs)
        return update_item

    def answers(self, puts: list, updates: list) -> list[str]:
        from dagtrail.runs.table import table_definition

        table = f"t{next(self.tables)}"
        out = []
        for region, patched in (("us-east-1", False), ("us-west-2", True)):
            ddb = boto3.client("dynamodb", region_name=region)
            ddb.create_table(**table_definition(table))
            undo = []
            try:
                if patched:
                    self.backend.update_item = self._counting(self.plain, "moto")  # what falls back
                    undo = [moto_patches.cached_update_expressions(), moto_patches.fast_update_expressions(),
                            moto_patches.fast_update_items()]
                    self.backend.update_item = self._counting(self.backend.update_item, "calls")
                # Attribute order too: moto answers in the order the item's attributes were set.
                out.append(json.dumps(_replay(ddb, table, puts, updates), default=repr))
            finally:
                for fn in reversed(undo):
                    fn()
                self.backend.update_item = self.plain
        return out


def test_fast_update_items_answers_and_stores_what_moto_does(aws_mock, _strategies):
    """Differential over generated stories: every answer, error, stored item and index entry
    the same, with and without the patch."""
    from hypothesis import HealthCheck, given, settings

    puts_strategy, updates_strategy = _strategies
    differential = _Differential()

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
    @given(puts=puts_strategy, updates=updates_strategy)
    def story(puts, updates):
        plain, fast = differential.answers(puts, updates)
        assert plain == fast

    story()
    counts = differential.counts
    # Both sides of the patch were exercised: many calls planned, many left to moto.
    assert counts["calls"] - counts["moto"] > 100 and counts["moto"] > 100, counts


def _u(expression: str, values: dict | None = None, names: dict | None = None, key: str = "k1", **extra) -> dict:
    call = {"Key": {"pk": {"S": key}, "sk": {"S": "s"}}, "UpdateExpression": expression, "ReturnValues": "ALL_NEW"}
    call.update({"ExpressionAttributeValues": values} if values else {})
    call.update({"ExpressionAttributeNames": names} if names else {})
    return {"update": call | extra}


_M = {"M": {"k": {"S": "x"}}}
_HAZARDS = [
    # One value for two attributes, and one attribute SET from another: moto stores separate
    # objects for the first, the same object for the second, which a later nested SET shows.
    [_u("SET a = :m, b = :m", {":m": _M}), _u("SET c = a", key="k1"),
     _u("SET a.k = :y", {":y": {"S": "y"}}), _u("SET b.k = :z, d = if_not_exists(c, :y)", {":z": {"S": "z"},
                                                                                         ":y": {"S": "y"}})],
    # Declared index attributes written by plain name (checked) and by #name (not checked).
    [_u("SET open_job = :n", {":n": {"N": "1"}}), _u("SET #o = :n", {":n": {"N": "1"}}, {"#o": "open_job"}),
     _u("SET updated_at = :e", {":e": {"S": ""}}), _u("SET #u = :e", {":e": {"S": ""}}, {"#u": "updated_at"}),
     _u("SET updated_at = :t, open_job = :o", {":t": {"S": "2026"}, ":o": {"S": "o"}}, key="k2")],
    # The item size limit, on a new item and on an existing one; nothing half-written.
    [_u("SET a = :big", {":big": {"S": _BIG}}), _u("SET b = :big, c = :big", {":big": {"S": _BIG}}),
     _u("SET b = :big, c = :big, d = :big", {":big": {"S": _BIG}}, key="k2"),
     _u("REMOVE a SET b = :big, c = :big", {":big": {"S": _BIG}})],
    # Refused: the same attribute twice, a key, a reserved word, ADD of a string, a sum with
    # a missing attribute, an undefined name; then planned again.
    [_u("SET #a = :v, #b = :v", {":v": {"S": "v"}}, {"#a": "a", "#b": "a"}), _u("REMOVE sk"),
     _u("SET status = :v", {":v": {"S": "v"}}), _u("ADD n :v", {":v": {"S": "v"}}),
     _u("SET n = nope + :one", {":one": {"N": "1"}}), _u("SET #a = :v, b = #c", {":v": {"S": "v"}}, {"#a": "a"}),
     _u("SET n = if_not_exists(n, :zero) + :one, #t = if_not_exists(n, :zero) + :one REMOVE a, c",
        {":zero": {"N": "0"}, ":one": {"N": "1"}}, {"#t": "tok"}), _u("ADD n :half", {":half": {"N": "0.5"}})],
    # Conditions that pass and fail, on new and existing items, with each ReturnValues.
    [_u("SET a = :v", {":v": {"S": "v"}, ":c": {"N": "2"}}, ConditionExpression="attribute_not_exists(n) OR n < :c",
        ReturnValues=rv, ReturnValuesOnConditionCheckFailure="ALL_OLD") for rv in ("NONE", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD", "ALL_NEW")] +
    [_u("ADD n :two", {":two": {"N": "2"}}), _u("SET a = :w", {":w": {"S": "w"}, ":c": {"N": "2"}},
                                                ConditionExpression="n < :c", ReturnValuesOnConditionCheckFailure="ALL_OLD")],
]


def test_fast_update_items_answer_what_moto_does_on_each_hazard(aws_mock):
    """The cases a random story rarely reaches, each written out."""
    differential = _Differential()
    said = ""
    for story in _HAZARDS:
        plain, fast = differential.answers([], story)
        assert plain == fast, story
        said += plain
    for refusal in ("Item size to update has exceeded", "Type mismatch for key open_job",
                    "empty string value", "Two document paths", "Cannot update attribute sk",
                    "reserved keyword", "ConditionalCheckFailed", "An expression attribute name used"):
        assert refusal in said, refusal
    assert differential.counts["calls"] > differential.counts["moto"] > 10


def _wait_done(sfn, execution: str) -> dict:
    import time

    for _ in range(500):
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.02)
    raise AssertionError(f"{execution} still running")


def test_what_cached_parses_and_shared_sfn_clients_replace_is_still_there():
    from pathlib import Path

    from moto.stepfunctions.parser import models
    from moto.stepfunctions.parser.backend import execution_worker

    assert "AmazonStateLanguageParser.parse(definition)" in inspect.getsource(
        models.StepFunctionsParserBackend._validate_definition)
    assert "_validate_definition(definition=definition)" in inspect.getsource(
        models.StepFunctionsParserBackend.create_state_machine)
    # the execution takes the program alone: a kept parse has no tree
    assert inspect.getsource(execution_worker.ExecutionWorker._get_evaluation_entrypoint).rstrip().endswith(")[0]")
    root = Path(models.__file__).parent
    callers = {str(p.relative_to(root)) for p in root.rglob("*.py")
               if re.search(r"(?<!\w)AmazonStateLanguageParser\.parse\(", p.read_text())}
    assert callers == {"models.py", "backend/execution_worker.py", "asl/static_analyser/static_analyser.py"}
    # the static analysers (the tree's only readers) run from LocalStack's provider, which moto never imports
    assert "from moto.stepfunctions.parser.provider" not in "".join(
        p.read_text() for p in root.parent.rglob("*.py") if p.name != "provider.py")
    # every module that takes boto_client_for by name is loaded with the parser, so the patch sees it
    import moto.stepfunctions.parser as parser_package

    root = Path(parser_package.__file__).parent
    importers = {".".join(("moto", "stepfunctions", "parser", *p.relative_to(root).with_suffix("").parts))
                 for p in root.rglob("*.py") if "import boto_client_for" in p.read_text()}
    assert len(importers) == 13, "moto changed who calls boto_client_for: re-check shared_sfn_clients"
    import sys

    from moto.stepfunctions.parser.asl.parse import asl_parser  # noqa: F401

    assert importers <= set(sys.modules)


def _lambda_machine(sfn, role: str, arn: str, tasks: int, queue_url: str) -> str:
    """`tasks` Lambda tasks, then an SQS task (a client the interpreter makes)."""
    states = {f"T{i}": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": arn, "Payload": {"i": i}}, "ResultSelector": {"p.$": "$.Payload"},
                        "Next": f"T{i + 1}" if i + 1 < tasks else "Q"} for i in range(tasks)}
    states["Q"] = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "ResultPath": None,
                   "Parameters": {"QueueUrl": queue_url, "MessageBody.$": "States.JsonToString($)"}, "End": True}
    return sfn.create_state_machine(name="chain", roleArn=role, definition=json.dumps(
        {"StartAt": "T0", "States": states}))["stateMachineArn"]


def test_cached_parses_and_shared_clients_run_executions_as_before_with_fewer_parses_and_clients(
        aws_mock, monkeypatch, tmp_path):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    from dagtrail import aws

    parses, clients = _parse_counter(monkeypatch), []
    counting = AmazonStateLanguageParser.parse
    original_client = aws.new_client
    monkeypatch.setattr(aws, "new_client", lambda *a, **k: clients.append(a[:2]) or original_client(*a, **k))
    kept = tmp_path / "cache" / "asl"
    undo = [moto_patches.install_lambda_dispatch(lambda name, event: {"seen": event["i"]}),
            moto_patches.cached_parses(kept), moto_patches.shared_sfn_clients()]
    try:
        role, arn = _lambda_function()
        sfn = boto3.client("stepfunctions")
        queue_url = boto3.client("sqs").create_queue(QueueName="q")["QueueUrl"]
        machine = _lambda_machine(sfn, role, arn, 3, queue_url)
        outputs = []
        for n in range(2):  # each execution runs its own copy of the one parse
            execution = sfn.start_execution(stateMachineArn=machine, name=f"e{n}")["executionArn"]
            described = _wait_done(sfn, execution)
            assert described["status"] == "SUCCEEDED"
            outputs.append(json.loads(described["output"]))
        assert outputs == [{"p": {"seen": 2}}] * 2
        assert len(parses) == 1
        assert clients == [("sqs", "us-east-1")]  # one client, for both executions' SQS states
        with pytest.raises(Exception, match="ASLParserException"):  # still validated, and nothing kept
            sfn.create_state_machine(name="bad", roleArn=role, definition='{"StartAt": "X", "States": {}}')
        assert len(list(kept.iterdir())) == 1 and kept.stat().st_mode & 0o777 == 0o700
    finally:
        for fn in reversed(undo):
            fn()
    assert AmazonStateLanguageParser.parse is counting
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import boto_client

    assert lambda_eval_utils.boto_client_for is boto_client.boto_client_for


def _parse_counter(monkeypatch) -> list[str]:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    parses: list[str] = []
    original_parse = AmazonStateLanguageParser.parse
    monkeypatch.setattr(AmazonStateLanguageParser, "parse",
                        staticmethod(lambda d: parses.append(d) or original_parse(d)))
    return parses


def _parse_in_new_process(directory, definition: str):
    """What a later run does: a fresh install over the same directory."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    undo = moto_patches.cached_parses(directory, keep_files=2)
    try:
        return AmazonStateLanguageParser.parse(definition)
    finally:
        undo()


def test_cached_parses_serve_later_runs_from_the_users_own_files_only(monkeypatch, tmp_path):
    import os

    from moto.stepfunctions.parser.asl.component.program.program import Program

    parses = _parse_counter(monkeypatch)
    kept = tmp_path / "asl"
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"x": 1}, "End": True}}})
    program, tree = _parse_in_new_process(kept, definition)
    assert isinstance(program, Program) and tree is not None and len(parses) == 1
    program, tree = _parse_in_new_process(kept, definition)
    assert isinstance(program, Program) and tree is None and len(parses) == 1  # read from the file
    (path,) = kept.iterdir()
    path.chmod(0o666)  # anyone could have replaced it: not read, parsed and written again
    _parse_in_new_process(kept, definition)
    assert len(parses) == 2 and path.stat().st_mode & 0o777 == 0o600
    path.write_bytes(b"not a pickle")  # a torn or foreign file: parsed again
    _parse_in_new_process(kept, definition)
    assert len(parses) == 3
    os.utime(path, (1, 1))  # long unused: with keep_files=2, two newer parses push it out
    for n in range(2):
        _parse_in_new_process(kept, definition.replace('"x"', f'"x{n}"'))
    assert len(list(kept.iterdir())) == 2 and not path.exists()


def test_a_failed_write_of_a_parse_leaves_no_file_behind(monkeypatch, tmp_path):
    import os

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    program, tree = _parse_in_new_process(tmp_path / "asl", definition)
    assert program is not None and tree is not None
    assert list((tmp_path / "asl").iterdir()) == []


def test_cached_parses_without_a_writable_directory_still_parse_once(monkeypatch, tmp_path):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    parses = _parse_counter(monkeypatch)
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the directory would be
    undo = moto_patches.cached_parses(blocked / "asl")
    try:
        definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
        first, _ = AmazonStateLanguageParser.parse(definition)
        second, _ = AmazonStateLanguageParser.parse(definition)
        third, _ = AmazonStateLanguageParser.parse(definition)
        assert len(parses) == 1 and len({id(first), id(second), id(third)}) == 3  # an execution mutates its own
    finally:
        undo()


def test_fast_message_clock_keeps_sqs_timestamps_and_visibility(aws_mock):
    import time

    from moto.core.utils import unix_time_millis
    from moto.sqs import models

    assert models.unix_time_millis is unix_time_millis, "moto.sqs.models no longer reads this clock"
    undo = moto_patches.fast_message_clock()
    try:
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        before = time.time() * 1000
        sqs.send_message(QueueUrl=url, MessageBody="m")
        got = sqs.receive_message(QueueUrl=url, AttributeNames=["All"], VisibilityTimeout=30)["Messages"]
        after = time.time() * 1000
        assert before - 1 <= int(got[0]["Attributes"]["SentTimestamp"]) <= after + 1
        assert "Messages" not in sqs.receive_message(QueueUrl=url)  # still invisible for 30 s
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0)
        assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "m"
        import datetime

        moment = datetime.datetime(2026, 1, 1)
        assert models.unix_time_millis(moment) == unix_time_millis(moment)
    finally:
        undo()
    assert models.unix_time_millis is unix_time_millis


def test_cached_method_names_list_the_same_methods_and_still_dispatch(aws_mock):
    from moto.core import responses
    from moto.core.utils import method_names_from_class

    assert "method_names_from_class(self.__class__)" in inspect.getsource(responses.BaseResponse.call_action)
    assert responses.method_names_from_class is method_names_from_class
    undo = moto_patches.cached_method_names()
    try:
        from moto.sqs.responses import SQSResponse

        assert responses.method_names_from_class(SQSResponse) == set(method_names_from_class(SQSResponse))
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        for _ in range(2):
            sqs.send_message(QueueUrl=url, MessageBody="m")
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"]["ApproximateNumberOfMessages"] == "2"
    finally:
        undo()
    assert responses.method_names_from_class is method_names_from_class


def test_shared_model_loader_makes_one_loader_and_keeps_motos_extras():
    from moto.core import utils
    from moto.core.loaders import create_loader

    assert "create_loader()" in inspect.getsource(utils._load_service_model)
    assert utils.create_loader is create_loader
    from botocore.loaders import create_loader as botocore_loader

    plain = create_loader().load_service_model("sqs", "service-2")
    assert plain != botocore_loader().load_service_model("sqs", "service-2")  # sqs has moto extras
    undo = moto_patches.shared_model_loader()
    try:
        assert utils.create_loader() is utils.create_loader()
        shared = utils._load_service_model("sqs", "service-2")
        assert shared == plain  # moto's extras still applied
        assert utils._load_service_model("dynamodb", "service-2")["metadata"]["serviceId"] == "DynamoDB"
    finally:
        undo()
    assert utils.create_loader is create_loader


def test_shared_botocore_session_lists_the_same_regions_from_dagtrails_session():
    from moto.core.base_backend import AccountSpecificBackend

    from dagtrail import aws

    assert "get_session()" in inspect.getsource(AccountSpecificBackend._generate_regions)
    own = AccountSpecificBackend.get_session()
    undo = moto_patches.shared_botocore_session()
    try:
        assert AccountSpecificBackend.get_session() is aws.session()
        for service in ("dynamodb", "sqs", "stepfunctions", "s3", "logs"):
            for partition in own.get_available_partitions():
                assert (aws.session().get_available_regions(service, partition_name=partition)
                        == own.get_available_regions(service, partition_name=partition))
    finally:
        undo()
    assert AccountSpecificBackend.get_session() is own


def test_regions_per_service_lists_what_moto_lists_and_lets_ended_accounts_go(aws_mock):
    import gc
    import weakref

    from moto.core.base_backend import AccountSpecificBackend
    from moto.dynamodb import dynamodb_backends

    assert "@lru_cache\n    def _generate_regions(self, service_name" in inspect.getsource(AccountSpecificBackend)
    assert "self._generate_regions(service_name)" in inspect.getsource(AccountSpecificBackend.__init__)
    plain = {s: AccountSpecificBackend._generate_regions(dynamodb_backends["123456789012"], s)
             for s in ("dynamodb", "sqs", "s3", "stepfunctions")}
    undo = moto_patches.regions_per_service()
    try:
        patched = {s: AccountSpecificBackend._generate_regions(None, s) for s in plain}
        assert patched == plain and all(isinstance(v, list) for v in patched.values())
        backend = type(dynamodb_backends["123456789012"]["us-east-1"])
        account = AccountSpecificBackend("dynamodb", "111111111111", backend, use_boto3_regions=True,
                                         additional_regions=None)
        assert account.regions == plain["dynamodb"]
        gone = weakref.ref(account)
        del account
        gc.collect()
        assert gone() is None  # moto's cache kept it (and whatever it held) alive
    finally:
        undo()
    assert hasattr(AccountSpecificBackend._generate_regions, "cache_info")


def test_speedups_install_every_speed_patch_and_undo_puts_each_original_back():
    from moto.core import responses, utils
    from moto.sqs import models as sqs_models
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    owners = [(utils, "create_loader"), (responses, "method_names_from_class"),
              (sqs_models, "unix_time_millis"), (AmazonStateLanguageParser, "parse")]
    before = [vars(owner)[name] for owner, name in owners]
    undo = moto_patches.speedups()
    try:
        assert all(vars(owner)[name] is not was for (owner, name), was in zip(owners, before))
    finally:
        undo()
    assert [vars(owner)[name] for owner, name in owners] == before
    assert isinstance(vars(AmazonStateLanguageParser)["parse"], staticmethod)


def _every_kind_of_item():
    nested = {"S": "", "N": "-1.5e3", "BOOL": False, "NULL": True, "SS": ["a", "b"], "NS": ["1", "2"],
              "B": b"\x00\xff", "BS": [b"x", b"\x01"]}
    return {**_key("every"), **{k.lower(): {k: v} for k, v in nested.items()},
            "m": {"M": {"plain": {"M": {k: {k: v} for k, v in nested.items() if k not in ("B", "BS")}},
                        "binary": {"M": {"b": {"B": b"\x02"}}}, "empty": {"M": {}}}},
            "l": {"L": [{"L": [{"S": "deep"}, {"M": {"n": {"N": "0"}}}]}, {"L": []}, {"BS": [b"y"]}]}}


def test_plain_attribute_values_answer_every_kind_of_value_as_moto_does():
    from moto import mock_aws

    from dagtrail import aws

    answers = []
    for patched in (False, True):
        undo = moto_patches.plain_attribute_values() if patched else (lambda: None)
        try:
            with mock_aws():
                aws.reset_clients()
                ddb = _table()
                ddb.put_item(TableName="t", Item=_every_kind_of_item())
                ddb.put_item(TableName="t", Item={**_key("plain"), "s": {"S": "x"}, "m": {"M": {"n": {"N": "1"}}}})
                story = [ddb.get_item(TableName="t", Key=_key("every"))["Item"],
                         ddb.get_item(TableName="t", Key=_key("plain"))["Item"],
                         ddb.scan(TableName="t")["Items"],
                         ddb.update_item(TableName="t", Key=_key("every"), UpdateExpression="SET s = :s",
                                         ExpressionAttributeValues={":s": {"S": "y"}},
                                         ReturnValues="ALL_NEW")["Attributes"]]
        finally:
            undo()
            aws.reset_clients()
        answers.append(story)
    plain, fast = answers
    assert plain[0] == _every_kind_of_item()  # moto's own answer is the item as written
    assert plain == fast


def test_table_items_and_put_items_round_trip_every_kind_of_value_through_json(aws_mock):
    ddb = _table()
    region = ddb.meta.region_name
    ddb.put_item(TableName="t", Item=_every_kind_of_item())
    ddb.put_item(TableName="t", Item={**_key("plain"), "s": {"S": "x"}})
    items = json.loads(json.dumps(moto_patches.table_items("t", "123456789012", region)))
    assert {i["pk"]["S"] for i in items} == {"every", "plain"}
    assert next(i for i in items if i["pk"]["S"] == "plain") == {**_key("plain"), "s": {"S": "x"}}
    from dagtrail.runs.table import table_definition

    ddb.create_table(**table_definition("copy"))
    moto_patches.put_items("copy", items, "123456789012", region)
    scan = sorted(ddb.scan(TableName="copy")["Items"], key=lambda i: i["pk"]["S"])
    assert scan == sorted(ddb.scan(TableName="t")["Items"], key=lambda i: i["pk"]["S"])
    assert scan[0] == _every_kind_of_item()


def test_what_plain_attribute_values_replace_is_still_there():
    from botocore.session import get_session
    from moto.core import serialize

    assert "_serialize_type_structure" in vars(serialize.BaseJSONSerializer)
    assert serialize.SERIALIZERS["json"].__mro__[1] is serialize.BaseJSONSerializer
    shape = get_session().get_service_model("dynamodb").shape_for("AttributeValue")
    # A kind AWS adds goes through moto's serializer (no answer changes), but should be seen.
    assert set(shape.members) == {"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"}


def test_unsigned_requests_keep_the_credential_scope_and_moto_its_account(monkeypatch):
    from moto import mock_aws

    from dagtrail import aws

    from moto.core.responses import BaseResponse

    seen = []
    with mock_aws():
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")  # moto reads keys of this form
        undo = moto_patches.unsigned_requests()
        try:
            aws.reset_clients()
            ddb, s3 = aws.client("dynamodb", "eu-west-1"), aws.client("s3", "eu-west-1")
            for c in (ddb, s3):
                c.meta.events.register("before-send", lambda request, **_: seen.append(request.headers["Authorization"]))
            arn = _table_in(ddb)
            s3.create_bucket(Bucket="signed-as-before", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        finally:
            undo()
            aws.reset_clients()
    ddb_auth, s3_auth = (a.decode() if isinstance(a, bytes) else a for a in seen)
    assert arn.startswith("arn:aws:dynamodb:eu-west-1:123456789012:table/")
    assert ddb_auth.startswith("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/")
    assert "/eu-west-1/dynamodb/aws4_request" in ddb_auth and ddb_auth.endswith("Signature=" + "0" * 64)
    assert BaseResponse.access_key_regex.search(ddb_auth)["access_key"] == "AKIAIOSFODNN7EXAMPLE"
    assert "Signature=" + "0" * 64 not in s3_auth  # S3's signer is not touched


def _table_in(ddb):
    from dagtrail.runs.table import table_definition

    return ddb.create_table(**table_definition("t"))["TableDescription"]["TableArn"]


def test_what_unsigned_requests_replace_is_still_there():
    from botocore import auth
    from moto.core.responses import BaseResponse

    add_auth = inspect.getsource(auth.SigV4Auth.add_auth)
    assert "self._modify_request_before_signing(request)" in add_auth
    assert "self._inject_signature_to_request(request, signature)" in add_auth
    assert auth.AUTH_TYPE_MAPS["v4"] is auth.SigV4Auth
    assert "access_key_regex" in inspect.getsource(BaseResponse.get_access_key)


def test_fast_random_strings_draw_from_the_same_pool_as_moto():
    from moto.moto_api._internal import mock_random
    from moto.sqs import models as sqs_models
    from moto.sqs.utils import generate_receipt_handle

    kinds = [(n, digits, lower) for n in (0, 1, 52, 4000) for digits in (True, False) for lower in (True, False)]

    def draws():
        return [mock_random.get_random_string(length=n, include_digits=digits, lower_case=lower)
                for n, digits, lower in kinds]

    plain = draws()
    undo = moto_patches.fast_random_strings()
    try:
        mock_random.seed(7)
        fast = draws() + [sqs_models.generate_receipt_handle()]
        mock_random.seed(7)
        again = draws() + [sqs_models.generate_receipt_handle()]
    finally:
        undo()
    assert sqs_models.generate_receipt_handle is generate_receipt_handle
    assert fast == again  # a seeded moto is still deterministic
    fast_handle = fast.pop()
    for handle in (generate_receipt_handle(), fast_handle):
        assert len(handle) == 185 and set(handle) <= set(string.ascii_lowercase)
    assert len(set(fast_handle)) > 15
    for (n, digits, lower), a, b in zip(kinds, plain, fast, strict=True):
        assert len(a) == len(b) == n
        if n == 4000:  # long enough to show its pool
            pool = (string.ascii_lowercase if lower else string.ascii_letters) + (string.digits if digits else "")
            assert set(a) == set(b) == set(pool)


def test_what_fast_random_strings_replace_is_still_there():
    from moto.moto_api._internal.moto_random import MotoRandom

    from moto.sqs import models, utils

    assert "length = 185" in inspect.getsource(utils.generate_receipt_handle)
    assert "random.choice(string.ascii_lowercase)" in inspect.getsource(utils.generate_receipt_handle)
    assert "self.receipt_handle = generate_receipt_handle()" in inspect.getsource(models)
    source = inspect.getsource(MotoRandom.get_random_string)
    assert "pool = string.ascii_letters" in source and "pool += string.digits" in source
    assert "self.choice(pool) for i in range(length)" in source
    assert inspect.signature(MotoRandom.get_random_string).parameters.keys() == {
        "self", "length", "include_digits", "lower_case"}


def test_cached_camelcase_converts_as_moto_does_and_is_undone():
    from moto.core import responses, utils
    from moto.sqs import models

    names = ["ApproximateNumberOfMessages", "ContentBasedDeduplication", "KmsMasterKeyId", "SendMessageBatch",
             "RedrivePolicy", "already_snake", "ABCThing", "x"]
    plain = [utils.camelcase_to_underscores(n) for n in names]
    original = utils.camelcase_to_underscores
    undo = moto_patches.cached_camelcase()
    try:
        assert all(m.camelcase_to_underscores is not original for m in (utils, responses, models))
        assert [models.camelcase_to_underscores(n) for n in names * 2] == plain * 2
    finally:
        undo()
    assert all(m.camelcase_to_underscores is original for m in (utils, responses, models))


def test_what_cached_camelcase_speeds_up_still_converts_per_request():
    from moto.core.responses import BaseResponse
    from moto.sqs.models import Queue

    assert "camelcase_to_underscores(attribute)" in inspect.getsource(Queue.attributes.fget)
    assert "camelcase_to_underscores(" in inspect.getsource(BaseResponse.call_action)


def test_what_cached_json_paths_speeds_up_still_parses_per_use():
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    assert "parse(path)" in inspect.getsource(json_path.extract_json)
    assert "parse(self.result_path_src)" in inspect.getsource(result_path.ResultPath._eval_body)
    assert json_path.parse.__module__ == "jsonpath_ng.ext.parser"
    assert result_path.parse.__module__ == "jsonpath_ng.parser"


def test_cached_json_paths_read_and_write_as_moto_does_and_still_refuse_bad_paths():
    import copy

    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    data = {"params": {"items": [{"x": 1}, {"x": 2}, {"x": 3}], "name": "n"}, "list": [5, 6]}
    paths = ["$.params", "$.params.items[1]", "$.params.items[*].x", "$.params.items[0:2]", "$.list[0]",
             "$.params.items[?(@.x > 1)]", "$.params.missing[*]", "$"]

    def read():
        return [json_path.extract_json(p, copy.deepcopy(data)) for p in paths]

    def write():
        return [result_path.parse(p).update_or_create(copy.deepcopy(data), {"r": 1})
                for p in ("$.out", "$.params.name")]

    plain, written = read(), write()
    undo = moto_patches.cached_json_paths()
    try:
        assert [read(), read()] == [plain] * 2 and [write(), write()] == [written] * 2
        with pytest.raises(json_path.NoSuchJsonPathError):
            json_path.extract_json("$.nothing", data)
        for _ in range(2):
            with pytest.raises(Exception, match="Parse error"):
                json_path.extract_json("$.[", data)
    finally:
        undo()
    assert json_path.parse.__module__ == "jsonpath_ng.ext.parser"


@pytest.mark.parametrize("text", [
    "attribute_not_exists(item_rank) OR item_rank < :item_rank",
    "#s IN (:a, :b) AND size(#l) > :n",
    "NOT (a.b = :v) AND begins_with(#p, :x)",
    "x BETWEEN :lo AND :hi",
])
def test_cached_condition_lexing_parses_as_moto_does(text):
    from moto.dynamodb.comparisons import ConditionExpressionParser

    names = {"#s": "s", "#l": "l", "#p": "p"}
    values = {k: {"N": "1"} for k in (":item_rank", ":a", ":b", ":n", ":v", ":x", ":lo", ":hi")}

    def parse():
        return repr(ConditionExpressionParser(text, names, values).parse())

    plain = parse()
    undo = moto_patches.cached_condition_lexing()
    try:
        assert [parse(), parse(), parse()] == [plain] * 3  # the cached tokens survive a parse
    finally:
        undo()


def test_cached_condition_lexing_refuses_what_moto_refuses():
    from moto.dynamodb.comparisons import ConditionExpressionParser

    undo = moto_patches.cached_condition_lexing()
    try:
        for _ in range(2):
            with pytest.raises(ValueError, match="Cannot parse condition"):
                ConditionExpressionParser("a = :v ~ b", {}, {":v": {"S": "x"}}).parse()
    finally:
        undo()


def test_what_cached_condition_lexing_replaces_is_still_there():
    from moto.dynamodb.comparisons import ConditionExpressionParser

    assert "self._lex_condition_expression()" in inspect.getsource(ConditionExpressionParser.parse)
    assert "children=[]" in inspect.getsource(ConditionExpressionParser._lex_one_node)


def test_what_stop_releases_waiting_tasks_and_join_interpreter_threads_use_is_still_there():
    """Behaviour: tests/integration/test_local_lineage_drain.py (an abandoned run)."""
    from moto.stepfunctions.parser import utils
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, CallbackPoolManager
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    assert isinstance(utils.TMP_THREADS, list)
    assert "self._pool" in inspect.getsource(CallbackPoolManager.__init__)
    assert "self._notify_event.set()" in inspect.getsource(CallbackEndpoint.interrupt_all)
    assert "self.callback_pool_manager = " in inspect.getsource(Environment)
    assert "self.env.set_stop(" in inspect.getsource(ExecutionWorker.stop)
    assert moto_patches.join_interpreter_threads(0) == len(utils.TMP_THREADS)


def _requests_as_sent() -> list:
    """Real botocore requests of several protocols, as moto's stubber receives them."""
    sent = []

    def keep(request, **_):
        sent.append((request.method, request.url, dict(request.headers), request.body))

    clients = {name: boto3.client(name) for name in ("dynamodb", "sqs", "stepfunctions", "s3")}
    for c in clients.values():
        c.meta.events.register("before-send", keep)
    from dagtrail.runs.table import table_definition

    clients["dynamodb"].create_table(**table_definition("t"))
    clients["dynamodb"].put_item(TableName="t", Item=_key("é ✓"))
    clients["dynamodb"].get_item(TableName="t", Key=_key("é ✓"))
    queue = clients["sqs"].create_queue(QueueName="q")["QueueUrl"]
    clients["sqs"].send_message(QueueUrl=queue, MessageBody="x" * 300)
    clients["stepfunctions"].list_state_machines()
    clients["s3"].create_bucket(Bucket="bkt")
    clients["s3"].put_object(Bucket="bkt", Key="a b/ü%2F?x", Body=b"\x00data", Metadata={"my_key": "v", "other": "w"})
    clients["s3"].list_objects_v2(Bucket="bkt", Prefix="a b/")
    clients["s3"].get_object(Bucket="bkt", Key="a b/ü%2F?x")
    return sent


def test_light_requests_build_the_request_moto_builds(aws_mock):
    from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY, Request

    sent = _requests_as_sent()
    assert {m for m, *_ in sent} >= {"POST", "PUT", "GET"} and len(sent) >= 10

    def view(request):
        environ = {k: v for k, v in request.environ.items() if k not in ("wsgi.input", "werkzeug.request")}
        return (environ, request.get_data(), list(request.headers), request.args, request.form, request.path,
                request.raw_url, request.url_root, request.environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY])

    expected = [view(Request.from_primitives(*r)) for r in sent]
    undo = moto_patches.light_requests()
    try:
        assert [view(Request.from_primitives(*r)) for r in sent] == expected  # the kept environs
        assert [view(Request.from_primitives(*r)) for r in sent] == expected  # reused
    finally:
        undo()


def test_what_light_requests_replaces_is_still_there():
    from moto.core import request

    assert "Request.from_primitives(" in inspect.getsource(request.normalize_request)
    assert "cls.from_values(" in inspect.getsource(request.Request.from_primitives)


def test_light_requests_leave_moto_answering_as_before(aws_mock):
    undo = moto_patches.light_requests()
    try:
        ddb, s3 = _table(), boto3.client("s3")
        ddb.put_item(TableName="t", Item={**_key("1"), "v": {"N": "2"}})
        assert ddb.get_item(TableName="t", Key=_key("1"))["Item"]["v"] == {"N": "2"}
        s3.create_bucket(Bucket="bkt")
        s3.put_object(Bucket="bkt", Key="x/y z", Body=b"abc", Metadata={"my_key": "v"})
        got = s3.get_object(Bucket="bkt", Key="x/y z")
        assert got["Body"].read() == b"abc" and got["Metadata"] == {"my_key": "v"}
    finally:
        undo()



def _routing_story() -> list:
    """Answers of several services, as plain data (no ids or dates)."""
    ddb, sqs, sfn, s3 = _table(), *(boto3.client(n) for n in ("sqs", "stepfunctions", "s3"))
    ddb.put_item(TableName="t", Item=_key("1"))
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="m")
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key="a b/ü", Body=b"x", Metadata={"my_key": "v"})
    missing = None
    try:
        ddb.get_item(TableName="nope", Key=_key("1"))
    except ddb.exceptions.ResourceNotFoundException as exc:
        missing = exc.response["Error"]["Code"]
    return [ddb.get_item(TableName="t", Key=_key("1"))["Item"],
            sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"],
            sfn.list_state_machines()["stateMachines"],
            s3.get_object(Bucket="bkt", Key="a b/ü")["Metadata"],
            [o["Key"] for o in s3.list_objects_v2(Bucket="bkt")["Contents"]], missing]


def test_cached_routes_answer_as_moto_does_and_still_check_the_config():
    from moto import mock_aws
    from moto.core.exceptions import ServiceNotWhitelisted

    with mock_aws():
        expected = _routing_story()
    undo = moto_patches.cached_routes()
    try:
        for _ in range(2):  # routes found, then reused
            with mock_aws():
                assert _routing_story() == expected
        with mock_aws(config={"core": {"service_whitelist": ["dynamodb"]}}):
            boto3.client("dynamodb").list_tables()
            with pytest.raises(ServiceNotWhitelisted):
                boto3.client("sqs").list_queues()
    finally:
        undo()


def test_cached_routes_pass_the_raw_url_moto_computes(aws_mock, monkeypatch):
    from botocore.awsrequest import AWSPreparedRequest
    from moto import mock_aws
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.core.responses import BaseResponse

    sent = _requests_as_sent()
    original = BaseResponse.setup_class
    seen: list = []
    monkeypatch.setattr(BaseResponse, "setup_class", lambda self, request, full_url=None, *a, **k: (
        seen.append(full_url), original(self, request, full_url, *a, **k))[1])

    def replay() -> list:
        seen.clear()
        with mock_aws():
            for method, url, headers, body in sent:
                BotocoreStubber().process_request(AWSPreparedRequest(method, url, headers, body, False))
        return list(seen)

    expected = replay()
    assert len([u for u in expected if u]) >= 6  # S3 reads its request's own raw_url instead
    undo = moto_patches.cached_routes()
    try:
        assert replay() == expected
        assert replay() == expected  # from the kept raw URLs
    finally:
        undo()


def test_what_cached_routes_replaces_is_still_there():
    from moto.core.base_backend import BaseBackend
    from moto.core.botocore_stubber import BotocoreStubber

    source = inspect.getsource(BotocoreStubber.process_request)
    for part in ("backend_index.backend_url_patterns", "passthrough_service(service)", "service_whitelisted(service)",
                 "backend.urls.items()", "recorder._record_request(normalized_request)",
                 "normalized_request.raw_url"):
        assert part in source, part
    # the handlers are the url modules' own (class-level), not bound to a backend instance
    assert "self._url_module.url_paths" in inspect.getsource(BaseBackend.urls.fget)
