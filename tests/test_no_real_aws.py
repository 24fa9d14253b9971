import boto3
import pytest


def test_a_real_endpoint_call_fails_the_test():
    client = boto3.client("sts", region_name="us-east-1")
    with pytest.raises(AssertionError, match="real endpoint"):
        client.get_caller_identity()
