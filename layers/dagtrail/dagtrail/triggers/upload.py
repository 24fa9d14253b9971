"""start_from_upload: an object created under inputs/<workflow>/ starts that workflow once.

The execution name is a hash of (bucket, key, version id — or the sequencer when the bucket
is unversioned), so every delivery of one upload, in either S3 event form, asks Step
Functions for the same execution: StartExecution with a name already used is idempotent
while that run is going and ExecutionAlreadyExists after (for 90 days), so one upload
starts one run. Re-uploading the same key is a new version, hence a new run.

Execution input (docs/internals.md): `{"params": defaults | {"input_bucket", "input_key",
"input_version"}}` — the key decoded, the version "" for an unversioned bucket; `defaults`
are the parameter defaults `dagtrail deploy` records in the machine's Comment
(dagtrail.stack.machines), none for a machine deployed without that record.

State machine: DAGTRAIL_STATE_MACHINE_ARN when set (every upload starts it), else
DAGTRAIL_STATE_MACHINE_PREFIX + <workflow> (template.yaml names each machine
"<stack>-<workflow>").
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
from typing import Any

from botocore.exceptions import ClientError

from dagtrail import aws, settings
from dagtrail.errors import DagtrailError
from dagtrail.names import WORKFLOW_NAME
from dagtrail.triggers.models import S3Object, UploadResult, report
from dagtrail.triggers.s3_events import objects_created

log = logging.getLogger(__name__)

NAME_MAX = 80  # Step Functions execution names
DIGEST_CHARS = 24  # 96 bits of sha256: collisions are not a practical concern
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")  # what names may hold when the machine logs to CloudWatch


class TriggerConfigError(DagtrailError):
    """The trigger's environment names no state machine to start."""


def handle(event: Any) -> dict[str, Any]:
    """The handler's whole job: every created object in `event` → a result."""
    objects, reasons = objects_created(event)
    results = [start_from_upload(obj) for obj in objects]
    return report(results, "; ".join(reasons) or "no S3 objects in the event")


def start_from_upload(obj: S3Object, cfg: settings.Settings | None = None) -> UploadResult:
    cfg = cfg or settings.load()
    workflow, why = check_key(obj, cfg)
    if workflow is None:
        log.info("upload ignored", extra={"uri": obj.uri, "reason": why})
        return UploadResult(status="ignored", uri=obj.uri, ignored=why)
    machine = state_machine_arn(workflow, cfg)
    name = execution_name(obj, workflow)
    common = {"uri": obj.uri, "workflow": workflow, "execution_name": name, "state_machine_arn": machine}
    sfn = aws.client("stepfunctions")
    try:
        defaults = deployed_defaults(machine)
        resp = sfn.start_execution(stateMachineArn=machine, name=name, input=execution_input(obj, defaults))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ExecutionAlreadyExists":
            return UploadResult(status="duplicate", execution_arn=_execution_arn(machine, name), **common)
        if code == "StateMachineDoesNotExist":
            # An upload to a folder no deployed workflow owns: retrying will not help.
            return UploadResult(status="ignored", ignored=f"no state machine for workflow {workflow!r} "
                                f"({machine})", **common)
        raise
    log.info("run started", extra={**common, "execution_arn": resp["executionArn"]})
    return UploadResult(status="started", execution_arn=resp["executionArn"], **common)


def check_key(obj: S3Object, cfg: settings.Settings) -> tuple[str | None, str]:
    """(workflow, "") for an upload we start runs for; (None, why) otherwise."""
    if cfg.inputs_bucket and obj.bucket != cfg.inputs_bucket:
        return None, f"bucket {obj.bucket!r} is not the inputs bucket {cfg.inputs_bucket!r}"
    prefix = cfg.inputs_prefix
    if not obj.key.startswith(prefix):
        return None, f"key {obj.key!r} is outside the inputs prefix {prefix!r}"
    if any(part in ("..", ".") for part in obj.key.split("/")):
        return None, f"key {obj.key!r} has a '.' or '..' segment"
    workflow, sep, rest = obj.key[len(prefix):].partition("/")
    if not sep or not rest:
        return None, f"key {obj.key!r} is not under {prefix}<workflow>/"
    if rest.endswith("/"):
        return None, f"key {obj.key!r} is a folder marker, not an input"
    if not WORKFLOW_NAME.match(workflow):
        return None, f"{workflow!r} in key {obj.key!r} is not a workflow name"
    return workflow, ""


def state_machine_arn(workflow: str, cfg: settings.Settings) -> str:
    if cfg.state_machine_arn:
        return cfg.state_machine_arn
    if not cfg.state_machine_prefix:
        raise TriggerConfigError("set DAGTRAIL_STATE_MACHINE_ARN or DAGTRAIL_STATE_MACHINE_PREFIX "
                                 "to say which state machine an upload starts")
    return cfg.state_machine_prefix + workflow


def upload_identity(obj: S3Object) -> str:
    """What makes two deliveries the same upload: the version, else the sequencer."""
    if obj.version_id and obj.version_id != "null":
        return f"version:{obj.version_id}"
    if obj.sequencer:
        return f"sequencer:{obj.sequencer}"
    return f"etag:{obj.etag or ''}"


def execution_name(obj: S3Object, workflow: str) -> str:
    """`<workflow>-<file stem>-<digest>`, at most 80 characters of [A-Za-z0-9_-]; only the
    digest matters for identity, the rest is for people reading the console."""
    identity = json.dumps([obj.bucket, obj.key, upload_identity(obj)], ensure_ascii=True)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:DIGEST_CHARS]
    stem = posixpath.splitext(posixpath.basename(obj.key))[0]
    readable = _UNSAFE.sub("-", f"{workflow}-{stem}").strip("-_")[: NAME_MAX - DIGEST_CHARS - 1].rstrip("-_")
    return f"{readable}-{digest}" if readable else digest


def deployed_defaults(machine_arn: str) -> dict[str, Any]:
    """The parameter defaults recorded in the deployed machine; {} when it has none."""
    from dagtrail.stack.machines import read_comment

    definition = aws.client("stepfunctions").describe_state_machine(stateMachineArn=machine_arn)["definition"]
    try:
        deployed = read_comment(json.loads(definition))
    except ValueError:  # a Comment that is not ours: no record
        deployed = None
    return dict(deployed.parameters or {}) if deployed else {}


def execution_input(obj: S3Object, defaults: dict[str, Any] | None = None) -> str:
    """Byte-identical for every delivery of one upload (an idempotent StartExecution needs
    the same name *and* input), as long as the deployed defaults are unchanged."""
    params = dict(defaults or {}) | {
        "input_bucket": obj.bucket,
        "input_key": obj.key,
        "input_version": obj.version_id if obj.version_id and obj.version_id != "null" else "",
    }
    return json.dumps({"params": params}, sort_keys=True, separators=(",", ":"))


def _execution_arn(machine_arn: str, name: str) -> str:
    return machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name
