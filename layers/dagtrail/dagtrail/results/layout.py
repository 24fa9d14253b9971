"""s3://<results>/<workflow>/<run_id>/<task>/<attempt>/... — one prefix per attempt."""

from __future__ import annotations

from urllib.parse import urlsplit

MANIFEST = "manifest.json"


def output_prefix(bucket: str, workflow: str, run_id: str, task: str, attempt: int) -> str:
    return f"s3://{bucket}/{workflow}/{run_id}/{task}/{attempt}/"


def split_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key)."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parts.netloc, parts.path.lstrip("/")
