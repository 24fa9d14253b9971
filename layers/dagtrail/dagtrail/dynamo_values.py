"""Python values to DynamoDB's attribute values and back, as the runs table stores them.

boto3's TypeSerializer would do this, but importing `boto3.dynamodb` imports boto3, its
resources and s3transfer (about 25 ms, a tenth of every handler's cold start): the handlers
use botocore alone (dagtrail.aws). Numbers come back as int when integral, else float;
floats go in through Decimal, as DynamoDB's numbers are decimal.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def to_attribute(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (int, float, Decimal)):
        return {"N": _number(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_attribute(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [to_attribute(v) for v in value]}
    if isinstance(value, (set, frozenset)) and value:
        if all(isinstance(v, str) for v in value):
            return {"SS": sorted(value)}
        if all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in value):
            return {"NS": sorted(_number(v) for v in value)}
        if all(isinstance(v, (bytes, bytearray)) for v in value):
            return {"BS": sorted(bytes(v) for v in value)}
    raise TypeError(f"cannot store {type(value).__name__} {value!r:.60} in DynamoDB")


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    (kind, value), = attribute.items()
    if kind in ("S", "BOOL", "B"):
        return value
    if kind == "N":
        return _plain_number(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attribute(v) for k, v in value.items()}
    if kind == "L":
        return [from_attribute(v) for v in value]
    if kind in ("SS", "BS"):
        return set(value)
    if kind == "NS":
        return {_plain_number(v) for v in value}
    raise TypeError(f"unknown DynamoDB attribute type {kind!r}")


def from_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {k: from_attribute(v) for k, v in item.items()}


def _number(value: int | float | Decimal) -> str:
    if isinstance(value, int):
        return str(value)
    number = Decimal(str(value)) if isinstance(value, float) else value
    if not number.is_finite():
        raise TypeError(f"DynamoDB cannot store {value}")
    return str(number)


def _plain_number(text: str) -> int | float:
    number = Decimal(text)
    return int(number) if number == number.to_integral_value() else float(number)
