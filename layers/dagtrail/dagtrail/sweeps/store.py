"""Sweep files in the results bucket (or its local mirror), under the sweep attempt's prefix:

    <prefix>_items/<k>.json     items k*1000 .. k*1000+999 (JSON lists)
    <prefix>_chunks.json        the Distributed Map's chunk manifest
    <prefix><index>/...         one item's outputs and its manifest.json
    <prefix>sweep.json          every item's output prefix and files (written on success)
    <prefix>manifest.json       all items' artifacts as <index>/<name>, and sweep.json

where <prefix> is s3://<results>/<workflow>/<run>/<task>/<attempt>/.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any

from dagtrail import aws
from dagtrail.results.layout import split_uri
from dagtrail.results.store import local_path
from dagtrail.sweeps.sizing import ITEMS_PER_FILE

ITEMS_DIR = "_items/"
CHUNKS = "_chunks.json"
SWEEP_MANIFEST = "sweep.json"


def put_bytes(uri: str, body: bytes, content_type: str = "application/json", *, s3_too: bool = False) -> None:
    """Write to the results bucket (its local mirror in local mode; `s3_too` also writes the
    emulated bucket, for what Step Functions itself reads, like an ItemReader's chunks)."""
    path = local_path(uri)
    if path is not None and s3_too:
        bucket, key = split_uri(uri)
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(body)
        tmp.replace(path)
        return
    bucket, key = split_uri(uri)
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def put_json(uri: str, data: Any, *, s3_too: bool = False) -> bytes:
    body = (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode()
    put_bytes(uri, body, s3_too=s3_too)
    return body


def get_json(uri: str) -> Any:
    """The JSON at uri; FileNotFoundError when there is none."""
    path = local_path(uri)
    if path is not None:
        return json.loads(path.read_bytes())
    bucket, key = split_uri(uri)
    client = aws.client("s3")
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        raise FileNotFoundError(uri) from None
    return json.loads(body)


def items_file(prefix: str, k: int) -> str:
    return f"{prefix}{ITEMS_DIR}{k}.json"


def write_items(prefix: str, items: Iterable[Any], *, workers: int = 16) -> int:
    """Store the item list in files of ITEMS_PER_FILE; returns the number of items."""
    def batches() -> Iterator[tuple[int, list[Any]]]:
        it = iter(items)
        k = 0
        while batch := list(islice(it, ITEMS_PER_FILE)):
            yield k, batch
            k += 1

    count = 0
    with ThreadPoolExecutor(workers, thread_name_prefix="items") as pool:
        for n in pool.map(lambda kb: (put_json(items_file(prefix, kb[0]), kb[1]), len(kb[1]))[1], batches()):
            count += n
    return count


class ItemReader:
    """Items by index, one file fetched per ITEMS_PER_FILE items (cached)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._files: dict[int, list[Any]] = {}

    def __getitem__(self, index: int) -> Any:
        k, at = divmod(index, ITEMS_PER_FILE)
        if k not in self._files:
            self._files[k] = get_json(items_file(self.prefix, k))
        return self._files[k][at]
