"""The runs table: tokens, attempts and monotonic job state, in DynamoDB."""

from dagtrail.runs.models import JobRecord, TaskRecord, RunRecord
from dagtrail.runs.states import JobState, TERMINAL, rank

__all__ = ["JobRecord", "TaskRecord", "RunRecord", "JobState", "TERMINAL", "rank"]
