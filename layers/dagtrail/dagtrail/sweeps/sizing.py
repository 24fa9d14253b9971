"""How a sweep is compiled, by size: the thresholds (documented in docs/sweeps.md, tested).

* inline Map — up to INLINE_MAX_ITEMS items (ECS: up to INLINE_MAX_ITEMS_ECS, ECS has no
  array jobs). One Task state per item inside the Map, so each item is retried by Step
  Functions on its own; costs a few transitions per item, cheap in absolute terms here.
  Indices come from States.ArrayRange, which makes at most 1,000 elements.
* array — one Task state submitting one AWS Batch array job of up to ARRAY_MAX_SIZE
  children: a constant number of transitions, whatever the size.
* distributed — a Distributed Map over a chunk manifest in S3, each chunk one array job
  of up to CHUNK_ITEMS children, in a child execution with its own history. Also every
  `from` sweep: its size is known only at run time.
"""

from __future__ import annotations

from typing import Literal

INLINE_MAX_ITEMS = 100
INLINE_MAX_ITEMS_ECS = 1000
ARRAY_RANGE_MAX = 1000  # States.ArrayRange's limit on generated elements
MAP_MAX_CONCURRENCY = 40  # inline Map: at most 40 iterations run at once
ARRAY_MAX_SIZE = 10_000  # AWS Batch array job
CHUNK_ITEMS = ARRAY_MAX_SIZE
ITEMS_PER_FILE = 1000  # items per JSON file of a stored item list

Mode = Literal["inline", "array", "distributed"]


def sweep_mode(count: int | None, compute: str) -> Mode:
    """The compiled shape of a sweep of `count` items (None: known only at run time)."""
    if count is None:
        return "distributed"
    if compute == "ecs":
        return "inline"  # the spec rejects ECS sweeps above INLINE_MAX_ITEMS_ECS
    if count <= INLINE_MAX_ITEMS:
        return "inline"
    if count <= ARRAY_MAX_SIZE:
        return "array"
    return "distributed"


def inline_concurrency(max_parallel: int | None) -> int:
    return min(max_parallel or MAP_MAX_CONCURRENCY, MAP_MAX_CONCURRENCY)


def chunks(count: int, size: int = CHUNK_ITEMS) -> list[dict[str, int]]:
    """The chunk manifest of a distributed sweep: what each child execution submits."""
    return [{"chunk": k, "offset": offset, "size": min(size, count - offset)}
            for k, offset in enumerate(range(0, count, size))]


def distributed_concurrency(max_parallel: int | None, size: int = CHUNK_ITEMS) -> int | None:
    """Chunks at once: max_parallel rounded up to whole chunks (None: as many as AWS allows)."""
    return None if max_parallel is None else max(1, -(-max_parallel // size))
