"""Stage each dependency's outputs under $DAGTRAIL_INPUT_DIR/<dep>/, as its manifest lists them.

Only artifacts in a manifest are fetched (a prefix may hold aborted or superseded files),
each streamed to a temporary name, checked against the manifest's size and sha256, and
renamed into place, so a partial or corrupt input never appears under its real name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from dagtrail.task.config import MANIFEST, split_uri
from dagtrail.task.errors import StagingError

log = logging.getLogger("dagtrail.task")
CHUNK = 1 << 20


def stage_inputs(client: Any, inputs: dict[str, str], input_dir: str, *, workers: int = 4) -> int:
    """Download every dependency's artifacts; returns the number of files staged."""
    jobs = []
    for dep, prefix in sorted(inputs.items()):
        for artifact in read_manifest(client, dep, prefix):
            jobs.append((dep, prefix, artifact))
    with ThreadPoolExecutor(workers, thread_name_prefix="stage") as pool:
        for _ in pool.map(lambda job: _download(client, input_dir, *job), jobs):
            pass
    for dep in inputs:  # a dependency with no outputs still gets its (empty) directory
        os.makedirs(os.path.join(input_dir, dep), exist_ok=True)
    return len(jobs)


def read_manifest(client: Any, dep: str, prefix: str) -> list[dict[str, Any]]:
    bucket, key = split_uri(prefix + MANIFEST)
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise StagingError(f"input {dep!r}: no {MANIFEST} at {prefix} (the dependency did not succeed)") from None
        raise
    try:
        artifacts = json.loads(body)["artifacts"]
        return [_artifact(dep, a) for a in artifacts]
    except (ValueError, KeyError, TypeError) as exc:
        raise StagingError(f"input {dep!r}: malformed {prefix}{MANIFEST}: {exc}") from None


def _artifact(dep: str, raw: dict[str, Any]) -> dict[str, Any]:
    name, size, sha256 = raw["name"], raw["size"], raw["sha256"]
    if not isinstance(name, str) or not isinstance(size, int) or not isinstance(sha256, str):
        raise TypeError(f"bad artifact entry {raw!r}")
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in name:
        raise StagingError(f"input {dep!r}: artifact name {name!r} would leave its directory")
    return {"name": name, "size": size, "sha256": sha256}


def _download(client: Any, input_dir: str, dep: str, prefix: str, artifact: dict[str, Any]) -> None:
    bucket, key = split_uri(prefix + artifact["name"])
    target = os.path.join(input_dir, dep, *artifact["name"].split("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    partial = target + ".dagtrail-partial"
    digest = hashlib.sha256()
    size = 0
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        with open(partial, "wb") as out:
            for chunk in body.iter_chunks(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if size != artifact["size"] or digest.hexdigest() != artifact["sha256"]:
            raise StagingError(
                f"input {dep!r}: {artifact['name']} does not match its manifest "
                f"(size {size}, sha256 {digest.hexdigest()}; expected {artifact['size']}, {artifact['sha256']})"
            )
        os.replace(partial, target)
    except ClientError as exc:
        raise StagingError(f"input {dep!r}: cannot download {artifact['name']}: {exc}") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    log.info("staged %s/%s (%d bytes)", dep, artifact["name"], size)
