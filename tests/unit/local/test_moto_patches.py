"""These fail loudly when a moto upgrade moves what dagtrail patches (see moto_patches.py)."""

import inspect
import json

import boto3
import moto
import pytest

from dagtrail.local import moto_patches


def test_moto_is_the_version_the_patches_were_written_for():
    assert moto.__version__ == moto_patches.MOTO_VERSION, (
        "moto was upgraded: re-check dagtrail/local/moto_patches.py, then update MOTO_VERSION")


def test_the_patched_lambda_method_still_has_the_expected_signature():
    from moto.awslambda_simple.models import LambdaSimpleBackend

    params = list(inspect.signature(LambdaSimpleBackend.invoke).parameters)
    assert params == ["self", "function_name", "qualifier", "body", "headers", "response_headers"]


def test_the_retry_sleep_is_still_time_sleep_in_retrier_decl():
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    assert "time.sleep(" in inspect.getsource(retrier_decl)


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
        iam = boto3.client("iam")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam = boto3.client("lambda")
        lam.create_function(FunctionName="Fn", Runtime="python3.13", Role=role, Handler="app.handler",
                            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})
        ok = lam.invoke(FunctionName="Fn", Payload=json.dumps({"x": 1}))
        assert json.loads(ok["Payload"].read()) == {"echo": 1} and "FunctionError" not in ok
        bad = lam.invoke(FunctionName="Fn", Payload=json.dumps({"fail": True}))
        assert bad["FunctionError"] == "Unhandled"
        assert json.loads(bad["Payload"].read())["errorType"] == "Boom"
        assert [c[0] for c in calls] == ["Fn", "Fn"]
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
        role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        arn = boto3.client("lambda").create_function(
            FunctionName="Fn", Runtime="python3.13", Role=role, Handler="app.handler",
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})["FunctionArn"]
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

