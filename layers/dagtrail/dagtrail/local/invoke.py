"""`dagtrail invoke`: one handler from template.yaml, in-process, against an emulated account.

The Docker-free `sam local invoke`. The function's CodeUri and Handler come from the
template; the account is moto in-process with the resources local mode creates
(services.create_resources) plus a state machine per statemachines/*.asl.json (named
`<stack>-<workflow>` as template.yaml names them, for the stack the samples in events/
use; never executed), the alarm topic and, when the function's IAM policy uses Batch or
ECS, a Batch queue and job definition (moto marks jobs SUCCEEDED without running them)
and an ECS cluster and task definition. Each invocation gets a fresh account; only <workdir>
persists: results are read from <workdir>/results (where `dagtrail run` leaves them) and
the lineage records the handler emits are drained from the queue into
<workdir>/lineage.db, as the lineage writer would.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from dagtrail import aws
from dagtrail.errors import DagtrailError, NotFoundError
from dagtrail.local import moto_patches, services
from dagtrail.local.handlers import REPO_ROOT, LambdaContext

log = logging.getLogger(__name__)

FUNCTION_TYPE = "AWS::Serverless::Function"
_SERVICE_ACTION = re.compile(r"\b(batch|ecs):[A-Za-z*]+")
# Step Functions executions are not run here: a started run is the handler's whole effect.
MOTO_CONFIG = {**services.MOTO_CONFIG, "stepfunctions": {"execute_state_machine": False}}


class HandlerFailed(DagtrailError):
    """The handler raised. Exit code 1, as a Lambda function error."""

    exit_code = 1


@dataclass(frozen=True)
class FunctionRef:
    logical_id: str
    code_dir: Path
    module: str  # dotted, relative to code_dir
    attribute: str
    environment: Mapping[str, str] = field(default_factory=dict)
    services: frozenset[str] = frozenset()  # Batch / ECS, when its IAM policy grants actions there
    timeout_seconds: int = 3  # Lambda's defaults, as sam local uses them
    memory_mb: int = 128


@dataclass
class Invocation:
    result: Any
    lineage_records: int


def resolve_function(template: Path, logical_id: str) -> FunctionRef:
    """CodeUri, Handler, literal environment variables, Timeout and MemorySize of
    `logical_id` (the function's properties over Globals', as sam merges them)."""
    from dagtrail.events.routing import load_template  # reads !Ref, !Sub, ... as long form

    doc = load_template(template)
    resources = doc["Resources"]
    functions = sorted(k for k, v in resources.items() if isinstance(v, dict) and v.get("Type") == FUNCTION_TYPE)
    resource = resources.get(logical_id)
    if not isinstance(resource, dict) or resource.get("Type") != FUNCTION_TYPE:
        raise NotFoundError(f"{template}: no {FUNCTION_TYPE} {logical_id!r} (functions: {', '.join(functions)})")
    props = resource.get("Properties") or {}
    defaults = (doc.get("Globals") or {}).get("Function") or {}
    code_uri, handler = props.get("CodeUri", defaults.get("CodeUri")), props.get("Handler", defaults.get("Handler"))
    if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
        raise DagtrailError(f"{template}: {logical_id}: needs a local CodeUri and a Handler 'module.function'")
    module, _, attribute = handler.rpartition(".")
    code_dir = (template.parent / code_uri).resolve()
    if not (code_dir / (module.replace(".", "/") + ".py")).is_file():
        raise NotFoundError(f"{template}: {logical_id}: handler module {module!r} not found in {code_dir}")
    # Literal variables only (POWERTOOLS_SERVICE_NAME, PYDANTIC_DISABLE_PLUGINS, ...):
    # references to stack resources are replaced by the local ones.
    variables = {**((defaults.get("Environment") or {}).get("Variables") or {}),
                 **((props.get("Environment") or {}).get("Variables") or {})}
    env = {k: str(v) for k, v in variables.items() if isinstance(v, (str, int, float, bool))}
    granted = frozenset(m.group(1) for m in _SERVICE_ACTION.finditer(json.dumps(props.get("Policies", []))))
    timeout = props.get("Timeout", defaults.get("Timeout", 3))
    memory = props.get("MemorySize", defaults.get("MemorySize", 128))
    if not isinstance(timeout, int) or not isinstance(memory, int):
        raise DagtrailError(f"{template}: {logical_id}: Timeout and MemorySize must be literal numbers here")
    return FunctionRef(logical_id, code_dir, module, attribute, env, granted, timeout, memory)


def invoke(logical_id: str, event: Any, workdir: Path, template: Path | None = None) -> Invocation:
    """Run the handler once; HandlerFailed if it raised."""
    template = template or REPO_ROOT / "template.yaml"
    ref = resolve_function(template, logical_id)
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    with emulated_account(workdir) as stack:
        local = services.environment(workdir)
        with environment({**_account(stack, ref.services),
                          **{k: v for k, v in ref.environment.items() if k not in local}}), \
                _handler_logs(workdir / "handlers.log") as logs:
            handler = _load(ref, logs)
            try:
                result = handler(event, LambdaContext(function_name=ref.logical_id, memory_limit_in_mb=ref.memory_mb,
                                                      timeout_seconds=ref.timeout_seconds))
            except Exception as exc:
                log.debug("handler raised", exc_info=True)
                first = str(exc).splitlines()[0] if str(exc) else ""
                raise HandlerFailed(f"{logical_id} raised {type(exc).__name__}: {first}"[:500]) from exc
            finally:
                written = _drain_lineage(stack.lineage_queue_url)
            return Invocation(result=result, lineage_records=written)


# ---------------------------------------------------------------- the emulated account


@contextmanager
def emulated_account(workdir: Path) -> Iterator[services.LocalStack]:
    """A fresh moto account holding local mode's resources, with the handlers' environment
    for `workdir`, for as long as the block runs (also the delivery-chaos replays' account)."""
    from moto import mock_aws

    previous = services.apply_environment(workdir)
    try:
        with environment({"DAGTRAIL_LINEAGE_QUEUE_URL": None}), mock_aws(config=MOTO_CONFIG):
            aws.reset_clients()
            stack = services.create_resources()
            services.create_functions(stack)
            yield stack
    finally:
        services.restore_environment(previous)


def _account(stack: services.LocalStack, granted: frozenset[str]) -> dict[str, str | None]:
    """What the function may touch beyond local mode's resources; its environment."""
    env: dict[str, str | None] = {
        "DAGTRAIL_INPUTS_PREFIX": "inputs/",
        # Any bucket: the samples in events/ name the deployed stack's buckets.
        "DAGTRAIL_INPUTS_BUCKET": None,
        "DAGTRAIL_STATE_MACHINE_ARN": None,
        "DAGTRAIL_STATE_MACHINE_PREFIX": None,
        "DAGTRAIL_ALARM_TOPIC_ARN": None,
    }
    env["DAGTRAIL_STATE_MACHINE_PREFIX"] = _state_machines(stack)
    env["DAGTRAIL_ALARM_TOPIC_ARN"] = aws.client("sns").create_topic(Name=f"{_stack_name()}-alarms")["TopicArn"]
    # Batch and ECS take seconds to load in moto: only for functions whose policy uses them.
    if granted & {"batch", "ecs"}:
        env.update(_compute_resources(stack))
    return env


def _stack_name() -> str:
    from dagtrail.events.routing import DEFAULT_PSEUDO

    return DEFAULT_PSEUDO["AWS::StackName"]


def _state_machines(stack: services.LocalStack) -> str:
    """One machine per compiled workflow, named as template.yaml names them; returns the
    name prefix as an ARN (DAGTRAIL_STATE_MACHINE_PREFIX)."""
    sfn = aws.client("stepfunctions")
    name_prefix = f"{_stack_name()}-"
    for path in sorted((REPO_ROOT / "statemachines").glob("*.asl.json")):
        definition = moto_patches.definition_text(json.loads(path.read_text()))
        for function, arn in stack.function_arns.items():
            definition = definition.replace("${%sArn}" % function, arn)
        sfn.create_state_machine(name=name_prefix + path.name.removesuffix(".asl.json"),
                                 definition=definition, roleArn=stack.role_arn)
    return f"arn:aws:states:{services.REGION}:{services.ACCOUNT}:stateMachine:{name_prefix}"


def _compute_resources(stack: services.LocalStack) -> dict[str, str | None]:
    """Batch (moto marks submitted jobs SUCCEEDED without running them) and ECS."""
    batch = aws.client("batch")
    env_arn = batch.create_compute_environment(
        computeEnvironmentName="dagtrail-local", type="UNMANAGED", state="ENABLED", serviceRole=stack.role_arn,
    )["computeEnvironmentArn"]
    queue = batch.create_job_queue(
        jobQueueName="dagtrail-local", state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env_arn}],
    )["jobQueueArn"]
    definition = batch.register_job_definition(
        jobDefinitionName="dagtrail-base", type="container", platformCapabilities=["EC2"],
        containerProperties={"image": "python:3.13-slim", "resourceRequirements": [
            {"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}]},
    )["jobDefinitionArn"]
    ecs = aws.client("ecs")
    cluster = ecs.create_cluster(clusterName="dagtrail-local")["cluster"]["clusterName"]
    task_definition = ecs.register_task_definition(
        family="dagtrail-base", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="1024",
        memory="2048", containerDefinitions=[{"name": "task", "image": "python:3.13-slim", "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]
    return {
        "DAGTRAIL_COMPUTE_BACKEND": "aws",
        "DAGTRAIL_JOB_QUEUE": queue, "DAGTRAIL_JOB_DEFINITION": definition,
        "DAGTRAIL_ECS_CLUSTER": cluster, "DAGTRAIL_ECS_TASK_DEFINITION": task_definition,
        "DAGTRAIL_ECS_SUBNETS": "subnet-00000000", "DAGTRAIL_ECS_SECURITY_GROUPS": "sg-00000000",
    }


def _drain_lineage(queue_url: str) -> int:
    """What the lineage_writer's event source mapping does: queue → graph. Returns records written."""
    sqs = aws.client("sqs")
    bodies: list[str] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in messages]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    if not bodies:
        return 0
    from dagtrail import settings
    from dagtrail.lineage.graph import cached, forget_cached
    from dagtrail.lineage.writer import parse_body, write

    url = settings.load().graph_url
    try:
        records = [r for body in bodies for r in parse_body(body)]
        write(cached(url), records)
    except Exception as exc:
        raise DagtrailError(f"lineage records could not be written to {url}: {exc}") from exc
    finally:
        forget_cached()
    return len(records)


# ---------------------------------------------------------------- loading the handler


def _load(ref: FunctionRef, log_stream: _LogStream) -> Any:
    path = ref.code_dir / (ref.module.replace(".", "/") + ".py")
    name = f"dagtrail_invoke_{ref.logical_id}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ref.code_dir))  # Lambda puts the code root on the path
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ref.code_dir))
    _quiet(module, log_stream)
    handler = getattr(module, ref.attribute, None)
    if not callable(handler):
        raise NotFoundError(f"{path}: no function {ref.attribute!r}")
    return handler


class _LogStream:
    """The handler's log file; remembers whose streams it took so they get them back."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.taken: list[tuple[logging.StreamHandler, Any]] = []

    def take(self, handler: logging.StreamHandler) -> None:
        self.taken.append((handler, handler.setStream(self.stream)))

    def give_back(self) -> None:
        for handler, previous in reversed(self.taken):
            handler.setStream(previous)


def _quiet(module: ModuleType, logs: _LogStream) -> None:
    # Powertools logs to stdout; stdout is for the handler's result.
    logger = getattr(module, "logger", None)
    if logger is not None:
        for handler in logging.getLogger(logger.name).handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is not logs.stream:
                logs.take(handler)


@contextmanager
def _handler_logs(path: Path) -> Iterator[_LogStream]:
    import warnings

    with path.open("a") as stream, warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="aws_lambda_powertools")
        warnings.filterwarnings("ignore", message="No application metrics")
        logs = _LogStream(stream)
        try:
            yield logs
        finally:
            logs.give_back()


@contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for None, unset) these variables for the block; AWS clients follow them."""
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    aws.reset_clients()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        aws.reset_clients()


def load_event(path: Path) -> Any:
    """The event JSON from a file, or from stdin for '-'."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
        return json.loads(text)
    except OSError as exc:
        raise DagtrailError(f"{path}: cannot read event ({exc.strerror})") from None
    except ValueError as exc:
        raise DagtrailError(f"{path}: not JSON ({exc})") from None
