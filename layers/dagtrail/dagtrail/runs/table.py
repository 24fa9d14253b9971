"""Reads and conditional writes on the runs table (see docs/internals.md for the keys).

Every write is conditional or idempotent, so a handler can run twice on the same event.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from dagtrail import aws, settings
from dagtrail.dynamo_values import from_item as _item
from dagtrail.dynamo_values import to_attribute as _attr
from dagtrail.runs.models import JobRecord, RunRecord, TaskRecord
from dagtrail.runs.states import JobState, rank

# A sparse index holds only jobs whose task token is still unanswered.
OPEN_INDEX = "open-jobs"
OPEN_KEY = "open_job"
OPEN_VALUE = "open"

# An attempt number whose submit was throttled (no job started), for the next token to take.
RELEASED = "released_attempt"


class AttemptReleased(Exception):
    """This token's submit was throttled and its attempt given to the next one."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:24]


class RunsTable:
    def __init__(self, name: str | None = None, region: str | None = None) -> None:
        self.name = name or settings.load().runs_table
        self._ddb = aws.client("dynamodb", region)  # region: a deployed stack's (`dagtrail status`)

    # -- runs ---------------------------------------------------------------------------
    def put_run(self, run: RunRecord) -> None:
        """Create the run record once; later calls only fill in what is missing."""
        # Empty fields say nothing: they must not claim the slot a later writer fills in.
        values = {k: v for k, v in run.model_dump(exclude_none=True).items() if v not in ("", {})}
        names = {f"#{k}": k for k in values if k != "run_id"}
        sets = ", ".join(f"#{k} = if_not_exists(#{k}, :{k})" for k in values if k != "run_id")
        self._ddb.update_item(
            TableName=self.name,
            Key=self._key(f"RUN#{run.run_id}", "RUN"),
            UpdateExpression=f"SET {sets}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":{k}": _attr(v) for k, v in values.items() if k != "run_id"},
        )

    def finish_run(self, run_id: str, status: str, stopped_at: str | None, error: str | None = None,
                   cause: str | None = None) -> bool:
        """Record a terminal run status once; a late or duplicate event changes nothing."""
        values = {":status": status, ":running": "RUNNING", ":stopped": stopped_at or "",
                  ":error": error or "", ":cause": cause or ""}
        try:
            self._ddb.update_item(
                TableName=self.name,
                Key=self._key(f"RUN#{run_id}", "RUN"),
                UpdateExpression="SET #s = :status, stopped_at = :stopped, #e = :error, cause = :cause",
                ConditionExpression="attribute_not_exists(#s) OR #s = :running",
                ExpressionAttributeNames={"#s": "status", "#e": "error"},
                ExpressionAttributeValues={k: _attr(v) for k, v in values.items()},
            )
            return True
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise

    def get_run(self, run_id: str) -> RunRecord | None:
        raw = self._get(f"RUN#{run_id}", "RUN")
        return RunRecord(run_id=run_id, **raw) if raw else None

    def list_tasks(self, run_id: str) -> list[TaskRecord]:
        items: list[TaskRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :task)",
            "ExpressionAttributeValues": {":pk": _attr(f"RUN#{run_id}"), ":task": _attr("TASK#")},
            "ConsistentRead": True,
        }
        while True:
            page = self._ddb.query(**kwargs)
            items.extend(self._task(_item(raw)) for raw in page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- tasks --------------------------------------------------------------------------
    def assign_attempt(self, run_id: str, task: str, token: str) -> tuple[int, str | None]:
        """The attempt number for this task token, allocated once per token.

        Both SET operands read the item as it was, so the counter and the token's entry get
        the same new value in one atomic write. A repeated token gets its earlier attempt and
        the job id submitted for it, if any; a token whose submit was throttled raises
        AttemptReleased. A new token takes a released attempt before a new number.
        """
        h = token_hash(token)
        key = self._key(f"RUN#{run_id}", f"TASK#{task}")
        for _ in range(8):  # each round loses only to a concurrent submit of the same task
            try:
                resp = self._ddb.update_item(
                    TableName=self.name, Key=key,
                    UpdateExpression=(
                        "SET attempts = if_not_exists(attempts, :zero) + :one, "
                        "#tok = if_not_exists(attempts, :zero) + :one, "
                        "run_id = :run, task = :task, #s = if_not_exists(#s, :pending), "
                        "jobs = if_not_exists(jobs, :nojobs)"
                    ),
                    ConditionExpression=f"attribute_not_exists(#tok) AND attribute_not_exists({RELEASED})",
                    ExpressionAttributeNames={"#tok": f"tok_{h}", "#s": "status"},
                    ExpressionAttributeValues={
                        ":zero": _attr(0), ":one": _attr(1), ":run": _attr(run_id),
                        ":task": _attr(task), ":pending": _attr("PENDING"), ":nojobs": _attr({}),
                    },
                    ReturnValues="ALL_NEW",
                )
                return int(_item(resp["Attributes"])["attempts"]), None
            except ClientError as exc:
                if not _conditional(exc):
                    raise
            raw = self._get(f"RUN#{run_id}", f"TASK#{task}")
            if f"tok_{h}" in raw:
                if f"thr_{h}" in raw:
                    raise AttemptReleased(f"{task}: the submit for this token was throttled")
                return int(raw[f"tok_{h}"]), raw.get(f"job_{h}")
            if RELEASED in raw and self._take_released(key, h, int(raw[RELEASED])):
                return int(raw[RELEASED]), None
        raise RuntimeError(f"{task}: could not assign an attempt (contention)")

    def _take_released(self, key: dict[str, Any], h: str, attempt: int) -> bool:
        return self._update_if(
            Key=key, UpdateExpression=f"SET #tok = :a REMOVE {RELEASED}",
            ConditionExpression=f"attribute_not_exists(#tok) AND {RELEASED} = :a",
            ExpressionAttributeNames={"#tok": f"tok_{h}"}, ExpressionAttributeValues={":a": _attr(attempt)},
        )

    def release_attempt(self, run_id: str, task: str, token: str, attempt: int) -> bool:
        """The backend refused to start this token's job (throttled): the next token (the
        state machine's retry) takes the same attempt number. The token is remembered as
        throttled, so a repeated delivery of it starts nothing. False if a job was linked
        (or the token holds no attempt here: an inline item's or a chunk's)."""
        h = token_hash(token)
        return self._update_if(
            Key=self._key(f"RUN#{run_id}", f"TASK#{task}"), UpdateExpression=f"SET {RELEASED} = :a, #thr = :a",
            ConditionExpression="#tok = :a AND attribute_not_exists(#job)",
            ExpressionAttributeNames={"#tok": f"tok_{h}", "#thr": f"thr_{h}", "#job": f"job_{h}"},
            ExpressionAttributeValues={":a": _attr(attempt)},
        )

    def _update_if(self, **kwargs: Any) -> bool:
        """A conditional update: True if it was applied, False if its condition failed."""
        try:
            self._ddb.update_item(TableName=self.name, **kwargs)
            return True
        except ClientError as exc:
            if not _conditional(exc):
                raise
            return False

    def link_job(self, run_id: str, task: str, token: str, attempt: int, job_id: str) -> None:
        self._ddb.update_item(
            TableName=self.name,
            Key=self._key(f"RUN#{run_id}", f"TASK#{task}"),
            UpdateExpression="SET #job = :job, jobs.#a = :job",
            ExpressionAttributeNames={"#job": f"job_{token_hash(token)}", "#a": str(attempt)},
            ExpressionAttributeValues={":job": _attr(job_id)},
        )

    def finish_task(self, run_id: str, task: str, attempt: int, status: str,
                    output_prefix: str | None) -> None:
        """Record an attempt's outcome; success is sticky (a late failure of an older attempt
        cannot undo it)."""
        values: dict[str, Any] = {":status": status, ":succeeded": "SUCCEEDED"}
        sets = "#s = :status"
        if status == "SUCCEEDED":
            sets += ", succeeded_attempt = :attempt, output_prefix = :prefix"
            values.update({":attempt": attempt, ":prefix": output_prefix or ""})
        try:
            self._ddb.update_item(
                TableName=self.name,
                Key=self._key(f"RUN#{run_id}", f"TASK#{task}"),
                UpdateExpression=f"SET {sets}",
                ConditionExpression="attribute_not_exists(#s) OR #s <> :succeeded",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={k: _attr(v) for k, v in values.items()},
            )
        except ClientError as exc:
            if not _conditional(exc):
                raise

    def get_task(self, run_id: str, task: str) -> TaskRecord | None:
        raw = self._get(f"RUN#{run_id}", f"TASK#{task}")
        return self._task(raw) if raw else None

    # -- jobs ---------------------------------------------------------------------------
    def register_job(self, job: JobRecord) -> JobRecord:
        """submit_task's half of a job record. An event that arrived first keeps its state."""
        values = job.model_dump(exclude_none=True, exclude={"job_id", "state", "token_sent"})
        names = {f"#{k}": k for k in values}
        sets = [f"#{k} = :{k}" for k in values]
        sets += ["#state = if_not_exists(#state, :state)", "state_rank = if_not_exists(state_rank, :rank)",
                 f"{OPEN_KEY} = :open", "updated_at = :now"]
        names["#state"] = "state"
        attrs = {f":{k}": _attr(v) for k, v in values.items()}
        attrs.update({":state": _attr(job.state.value), ":rank": _attr(rank(job.state)),
                      ":open": _attr(OPEN_VALUE), ":now": _attr(_now())})
        resp = self._ddb.update_item(
            TableName=self.name,
            Key=self._key(f"JOB#{job.job_id}", "JOB"),
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attrs,
            ReturnValues="ALL_NEW",
        )
        return self._job(_item(resp["Attributes"]))

    def transition(self, job_id: str, state: JobState, fields: dict[str, Any]) -> tuple[bool, JobRecord]:
        """Move a job forward to `state`. Returns (applied, record after the call).

        Not applied when the stored state is at or past `state`: duplicates and stale
        events are no-ops. Fields already set (times, exit code) are kept as they are.
        """
        values = {k: v for k, v in fields.items() if v is not None}
        names = {"#state": "state"}
        sets = ["#state = :state", "state_rank = :rank", "updated_at = :now"]
        for k in values:
            names[f"#{k}"] = k
            sets.append(f"#{k} = if_not_exists(#{k}, :{k})")
        attrs = {f":{k}": _attr(v) for k, v in values.items()}
        attrs.update({":state": _attr(state.value), ":rank": _attr(rank(state)), ":now": _attr(_now())})
        try:
            resp = self._ddb.update_item(
                TableName=self.name,
                Key=self._key(f"JOB#{job_id}", "JOB"),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_not_exists(state_rank) OR state_rank < :rank",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attrs,
                ReturnValues="ALL_NEW",
            )
            return True, self._job(_item(resp["Attributes"]))
        except ClientError as exc:
            if not _conditional(exc):
                raise
        return False, self.get_job(job_id)  # type: ignore[return-value]

    def mark_token_sent(self, job_id: str) -> None:
        self._ddb.update_item(
            TableName=self.name,
            Key=self._key(f"JOB#{job_id}", "JOB"),
            UpdateExpression=f"SET token_sent = :t REMOVE {OPEN_KEY}",
            ExpressionAttributeValues={":t": _attr(True)},
        )

    def open_jobs(self, older_than: str) -> list[JobRecord]:
        """Jobs whose token is not yet answered and that have heard nothing since `older_than`
        (ISO time), from the sparse open-jobs index: the reconciler's work list."""
        out: list[JobRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self.name, "IndexName": OPEN_INDEX,
            "KeyConditionExpression": f"{OPEN_KEY} = :open AND updated_at < :cutoff",
            "ExpressionAttributeValues": {":open": _attr(OPEN_VALUE), ":cutoff": _attr(older_than)},
        }
        while True:
            page = self._ddb.query(**kwargs)
            out.extend(self._job(_item(raw)) for raw in page["Items"])
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get_job(self, job_id: str) -> JobRecord | None:
        raw = self._get(f"JOB#{job_id}", "JOB")
        return self._job(raw) if raw else None

    def get_jobs(self, job_ids: list[str]) -> dict[str, JobRecord]:
        """Several jobs in BatchGetItem requests (100 keys each); missing jobs are left out."""
        out: dict[str, JobRecord] = {}
        wanted = list(dict.fromkeys(job_ids))
        for start in range(0, len(wanted), 100):
            request = {self.name: {"Keys": [self._key(f"JOB#{j}", "JOB") for j in wanted[start:start + 100]],
                                   "ConsistentRead": True}}
            while request:
                page = self._ddb.batch_get_item(RequestItems=request)
                for raw in page["Responses"].get(self.name, []):
                    job = self._job(_item(raw))
                    out[job.job_id] = job
                request = page.get("UnprocessedKeys") or {}
        return out

    # -- helpers ------------------------------------------------------------------------
    @staticmethod
    def _key(pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def _get(self, pk: str, sk: str) -> dict[str, Any]:
        resp = self._ddb.get_item(TableName=self.name, Key=self._key(pk, sk), ConsistentRead=True)
        return _item(resp.get("Item", {}))

    @staticmethod
    def _job(raw: dict[str, Any]) -> JobRecord:
        return JobRecord(job_id=raw["pk"].removeprefix("JOB#"), **{k: v for k, v in raw.items() if k != "pk"})

    @staticmethod
    def _task(raw: dict[str, Any]) -> TaskRecord:
        return TaskRecord(**raw)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def table_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments; template.yaml declares the same keys and index."""
    return {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"}
                                 for a in ("pk", "sk", OPEN_KEY, "updated_at")],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [{
            "IndexName": OPEN_INDEX,
            "KeySchema": [{"AttributeName": OPEN_KEY, "KeyType": "HASH"},
                          {"AttributeName": "updated_at", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    }


def _conditional(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
