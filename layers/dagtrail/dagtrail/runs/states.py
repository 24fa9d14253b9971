"""Job states of either backend, normalised to one ordered vocabulary.

A transition is applied only when it moves forward in this order, which is what makes
duplicate, late and out-of-order events harmless.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


_RANK = {
    JobState.SUBMITTED: 0,
    JobState.PENDING: 1,
    JobState.RUNNABLE: 2,
    JobState.STARTING: 3,
    JobState.RUNNING: 4,
    JobState.SUCCEEDED: 5,
    JobState.FAILED: 5,
}
TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED})

# ECS lastStatus values before STOPPED, mapped onto Batch's vocabulary.
_ECS = {
    "PROVISIONING": JobState.PENDING,
    "PENDING": JobState.RUNNABLE,
    "ACTIVATING": JobState.STARTING,
    "RUNNING": JobState.RUNNING,
    "DEACTIVATING": JobState.RUNNING,
    "STOPPING": JobState.RUNNING,
    "DEPROVISIONING": JobState.RUNNING,
}


def rank(state: JobState | str) -> int:
    return _RANK[JobState(state)]


def from_batch(status: str) -> JobState:
    return JobState(status)


def from_ecs(last_status: str, exit_codes: list[int | None]) -> JobState:
    if last_status == "STOPPED":
        ok = bool(exit_codes) and all(code == 0 for code in exit_codes)
        return JobState.SUCCEEDED if ok else JobState.FAILED
    return _ECS.get(last_status, JobState.PENDING)
