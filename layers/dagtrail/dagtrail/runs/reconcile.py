"""The safety net: jobs with an unanswered token and no event for a while are looked up at
their backend and pushed through the same transition code path as events.

EventBridge can drop best-effort events and a Lambda can fail between recording a terminal
state and answering the token; either way the job stays in the open-jobs index until its
token is answered, so one reconcile cycle repairs it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from dagtrail.runs.advance import JobUpdate, apply
from dagtrail.runs.states import JobState
from dagtrail.runs.table import RunsTable

log = logging.getLogger(__name__)

DEFAULT_QUIET_SECONDS = 300
LOST_REASON = "job no longer known to its backend (found by the reconciler)"


class ReconcileReport(BaseModel):
    checked: int = 0
    advanced: int = 0
    tokens_sent: int = 0
    stale_tokens: int = 0
    lost: int = 0
    errors: list[str] = Field(default_factory=list)


def reconcile(quiet_seconds: int = DEFAULT_QUIET_SECONDS, table: RunsTable | None = None,
              now: datetime | None = None) -> ReconcileReport:
    table = table or RunsTable()
    cutoff = ((now or datetime.now(UTC)) - timedelta(seconds=quiet_seconds)).isoformat()
    report = ReconcileReport()
    by_backend: dict[str, list[str]] = defaultdict(list)
    for job in table.open_jobs(cutoff):
        by_backend[job.backend or "batch"].append(job.job_id)
    for backend_name, job_ids in sorted(by_backend.items()):
        # The backends (and the spec models their requests carry) only when a job is open:
        # most scheduled runs find none.
        from dagtrail import compute

        backend = compute.backend_for(backend_name)
        try:
            found = backend.describe(job_ids)
        except Exception as exc:  # one backend's outage must not stop the others' repair
            log.exception("describe failed for %s jobs", backend_name)
            report.errors.append(f"{backend_name}: {exc}")
            continue
        for job_id in job_ids:
            report.checked += 1
            update = found.get(job_id) or JobUpdate(job_id=job_id, state=JobState.FAILED,
                                                    status_reason=LOST_REASON)
            if job_id not in found:
                report.lost += 1
            try:
                outcome = apply(update, table)
            except Exception as exc:
                log.exception("reconcile of %s failed", job_id)
                report.errors.append(f"{job_id}: {exc}")
                continue
            report.advanced += outcome.applied
            report.tokens_sent += outcome.token == "sent"
            report.stale_tokens += outcome.token == "stale"
    return report
