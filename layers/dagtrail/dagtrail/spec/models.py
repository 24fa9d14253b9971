"""The workflow spec: pydantic models shared by the YAML loader, the compiler and handlers.

A `WorkflowSpec` that exists is valid: names, dependencies (no unknown or self
dependencies, no cycles) and `{{ params.x }}` references are checked when it is built,
whether from YAML (dagtrail.spec.loader adds file and line) or from Python.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dagtrail.names import TASK_NAME, WORKFLOW_NAME
from dagtrail.sweeps.foreach import Foreach

PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Env names become keys inside the ASL Parameters block: a key ending in ".$" would be
# read as a JSONPath there, so only plain environment-variable names are allowed.
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# Step Functions accepts TimeoutSeconds up to 99999999; a year is a generous, sane cap.
MAX_TIMEOUT = 366 * 86400

ParamValue = str | int | float | bool


def parse_duration(value: int | str) -> int:
    """3600, "90m", "2h" -> seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"must be seconds or a duration like '90m' or '2h', got {value!r}")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not seconds or a duration like '90m' or '2h'")
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"must be positive, got {value!r}")
    if seconds > MAX_TIMEOUT:
        raise ValueError(f"must be at most {MAX_TIMEOUT} seconds (366 days), got {value!r}")
    return seconds


class _Strict(BaseModel):
    # defer_build: handlers import these for names and types; only the CLI and submit_task
    # validate a spec, so the others skip the schema build at cold start.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


class Resources(_Strict):
    vcpu: float = Field(default=1, gt=0, le=192)
    memory_mib: int = Field(default=2048, ge=128, le=1_572_864)
    gpu: int = Field(default=0, ge=0, le=16)

    @field_validator("vcpu", mode="before")
    @classmethod
    def _int_is_float(cls, v: Any) -> Any:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


class TaskSpec(_Strict):
    image: str = Field(min_length=1)
    command: tuple[str, ...] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    retries: int = Field(default=0, ge=0, le=10)
    timeout: int = 3600
    resources: Resources = Field(default_factory=Resources)
    compute: Literal["batch", "ecs"] = "batch"
    # A sweep: the task runs once per item (dagtrail.sweeps; docs/sweeps.md).
    foreach: Foreach | None = None
    max_parallel: int | None = Field(default=None, ge=1, le=1_000_000)
    # Caching (dagtrail.cache): off for tasks whose output is not a function of their inputs;
    # bump cache_version to invalidate earlier results on purpose.
    cache: bool = True
    cache_version: str = Field(default="", max_length=64)

    @field_validator("command", "depends_on", mode="before")
    @classmethod
    def _list_to_tuple(cls, v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> int:
        return parse_duration(v)

    @field_validator("env")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if not ENV_NAME.match(key):
                raise ValueError(f"{key!r} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
        return v

    def definition(self) -> dict[str, Any]:
        """The static task definition as JSON data (the `definition` in the submit payload).
        Sweep and cache fields appear only where set, so other definitions stay as they were."""
        data = self.model_dump(mode="json", exclude={"foreach", "max_parallel", "cache", "cache_version"})
        if not self.cache:
            data["cache"] = False
        if self.cache_version:
            data["cache_version"] = self.cache_version
        if self.foreach is not None:
            data["foreach"] = self.foreach.model_dump(mode="json", exclude_none=True)
        if self.max_parallel is not None:
            data["max_parallel"] = self.max_parallel
        return data


class WorkflowSpec(_Strict):
    name: str
    description: str = ""
    parameters: dict[str, ParamValue] = Field(default_factory=dict)
    tasks: dict[str, TaskSpec] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not WORKFLOW_NAME.match(v):
            raise ValueError(
                f"{v!r} is not a workflow name: lowercase letters, digits and '-', "
                "at most 40 characters, not starting or ending with '-'"
            )
        return v

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, v: dict[str, ParamValue]) -> dict[str, ParamValue]:
        for key in v:
            if not PARAM_NAME.match(key):
                raise ValueError(f"{key!r} is not a parameter name ([A-Za-z_][A-Za-z0-9_]*)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> WorkflowSpec:
        # Imported here: graph and params import this module.
        from dagtrail.spec.graph import check_graph, check_task_names
        from dagtrail.spec.params import check_references
        from dagtrail.sweeps.check import check_sweeps

        check_task_names(self.tasks)
        check_graph({name: task.depends_on for name, task in self.tasks.items()})
        check_references(self)
        check_sweeps(self)
        return self

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of the spec: equal specs hash equal, whatever the YAML layout."""
        data = self.model_dump(mode="json")
        data["tasks"] = {name: task.definition() for name, task in self.tasks.items()}
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
