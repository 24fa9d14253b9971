"""Read manifests from the results bucket, or from its local mirror in local mode."""

from __future__ import annotations

import os
from pathlib import Path

from botocore.exceptions import ClientError

from dagtrail import aws
from dagtrail.results.layout import MANIFEST, split_uri
from dagtrail.results.manifest import Manifest

LOCAL_DIR_ENV = "DAGTRAIL_RESULTS_DIR"


def local_path(uri: str) -> Path | None:
    """The file behind an s3:// URI when results are mirrored on disk (local mode)."""
    root = os.environ.get(LOCAL_DIR_ENV)
    if not root:
        return None
    _bucket, key = split_uri(uri)
    return Path(root, key)


def read_manifest(prefix: str) -> Manifest | None:
    """The manifest under an attempt's prefix, or None if the attempt wrote none."""
    uri = prefix + MANIFEST
    path = local_path(uri)
    if path is not None:
        return Manifest.model_validate_json(path.read_text()) if path.exists() else None
    bucket, key = split_uri(uri)
    try:
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    return Manifest.model_validate_json(body)
