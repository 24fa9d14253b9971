"""Items of the runs table."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dagtrail.runs.states import JobState


class _Item(BaseModel):
    # defer_build: a handler validates the items it reads; the rest never pay pydantic's
    # schema build (execution_events reads runs, job_events jobs).
    model_config = ConfigDict(extra="ignore", defer_build=True)


class JobRecord(_Item):
    """One attempt's job (Batch job id or ECS task ARN)."""

    job_id: str
    state: JobState
    token: str | None = None
    run_id: str | None = None
    workflow: str | None = None
    task: str | None = None
    attempt: int | None = None
    backend: str | None = None
    image: str | None = None
    command: list[str] = Field(default_factory=list)
    output_prefix: str | None = None
    inputs: dict[str, str] = Field(default_factory=dict)
    created_at: str | None = None
    started_at: str | None = None
    stopped_at: str | None = None
    exit_code: int | None = None
    status_reason: str | None = None
    log_stream: str | None = None
    token_sent: bool = False
    # Caching (dagtrail.cache): the attempt's cache key; a cache hit's record says whose
    # outputs it served (backend "cache", no process ran).
    cache_key: str | None = None
    cached_from: str | None = None
    # Sweeps (dagtrail.sweeps): an inline Map item's job, or an array job of `array_size`
    # children whose items start at `item_offset` (a Distributed Map chunk: `chunk`).
    item_index: int | None = None
    item_try: int | None = None
    max_tries: int | None = None
    array_size: int | None = None
    item_offset: int | None = None
    chunk: int | None = None

    @property
    def terminal(self) -> bool:
        return self.state in (JobState.SUCCEEDED, JobState.FAILED)

    @property
    def submitted(self) -> bool:
        """submit_task has written its half (the token), not only an early event."""
        return self.token is not None


class TaskRecord(_Item):
    run_id: str
    task: str
    status: str = "PENDING"
    attempts: int = 0
    succeeded_attempt: int | None = None
    output_prefix: str | None = None
    jobs: dict[str, str] = Field(default_factory=dict)  # attempt -> job id
    # Sweeps: items of the sweep and how many have ended for good (dagtrail.sweeps.table).
    sweep_mode: str | None = None
    sweep_attempt: int | None = None
    items_total: int | None = None
    items_succeeded: int = 0
    items_failed: int = 0
    chunks_total: int | None = None


class RunRecord(_Item):
    run_id: str
    workflow: str
    execution_arn: str = ""
    status: str = "RUNNING"
    params: dict[str, Any] = Field(default_factory=dict)
    started_at: str | None = None
    stopped_at: str | None = None
    error: str | None = None
    cause: str | None = None
    # Set by whoever starts the run: {"no_cache": bool, "resume_from": run id}.
    options: dict[str, Any] = Field(default_factory=dict)


class SubmitTaskInput(BaseModel):
    """The Task state's payload to submit_task (docs/internals.md)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)  # only submit_task validates it

    token: str = Field(min_length=1)
    execution_arn: str
    run_id: str
    retry_count: int = 0
    params: dict[str, Any] = Field(default_factory=dict)
    workflow: str
    task: str
    definition: dict[str, Any]
    # Sweeps: "item" (inline Map, with item_index), "array", "plan" or "chunk" (Distributed Map).
    sweep: str | None = None
    item_index: int | None = None
    chunk: dict[str, int] | None = None

    @field_validator("definition", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        # Compiled machines carry the definition as a JSON string, so that user keys ending
        # in ".$" are never read as JSONPath by Step Functions.
        return json.loads(value) if isinstance(value, str) else value
