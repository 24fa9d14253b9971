"""LineageRecords: what handlers tell the lineage graph, and the builders that make them.

A record is an idempotent upsert of one vertex or one edge, keyed by a deterministic uid,
so the writer can apply any stream of records — duplicated, late, out of order — and reach
the same graph. `rank` orders the states of one element: a property is only overwritten by
a record of equal or higher rank, so a late RUNNING never undoes a SUCCEEDED.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Neptune property values: no lists, maps or nulls.
PropValue = str | int | float | bool

VERTEX_LABELS = ("Workflow", "Execution", "Task", "TaskRun", "Artifact", "Parameters")
EDGE_LABELS = ("instanceOf", "partOf", "runs", "used", "wasGeneratedBy", "wasInformedBy")

# Batch's job states in lifecycle order; the terminal ones share the top rank.
TASK_RUN_RANK = {
    "SUBMITTED": 0,
    "PENDING": 1,
    "RUNNABLE": 2,
    "STARTING": 3,
    "RUNNING": 4,
    "SUCCEEDED": 5,
    "FAILED": 5,
}
# Step Functions execution statuses. A redriven execution (FAILED → RUNNING again) keeps
# its terminal status here until the redrive itself ends.
EXECUTION_RANK = {
    "PENDING_REDRIVE": 0,
    "RUNNING": 1,
    "SUCCEEDED": 2,
    "FAILED": 2,
    "TIMED_OUT": 2,
    "ABORTED": 2,
}


def _now() -> datetime:
    return datetime.now(UTC)


class LineageRecord(BaseModel):
    """Upsert of one vertex (op="vertex") or one edge (op="edge")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    op: Literal["vertex", "edge"]
    label: str
    uid: str = Field(min_length=1)
    props: dict[str, PropValue] = Field(default_factory=dict)
    rank: int = Field(default=0, ge=0, le=63)
    out_label: str | None = None
    out_uid: str | None = None
    in_label: str | None = None
    in_uid: str | None = None
    emitted_at: datetime = Field(default_factory=_now)

    @field_validator("props")
    @classmethod
    def _plain_keys(cls, props: dict[str, PropValue]) -> dict[str, PropValue]:
        # '_' prefixes are the writer's bookkeeping (per-property ranks); 'uid' is the key.
        bad = [k for k in props if not k or k.startswith("_") or k == "uid"]
        if bad:
            raise ValueError(f"reserved property name(s): {', '.join(sorted(bad))}")
        return props

    @model_validator(mode="after")
    def _shape(self) -> LineageRecord:
        ends = (self.out_label, self.out_uid, self.in_label, self.in_uid)
        if self.op == "vertex":
            if self.label not in VERTEX_LABELS:
                raise ValueError(f"unknown vertex label {self.label!r}")
            if any(e is not None for e in ends):
                raise ValueError("a vertex record has no endpoints")
        else:
            if self.label not in EDGE_LABELS:
                raise ValueError(f"unknown edge label {self.label!r}")
            if not all(ends):
                raise ValueError("an edge record needs out_label, out_uid, in_label and in_uid")
            if self.out_label not in VERTEX_LABELS or self.in_label not in VERTEX_LABELS:
                raise ValueError("edge endpoints must have vertex labels")
            if self.props:
                raise ValueError("edge records carry no properties")
        return self


# ---------------------------------------------------------------- uids


def workflow_uid(name: str) -> str:
    return f"workflow:{name}"


def execution_uid(run_id: str) -> str:
    return f"execution:{run_id}"


def task_uid(workflow: str, task: str) -> str:
    return f"task:{workflow}:{task}"


def task_run_uid(run_id: str, task: str, attempt: int, item_index: int | None = None,
                 item_try: int | None = None) -> str:
    """One TaskRun per attempt; in a sweep, one per try of each item as well."""
    if item_index is not None:
        return f"taskrun:{run_id}:{task}:{attempt}:{item_index}:{item_try or 1}"
    return f"taskrun:{run_id}:{task}:{attempt}"


def artifact_uid(uri: str) -> str:
    return f"artifact:{uri}"


def params_uid(run_id: str) -> str:
    return f"params:{run_id}"


def edge_uid(label: str, out_uid: str, in_uid: str) -> str:
    return f"{out_uid}-{label}->{in_uid}"


# ---------------------------------------------------------------- builders


class ArtifactRef(BaseModel):
    """One file an attempt produced or read."""

    model_config = ConfigDict(frozen=True)

    uri: str = Field(min_length=1)
    name: str
    size: int = Field(ge=0)
    sha256: str
    etag: str | None = None


def timestamp(value: datetime | str | None) -> str | None:
    """One ISO-8601 UTC form for every time in the graph, so strings sort as times."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _props(**values: Any) -> dict[str, PropValue]:
    return {k: v for k, v in values.items() if v is not None}


def _vertex(label: str, uid: str, rank: int = 0, **props: Any) -> LineageRecord:
    return LineageRecord(op="vertex", label=label, uid=uid, rank=rank, props=_props(**props))


def _edge(label: str, out_label: str, out_uid: str, in_label: str, in_uid: str) -> LineageRecord:
    return LineageRecord(
        op="edge", label=label, uid=edge_uid(label, out_uid, in_uid),
        out_label=out_label, out_uid=out_uid, in_label=in_label, in_uid=in_uid,
    )


def _rank(table: dict[str, int], status: str, what: str) -> int:
    try:
        return table[status]
    except KeyError:
        raise ValueError(f"unknown {what} status {status!r}; expected one of {sorted(table)}") from None


def execution(
    run_id: str,
    workflow: str,
    *,
    execution_arn: str,
    status: str,
    started_at: datetime | str | None = None,
    stopped_at: datetime | str | None = None,
    params: dict[str, Any] | None = None,
    definition_hash: str | None = None,
) -> list[LineageRecord]:
    """Workflow and Execution (and its parameter set), Execution-instanceOf→Workflow."""
    wf, ex = workflow_uid(workflow), execution_uid(run_id)
    out = [
        _vertex("Workflow", wf, name=workflow, definition_hash=definition_hash),
        _vertex(
            "Execution", ex, _rank(EXECUTION_RANK, status, "execution"),
            run_id=run_id, workflow=workflow, execution_arn=execution_arn or None, status=status,
            started_at=timestamp(started_at), stopped_at=timestamp(stopped_at),
        ),
        _edge("instanceOf", "Execution", ex, "Workflow", wf),
    ]
    if params is not None:
        pu = params_uid(run_id)
        out += [
            _vertex("Parameters", pu, run_id=run_id, values=json.dumps(params, sort_keys=True, default=str)),
            _edge("used", "Execution", ex, "Parameters", pu),
        ]
    return out


def task_run(
    run_id: str,
    workflow: str,
    task: str,
    attempt: int,
    *,
    status: str,
    job_id: str | None = None,
    backend: str | None = None,
    image: str | None = None,
    image_digest: str | None = None,
    command: list[str] | None = None,
    resources: dict[str, Any] | None = None,
    started_at: datetime | str | None = None,
    stopped_at: datetime | str | None = None,
    exit_code: int | None = None,
    status_reason: str | None = None,
    log_stream: str | None = None,
    cached: bool = False,
    item_index: int | None = None,
    item_try: int | None = None,
) -> list[LineageRecord]:
    """TaskRun (one per attempt, and per item try of a sweep) and Task; TaskRun-partOf→Execution,
    TaskRun-runs→Task."""
    tr, tk = task_run_uid(run_id, task, attempt, item_index, item_try), task_uid(workflow, task)
    ex = execution_uid(run_id)
    return [
        _vertex("Task", tk, workflow=workflow, name=task),
        _vertex(
            "TaskRun", tr, _rank(TASK_RUN_RANK, status, "task run"),
            run_id=run_id, workflow=workflow, task=task, attempt=attempt, status=status,
            job_id=job_id or None, backend=backend, image=image, image_digest=image_digest,
            # Neptune has no list properties: argv and resources travel as JSON strings.
            command=json.dumps(command) if command else None,
            resources=json.dumps(resources, sort_keys=True) if resources else None,
            started_at=timestamp(started_at), stopped_at=timestamp(stopped_at),
            exit_code=exit_code, status_reason=status_reason or None, log_stream=log_stream or None,
            # Only a cache hit says so: a later real record must not flip it back.
            cached=True if cached else None,
            item_index=item_index, item_try=item_try if item_index is not None else None,
        ),
        _edge("partOf", "TaskRun", tr, "Execution", ex),
        _edge("runs", "TaskRun", tr, "Task", tk),
    ]


def artifacts(
    run_id: str,
    task: str,
    attempt: int,
    *,
    produced: list[ArtifactRef],
    used: list[ArtifactRef],
    item_index: int | None = None,
    item_try: int | None = None,
) -> list[LineageRecord]:
    """Artifacts; Artifact-wasGeneratedBy→TaskRun for produced, TaskRun-used→Artifact for used."""
    tr = task_run_uid(run_id, task, attempt, item_index, item_try)
    out: list[LineageRecord] = []
    for ref in produced:
        au = artifact_uid(ref.uri)
        out += [_artifact(ref), _edge("wasGeneratedBy", "Artifact", au, "TaskRun", tr)]
    for ref in used:
        au = artifact_uid(ref.uri)
        out += [_artifact(ref), _edge("used", "TaskRun", tr, "Artifact", au)]
    return out


def _artifact(ref: ArtifactRef) -> LineageRecord:
    return _vertex(
        "Artifact", artifact_uid(ref.uri),
        uri=ref.uri, name=ref.name, size=ref.size, sha256=ref.sha256, etag=ref.etag,
    )


def informed_by(
    run_id: str, task: str, attempt: int, upstream_task: str, upstream_attempt: int
) -> list[LineageRecord]:
    """TaskRun-wasInformedBy→TaskRun: this attempt consumed the upstream attempt's outputs."""
    return [
        _edge(
            "wasInformedBy",
            "TaskRun", task_run_uid(run_id, task, attempt),
            "TaskRun", task_run_uid(run_id, upstream_task, upstream_attempt),
        )
    ]
