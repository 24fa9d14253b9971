"""dagtrail.aws: one cached client per service and region, however the region is passed."""

from __future__ import annotations

from dagtrail import aws


def test_a_client_asked_for_with_and_without_the_default_region_is_the_same_one():
    aws.reset_clients()
    try:
        ddb = aws.client("dynamodb")
        assert aws.client("dynamodb", None) is ddb and aws.client("dynamodb", region=None) is ddb
        assert aws.client("dynamodb", "eu-west-1") is not ddb
        aws.reset_clients()
        assert aws.client("dynamodb") is not ddb
    finally:
        aws.reset_clients()
