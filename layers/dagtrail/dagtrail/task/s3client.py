"""The wrapper's S3 client: dagtrail.aws's settings, tuned for long transfers.

A separate client, not dagtrail.aws.client("s3"): that one is shared by the Lambda handlers
and tuned for short calls (30 s read timeout, urllib3's 10 pooled connections). The wrapper
keeps `concurrency` parts in flight plus a few small calls, and CompleteMultipartUpload of
a large object can take minutes where S3 has no keep-alive to send (moto in tests and
benches). Endpoint, region and credentials come from the same places as every other client.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from dagtrail import aws

READ_TIMEOUT = 600


def s3_client(concurrency: int) -> Any:
    config = aws._CONFIG.merge(Config(read_timeout=READ_TIMEOUT, max_pool_connections=concurrency + 4))
    return boto3.session.Session().client("s3", config=config)
