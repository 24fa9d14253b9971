"""ECS on Fargate: one task per attempt, on a task definition derived from the stack's template."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from dagtrail import aws, settings
from dagtrail.compute._images import definition_name
from dagtrail.compute.batch import _raise_throttle
from dagtrail.compute.models import JobRequest

CONTAINER = "task"
_DEFINITIONS: dict[str, str] = {}  # image -> task definition ARN, per Lambda environment

# Fargate accepts only these CPU units; memory must suit the CPU size (checked by ECS).
_FARGATE_CPU = (256, 512, 1024, 2048, 4096, 8192, 16384)


class EcsBackend:
    name = "ecs"

    def __init__(self) -> None:
        self._cfg = settings.load()
        self._ecs = aws.client("ecs")

    def submit(self, request: JobRequest) -> str:
        cpu = next((c for c in _FARGATE_CPU if c >= request.resources.vcpu * 1024), _FARGATE_CPU[-1])
        try:
            resp = self._ecs.run_task(
                cluster=self._cfg.ecs_cluster,
                taskDefinition=self._definition_for(request.image),
                launchType="FARGATE",
                overrides={
                    "cpu": str(cpu),
                    "memory": str(request.resources.memory_mib),
                    "containerOverrides": [{
                        "name": CONTAINER,
                        "command": [*self._cfg.task_wrapper, *request.command],
                        "environment": [{"name": k, "value": v} for k, v in sorted(request.env.items())],
                    }],
                },
                networkConfiguration={"awsvpcConfiguration": {
                    "subnets": list(self._cfg.ecs_subnets),
                    "securityGroups": list(self._cfg.ecs_security_groups),
                    "assignPublicIp": "DISABLED",
                }},
                startedBy="dagtrail",
                group=f"dagtrail:{request.workflow}"[:255],
                tags=[{"key": k, "value": v} for k, v in request.tags.items()],
                propagateTags="TASK_DEFINITION",
            )
        except ClientError as exc:
            _raise_throttle(exc)
            raise
        if not resp.get("tasks"):
            reasons = "; ".join(f.get("reason", "?") for f in resp.get("failures", []))
            raise RuntimeError(f"ECS RunTask started no task: {reasons}")
        return resp["tasks"][0]["taskArn"]

    def terminate(self, job_id: str, reason: str) -> None:
        self._ecs.stop_task(cluster=self._cfg.ecs_cluster, task=job_id, reason=reason[:255])

    def describe(self, job_ids: list[str]) -> dict:
        from dagtrail.events.models import EcsTaskDetail
        from dagtrail.runs.advance import from_ecs_detail

        found = {}
        for i in range(0, len(job_ids), 100):  # DescribeTasks takes at most 100 tasks
            resp = self._ecs.describe_tasks(cluster=self._cfg.ecs_cluster, tasks=job_ids[i:i + 100])
            for task in resp["tasks"]:
                found[task["taskArn"]] = from_ecs_detail(EcsTaskDetail.model_validate(task))
        return found

    def _definition_for(self, image: str) -> str:
        if image in _DEFINITIONS:
            return _DEFINITIONS[image]
        family = definition_name("dagtrail", image)
        try:
            latest = self._ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
            if latest["containerDefinitions"][0].get("image") == image:
                _DEFINITIONS[image] = latest["taskDefinitionArn"]
                return _DEFINITIONS[image]
        except ClientError:
            pass  # first use of this image
        template = self._ecs.describe_task_definition(taskDefinition=self._cfg.ecs_task_definition)
        base: dict[str, Any] = template["taskDefinition"]
        container = dict(base["containerDefinitions"][0], name=CONTAINER, image=image)
        kwargs = {k: base[k] for k in ("taskRoleArn", "executionRoleArn", "networkMode", "cpu", "memory",
                                       "requiresCompatibilities") if k in base}
        arn = self._ecs.register_task_definition(
            family=family, containerDefinitions=[container], **kwargs,
        )["taskDefinition"]["taskDefinitionArn"]
        _DEFINITIONS[image] = arn
        return arn
