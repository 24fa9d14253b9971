"""Trigger tests create many short-lived moto accounts: share one botocore session so each
new client does not parse its service model again (about 0.5 s a client otherwise)."""

from __future__ import annotations

import functools

import pytest


@functools.cache
def _session():
    import boto3

    return boto3.session.Session()


@pytest.fixture(autouse=True)
def _shared_session(monkeypatch):
    from dagtrail import aws

    @functools.cache
    def client(service: str, region: str | None = None):
        return _session().client(service, region_name=region, config=aws._CONFIG)

    monkeypatch.setattr(aws, "client", client)
