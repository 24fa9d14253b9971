"""dagtrail.dynamo_values against boto3's TypeSerializer, which it replaces on the handlers' path."""

from __future__ import annotations

from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from dagtrail.dynamo_values import from_attribute, from_item, to_attribute

VALUES = [None, True, False, 0, -7, 2**70, "", "text", b"\x00\xff", bytearray(b"ab"), 1.5, -0.25, 1e-7,
          1e20, Decimal("3.14"), [], [1, "a", None, [2.5]], {}, {"a": {"b": [True, {"c": 1}]}},
          ("t", 1), {"x", "y"}, {1, 2.5}, {b"a", b"b"}]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_writes_what_boto3_writes(value):
    expected = TypeSerializer().serialize(_decimal(value))  # runs/table.py sent floats so
    mine = to_attribute(value)
    for kind in ("SS", "NS", "BS"):  # set order is not a value's
        if kind in expected:
            assert sorted(mine[kind]) == sorted(expected[kind])
            return
    if "B" in expected:
        assert mine == {"B": bytes(value)}
        return
    assert mine == expected


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_reads_back_plain_python(value):
    back = from_attribute(TypeSerializer().serialize(_decimal(value)))
    assert back == from_attribute(to_attribute(value)) == _plain(value)


def test_numbers_come_back_int_when_integral_else_float():
    item = {"a": {"N": "3"}, "b": {"N": "3.0"}, "c": {"N": "0.1"}, "d": {"N": "1E+2"},
            "e": {"L": [{"N": "-2"}]}, "f": {"M": {"g": {"N": "2.50"}}}}
    assert from_item(item) == {"a": 3, "b": 3, "c": 0.1, "d": 100, "e": [-2], "f": {"g": 2.5}}
    assert [type(v) for v in from_item(item).values()][:4] == [int, int, float, int]
    boto3_read = {k: TypeDeserializer().deserialize(v) for k, v in item.items()}
    assert boto3_read["c"] == Decimal("0.1")  # what runs/table.py turned into 0.1 itself


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("Infinity"), object(), set(), {1, "a"}],
                         ids=repr)
def test_refuses_what_dynamodb_cannot_hold(value):
    with pytest.raises(TypeError):
        to_attribute(value)


def test_unknown_attribute_type_is_refused():
    with pytest.raises(TypeError, match="'X'"):
        from_attribute({"X": "1"})


def _decimal(value):
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, (list, tuple)):
        return [_decimal(v) for v in value]
    if isinstance(value, dict):
        return {k: _decimal(v) for k, v in value.items()}
    if isinstance(value, set) and all(isinstance(v, (int, float)) for v in value):
        return {_decimal(v) for v in value}
    return value


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
