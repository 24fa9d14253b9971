"""The wrapper's environment contract, read in one place.

submit_task sets the DAGTRAIL_* identity and URI variables; the tuning variables are
optional. A plain dataclass, not a pydantic model: this path must run in images that have
only boto3 installed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from dagtrail.task.errors import TaskConfigError

MiB = 1 << 20
# Mirrors dagtrail.results.layout (a test keeps them equal): importing that package pulls in
# pydantic through dagtrail.results.__init__, which this path must not need.
MANIFEST = "manifest.json"
LOG_TAIL = "_logs/tail.txt"


@dataclass(frozen=True)
class TaskConfig:
    task: str
    attempt: int
    output_uri: str  # s3://bucket/<workflow>/<run>/<task>/<attempt>/[<index>/]
    inputs: dict[str, str] = field(default_factory=dict)  # dependency -> its output prefix
    output_dir: str | None = None
    input_dir: str | None = None
    part_size: int = 8 * MiB
    concurrency: int = 10  # parts in flight at once (across files), as s3transfer does
    poll_seconds: float = 1.0
    stop_grace_seconds: float = 25.0  # ECS/Batch send SIGKILL 30 s after SIGTERM by default
    log_tail_bytes: int = 64 * 1024
    # A sweep item's index (inline item job, or array child: offset + AWS_BATCH_JOB_ARRAY_INDEX),
    # and where the sweep's items are when the wrapper must read and render its own.
    item_index: int | None = None
    items_uri: str | None = None

    @property
    def bucket(self) -> str:
        return split_uri(self.output_uri)[0]

    def key(self, name: str) -> str:
        return split_uri(self.output_uri)[1] + name


def split_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key)."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parts.netloc, parts.path.lstrip("/")


def load(env: Mapping[str, str] | None = None) -> TaskConfig:
    env = os.environ if env is None else env
    output_uri = _required(env, "DAGTRAIL_OUTPUT_URI")
    _uri(output_uri, "DAGTRAIL_OUTPUT_URI")
    if not output_uri.endswith("/"):
        output_uri += "/"
    index = item_index(env)
    if index is not None:  # a Batch array child shares its parent's environment: its index separates its outputs
        output_uri += f"{index}/"
    items_uri = env.get("DAGTRAIL_ITEMS_URI") or None
    if items_uri is not None:
        _uri(items_uri, "DAGTRAIL_ITEMS_URI")
        if index is None:
            raise TaskConfigError("DAGTRAIL_ITEMS_URI is set but neither DAGTRAIL_ITEM_INDEX nor "
                                  "AWS_BATCH_JOB_ARRAY_INDEX is: which item is this?")
        items_uri += "" if items_uri.endswith("/") else "/"
    part_mib = _number(env, "DAGTRAIL_PART_SIZE_MIB", 8, int, minimum=5, maximum=5 * 1024)
    return TaskConfig(
        task=_required(env, "DAGTRAIL_TASK"),
        attempt=_number(env, "DAGTRAIL_ATTEMPT", None, int, minimum=0),
        output_uri=output_uri,
        inputs=parse_inputs(env.get("DAGTRAIL_INPUT_URIS", "")),
        output_dir=env.get("DAGTRAIL_OUTPUT_DIR") or None,
        input_dir=env.get("DAGTRAIL_INPUT_DIR") or None,
        part_size=part_mib * MiB,
        concurrency=_number(env, "DAGTRAIL_UPLOAD_CONCURRENCY", 10, int, minimum=1, maximum=64),
        poll_seconds=_number(env, "DAGTRAIL_POLL_SECONDS", 1.0, float, minimum=0.01, maximum=3600),
        stop_grace_seconds=_number(env, "DAGTRAIL_STOP_GRACE_SECONDS", 25.0, float, minimum=0, maximum=3600),
        log_tail_bytes=_number(env, "DAGTRAIL_LOG_TAIL_KIB", 64, int, minimum=1, maximum=1024 * 1024) * 1024,
        item_index=index,
        items_uri=items_uri,
    )


def item_index(env: Mapping[str, str]) -> int | None:
    """The sweep item this job runs: DAGTRAIL_ITEM_INDEX (an inline item, or a one-item array
    run as a plain job), else DAGTRAIL_ITEM_OFFSET + AWS_BATCH_JOB_ARRAY_INDEX (an array
    child: a chunk's children count from 0, its items from the chunk's offset)."""
    if env.get("DAGTRAIL_ITEM_INDEX"):
        return _index(env, "DAGTRAIL_ITEM_INDEX")
    if env.get("AWS_BATCH_JOB_ARRAY_INDEX"):
        offset = _index(env, "DAGTRAIL_ITEM_OFFSET") if env.get("DAGTRAIL_ITEM_OFFSET") else 0
        return offset + _index(env, "AWS_BATCH_JOB_ARRAY_INDEX")
    return None


def _index(env: Mapping[str, str], name: str) -> int:
    raw = env[name]
    if not (raw.isascii() and raw.isdigit()):
        raise TaskConfigError(f"{name}: expected a non-negative integer, got {raw!r}")
    return int(raw)


def parse_inputs(text: str) -> dict[str, str]:
    """`dep=s3://...,dep2=s3://...` (what submit_task sends) or a JSON object of the same."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            pairs = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TaskConfigError(f"DAGTRAIL_INPUT_URIS: invalid JSON: {exc.msg}") from None
        if not isinstance(pairs, dict) or not all(isinstance(v, str) for v in pairs.values()):
            raise TaskConfigError("DAGTRAIL_INPUT_URIS: expected an object of dependency -> s3:// URI")
        items = list(pairs.items())
    else:
        items = []
        for item in text.split(","):
            dep, sep, uri = item.partition("=")
            if not sep or not dep:
                raise TaskConfigError(f"DAGTRAIL_INPUT_URIS: expected dep=s3://..., got {item!r}")
            items.append((dep, uri))
    inputs = {}
    for dep, uri in items:
        if dep in (".", "..") or "/" in dep or "\0" in dep:
            raise TaskConfigError(f"DAGTRAIL_INPUT_URIS: {dep!r} is not a dependency name")
        _uri(uri, f"DAGTRAIL_INPUT_URIS[{dep}]")
        inputs[dep] = uri if uri.endswith("/") else uri + "/"
    return inputs


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise TaskConfigError(f"{name} is not set (submit_task sets it for every attempt)")
    return value


def _uri(value: str, name: str) -> None:
    try:
        split_uri(value)
    except ValueError:
        raise TaskConfigError(f"{name}: expected an s3:// URI, got {value!r}") from None


def _number(env, name, default, kind, *, minimum=None, maximum=None):
    raw = env.get(name, "")
    if raw == "":
        if default is None:
            raise TaskConfigError(f"{name} is not set (submit_task sets it for every attempt)")
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise TaskConfigError(f"{name}: expected {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise TaskConfigError(f"{name}: {raw} is outside [{minimum}, {maximum}]")
    return value
