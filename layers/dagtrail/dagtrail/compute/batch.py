"""AWS Batch: one job per attempt, on a job definition derived from the stack's template."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from dagtrail import aws, settings
from dagtrail.compute._images import definition_name, is_throttle
from dagtrail.compute.models import JobRequest, SubmitThrottled

_DEFINITIONS: dict[str, str] = {}  # image -> job definition ARN, per Lambda environment
_RETRY: dict[str, dict[str, Any]] = {}  # job definition ARN -> its retryStrategy
MAX_ATTEMPTS = 10  # Batch's retryStrategy.attempts is 1..10
ARRAY_MIN, ARRAY_MAX = 2, 10_000  # Batch's arrayProperties.size
# What a job definition without one retries: Spot reclaims (the template's own rule).
SPOT_RETRY = {"onStatusReason": "Host EC2*", "action": "RETRY"}


class BatchBackend:
    name = "batch"

    def __init__(self) -> None:
        self._cfg = settings.load()
        self._batch = aws.client("batch")

    def submit(self, request: JobRequest) -> str:
        definition = self._definition_for(request.image)
        env = dict(request.env)
        sweep: dict[str, Any] = {}
        if request.array_size is not None:
            if not 1 <= request.array_size <= ARRAY_MAX:
                raise ValueError(f"task {request.task!r}: an array job has 1 to {ARRAY_MAX} items, "
                                 f"not {request.array_size}")
            if request.array_size >= ARRAY_MIN:
                sweep["arrayProperties"] = {"size": request.array_size}
            else:
                # Batch refuses a 1-child array and AWS_BATCH_* variables are reserved: a single
                # item runs as a plain job told its index (sweeps.events.finish_job reads it so).
                env["DAGTRAIL_ITEM_INDEX"] = str(request.item_offset)
            # Batch retries failed children itself (Step Functions would rerun every item).
            sweep["retryStrategy"] = sweep_retry_strategy(_RETRY.get(definition), request.item_tries)
        try:
            resp = self._batch.submit_job(
                jobName=request.job_name,
                jobQueue=self._cfg.job_queue,
                jobDefinition=definition,
                containerOverrides={
                    "command": [*self._cfg.task_wrapper, *request.command],
                    "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
                    "resourceRequirements": _resources(request),
                },
                # Batch needs at least 60 s; the state machine's TimeoutSeconds is the real cap.
                timeout={"attemptDurationSeconds": max(60, request.timeout)},
                # Step Functions retries attempts (so each is recorded); Batch retries only
                # Spot reclaims through the job definition's retry strategy, and a sweep's
                # failed children (sweep_retry_strategy).
                tags=request.tags,
                propagateTags=True,
                **sweep,
            )
        except ClientError as exc:
            _raise_throttle(exc)
            raise
        return resp["jobId"]

    def terminate(self, job_id: str, reason: str) -> None:
        self._batch.terminate_job(jobId=job_id, reason=reason[:256])

    def describe(self, job_ids: list[str]) -> dict:
        from dagtrail.events.models import BatchJobDetail
        from dagtrail.runs.advance import from_batch_detail

        found = {}
        for i in range(0, len(job_ids), 100):  # DescribeJobs takes at most 100 ids
            for job in self._batch.describe_jobs(jobs=job_ids[i:i + 100])["jobs"]:
                found[job["jobId"]] = from_batch_detail(BatchJobDetail.model_validate(job))
        return found

    def _definition_for(self, image: str) -> str:
        if image in _DEFINITIONS:
            return _DEFINITIONS[image]
        name = definition_name("dagtrail", image)
        found = self._batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")
        if found["jobDefinitions"]:
            latest = max(found["jobDefinitions"], key=lambda d: d["revision"])
            arn = latest["jobDefinitionArn"]
            strategy = latest.get("retryStrategy")
        else:
            arn, strategy = self._register(name, image)
        if strategy:
            _RETRY[arn] = strategy
        _DEFINITIONS[image] = arn
        return arn

    def _register(self, name: str, image: str) -> tuple[str, dict[str, Any] | None]:
        template = self._batch.describe_job_definitions(jobDefinitions=[self._cfg.job_definition])
        if not template["jobDefinitions"]:
            raise RuntimeError(f"job definition template {self._cfg.job_definition!r} not found")
        base: dict[str, Any] = template["jobDefinitions"][0]
        container = dict(base.get("containerProperties", {}), image=image)
        kwargs: dict[str, Any] = {
            "jobDefinitionName": name,
            "type": "container",
            "containerProperties": container,
            "platformCapabilities": base.get("platformCapabilities", ["EC2"]),
            "propagateTags": True,
            "tags": {"dagtrail:image": image[:256]},
        }
        if "retryStrategy" in base:
            kwargs["retryStrategy"] = base["retryStrategy"]
        return self._batch.register_job_definition(**kwargs)["jobDefinitionArn"], base.get("retryStrategy")


def sweep_retry_strategy(definition: dict[str, Any] | None, item_tries: int) -> dict[str, Any]:
    """An array job's retryStrategy: each child tried up to `item_tries` times (at most 10).

    Batch has one attempt budget per child for every cause. With one try per item the job
    definition's strategy stands (Spot reclaims retried, anything else EXIT). With more, the
    definition's catch-all EXIT rules are dropped, so an application error matches no rule
    and Batch retries it (its documented default) until the attempts are spent; the
    definition's other rules (Spot → RETRY, specific EXITs) are kept in order. A Spot reclaim
    then uses one of the item's tries. See docs/sweeps.md.
    """
    # Actions are case-insensitive; DescribeJobDefinitions may return them lowercased.
    rules = [dict(r, action=str(r.get("action", "")).upper())
             for r in (definition or {}).get("evaluateOnExit") or [SPOT_RETRY]]
    if item_tries <= 1:
        return {"attempts": max(1, min(MAX_ATTEMPTS, (definition or {}).get("attempts") or 1)),
                "evaluateOnExit": rules}
    kept = [r for r in rules if not _catch_all_exit(r)]
    strategy: dict[str, Any] = {"attempts": min(MAX_ATTEMPTS, item_tries)}
    if kept:
        strategy["evaluateOnExit"] = kept
    return strategy


def _catch_all_exit(rule: dict[str, Any]) -> bool:
    conditions = [rule.get(k) for k in ("onStatusReason", "onReason", "onExitCode") if rule.get(k) is not None]
    return rule.get("action") == "EXIT" and all(c == "*" for c in conditions)


def _resources(request: JobRequest) -> list[dict[str, str]]:
    res = request.resources
    out = [
        {"type": "VCPU", "value": f"{res.vcpu:g}"},
        {"type": "MEMORY", "value": str(res.memory_mib)},
    ]
    if res.gpu:
        out.append({"type": "GPU", "value": str(res.gpu)})
    return out


def _raise_throttle(exc: ClientError) -> None:
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if is_throttle(code, status):
        raise SubmitThrottled(f"{code or status}: {exc}") from exc
