"""The workflow spec: pydantic models shared by the YAML loader, the compiler and handlers."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

WORKFLOW_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
TASK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: int | str) -> int:
    """3600, "90m", "2h" -> seconds."""
    if isinstance(value, bool):
        raise ValueError("must be seconds or a duration like '90m' or '2h'")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not seconds or a duration like '90m' or '2h'")
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("must be positive")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


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

    @field_validator("command", "depends_on", mode="before")
    @classmethod
    def _list_to_tuple(cls, v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> int:
        return parse_duration(v)


class WorkflowSpec(_Strict):
    name: str
    description: str = ""
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    tasks: dict[str, TaskSpec] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not WORKFLOW_NAME.match(v):
            raise ValueError("must be lowercase letters, digits and '-', at most 40 characters")
        return v
