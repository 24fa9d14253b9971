"""AWS Batch: one job per attempt, on a job definition derived from the stack's template."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from dagtrail import aws, settings
from dagtrail.compute._images import definition_name, is_throttle
from dagtrail.compute.models import JobRequest, SubmitThrottled

_DEFINITIONS: dict[str, str] = {}  # image -> job definition ARN, per Lambda environment


class BatchBackend:
    name = "batch"

    def __init__(self) -> None:
        self._cfg = settings.load()
        self._batch = aws.client("batch")

    def submit(self, request: JobRequest) -> str:
        try:
            resp = self._batch.submit_job(
                jobName=request.job_name,
                jobQueue=self._cfg.job_queue,
                jobDefinition=self._definition_for(request.image),
                containerOverrides={
                    "command": [*self._cfg.task_wrapper, *request.command],
                    "environment": [{"name": k, "value": v} for k, v in sorted(request.env.items())],
                    "resourceRequirements": _resources(request),
                },
                # Batch needs at least 60 s; the state machine's TimeoutSeconds is the real cap.
                timeout={"attemptDurationSeconds": max(60, request.timeout)},
                # Step Functions retries attempts (so each is recorded); Batch retries only
                # Spot reclaims through the job definition's retry strategy.
                tags=request.tags,
                propagateTags=True,
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
            arn = max(found["jobDefinitions"], key=lambda d: d["revision"])["jobDefinitionArn"]
        else:
            arn = self._register(name, image)
        _DEFINITIONS[image] = arn
        return arn

    def _register(self, name: str, image: str) -> str:
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
        return self._batch.register_job_definition(**kwargs)["jobDefinitionArn"]


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
