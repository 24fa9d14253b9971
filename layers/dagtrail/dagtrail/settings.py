"""Settings from environment variables, read in one place (documented in README)."""

from __future__ import annotations

import json
import os
from typing import NamedTuple


class Settings(NamedTuple):  # not a frozen dataclass: that costs every handler's cold start ~3 ms
    runs_table: str
    results_bucket: str
    lineage_queue_url: str
    graph_url: str
    job_queue: str
    job_definition: str
    ecs_cluster: str
    ecs_task_definition: str
    ecs_subnets: tuple[str, ...]
    ecs_security_groups: tuple[str, ...]
    compute_backend: str
    allowed_registries: tuple[str, ...]
    # The container entrypoint put before every task's argv on Batch and ECS: it stages
    # inputs and streams outputs to S3 (dagtrail.task; docs/results.md). Empty: run bare.
    task_wrapper: tuple[str, ...] = ("python3", "-m", "dagtrail.task", "--")
    # Upload triggers (start_from_upload): inputs/<workflow>/... starts <prefix><workflow>,
    # or always DAGTRAIL_STATE_MACHINE_ARN when set.
    inputs_bucket: str = ""
    inputs_prefix: str = "inputs/"
    state_machine_prefix: str = ""
    state_machine_arn: str = ""
    alarm_topic_arn: str = ""


def _csv(name: str) -> tuple[str, ...]:
    return tuple(v for v in os.environ.get(name, "").split(",") if v)


def _argv(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """An argv list as JSON (`["python3", "-m", "dagtrail.task", "--"]`); "[]" for none."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = json.loads(raw)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a JSON list of strings")
    return tuple(value)


def load() -> Settings:
    """Read settings now (not at import) so tests and local mode can set the environment."""
    env = os.environ.get
    return Settings(
        runs_table=env("DAGTRAIL_RUNS_TABLE", "dagtrail-runs"),
        results_bucket=env("DAGTRAIL_RESULTS_BUCKET", "dagtrail-results"),
        lineage_queue_url=env("DAGTRAIL_LINEAGE_QUEUE_URL", ""),
        graph_url=env("DAGTRAIL_GRAPH_URL", ""),
        job_queue=env("DAGTRAIL_JOB_QUEUE", ""),
        job_definition=env("DAGTRAIL_JOB_DEFINITION", ""),
        ecs_cluster=env("DAGTRAIL_ECS_CLUSTER", ""),
        ecs_task_definition=env("DAGTRAIL_ECS_TASK_DEFINITION", ""),
        ecs_subnets=_csv("DAGTRAIL_ECS_SUBNETS"),
        ecs_security_groups=_csv("DAGTRAIL_ECS_SECURITY_GROUPS"),
        compute_backend=env("DAGTRAIL_COMPUTE_BACKEND", "aws"),
        allowed_registries=_csv("DAGTRAIL_ALLOWED_REGISTRIES"),
        task_wrapper=_argv("DAGTRAIL_TASK_WRAPPER", ("python3", "-m", "dagtrail.task", "--")),
        inputs_bucket=env("DAGTRAIL_INPUTS_BUCKET", ""),
        inputs_prefix=env("DAGTRAIL_INPUTS_PREFIX", "inputs/"),
        state_machine_prefix=env("DAGTRAIL_STATE_MACHINE_PREFIX", ""),
        state_machine_arn=env("DAGTRAIL_STATE_MACHINE_ARN", ""),
        alarm_topic_arn=env("DAGTRAIL_ALARM_TOPIC_ARN", ""),
    )
