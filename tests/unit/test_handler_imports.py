"""What each handler loads at cold start, checked by module name (not by timing).

Each functions/<name>/app.py is imported in a fresh interpreter with the environment a
Lambda with tracing off has; its sys.modules must not hold the X-Ray SDK, the graph
driver, the YAML parser or local-mode machinery, nor other handlers' event models, nor
Powertools' parser; and the models it may not validate on a given call are left unbuilt
(pydantic's defer_build). bench/cold_start.py times the imports and the first invocation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

FUNCTIONS = sorted(p.parent.name for p in (REPO / "functions").glob("*/app.py"))
# Loaded on first use only: none of these is on a handler's path at import.
NEVER_AT_IMPORT = ("aws_xray_sdk", "gremlin_python", "yaml", "jsonschema", "moto", "gremlite", "boto3",
                   "dagtrail.spec.loader", "dagtrail.local", "dagtrail.cli", "dagtrail.compiler")
# Only submit_task validates a workflow spec at import (it renders the task and submits through
# the compute backends, whose requests carry spec Resources); reconcile loads the backends
# when it finds an open job.
SPEC_USERS = {"submit_task"}
# Each handler's own event models only: the others' detail-types, the shared envelope aside.
EVENT_MODELS = {"dagtrail.events.models": {"job_events", "reconcile"},
                "dagtrail.events.executions": {"execution_events"},
                "dagtrail.triggers.alarm_models": {"alarm_events"},
                "dagtrail.triggers.models": {"start_from_upload", "artifact_events"}}
# Never at import: Powertools' parser utility (submit_task validates its model itself), the
# compute backends outside submit_task, the lineage records outside the handlers that emit them.
NOT_AT_IMPORT = {"aws_lambda_powertools.utilities.parser": set(FUNCTIONS),
                 "dagtrail.compute": set(FUNCTIONS) - {"submit_task"},
                 "dagtrail.lineage.records": set(FUNCTIONS) - {"artifact_events", "lineage_writer"}}


def _modules(function: str, env: dict[str, str]) -> set[str]:
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import app; "
            "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code, str(REPO / "functions" / function)], env=env,
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout))


def _lambda_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POWERTOOLS_TRACE", "LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL", "AWS_CHALICE"))}
    return env | {"PYTHONPATH": str(REPO / "layers" / "dagtrail"), "POWERTOOLS_SERVICE_NAME": "t"} | extra


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_import_leaves_heavy_modules_for_later(function):
    modules = _modules(function, _lambda_env(POWERTOOLS_TRACE_DISABLED="true"))
    assert [name for name in NEVER_AT_IMPORT if _loaded(modules, name)] == []
    if function not in SPEC_USERS:
        assert not _loaded(modules, "dagtrail.spec"), f"{function} imports dagtrail.spec"
    for module, users in EVENT_MODELS.items():
        assert (module in modules) == (function in users), f"{function} and {module}"
    for module, never in NOT_AT_IMPORT.items():
        if function in never:
            assert not _loaded(modules, module), f"{function} imports {module}"


# Built on first validation (defer_build): at import a handler defines its models but builds
# none of these. Those used on every call (advance's JobUpdate, ...) may be built at import.
DEFERRED = {"dagtrail.runs.models": ("JobRecord", "TaskRecord", "RunRecord", "SubmitTaskInput"),
            "dagtrail.events.models": ("BatchJobStateChange", "EcsTaskStateChange"),
            "dagtrail.events.executions": ("ExecutionStatusChange",),
            "dagtrail.triggers.models": ("ObjectCreated", "S3NotificationRecord", "S3Object", "UploadResult",
                                         "ArtifactResult"),
            "dagtrail.triggers.alarm_models": ("AlarmStateChange", "AlarmResult"),
            "dagtrail.sweeps.foreach": ("Foreach", "RangeSpec")}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_import_builds_no_model_it_may_not_validate(function):
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import app, importlib; "
            "d = json.loads(sys.argv[2]); "
            "print(json.dumps([f'{m}.{n}' for m, names in d.items() if m in sys.modules for n in names "
            "if getattr(sys.modules[m], n).__pydantic_complete__]))")
    done = subprocess.run([sys.executable, "-c", code, str(REPO / "functions" / function), json.dumps(DEFERRED)],
                          env=_lambda_env(POWERTOOLS_TRACE_DISABLED="true"), capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_inside_lambda_with_tracing_on_the_handler_traces_with_xray():
    """Tracing: Active on AWS: LAMBDA_TASK_ROOT set, POWERTOOLS_TRACE_DISABLED unset."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import app; "
            "from aws_lambda_powertools import Tracer; "
            "assert isinstance(app.tracer, Tracer) and not app.tracer.disabled, app.tracer; "
            "assert 'aws_xray_sdk.core' in sys.modules")
    env = _lambda_env(LAMBDA_TASK_ROOT=str(REPO / "functions" / "job_events"))
    done = subprocess.run([sys.executable, "-c", code, str(REPO / "functions" / "job_events")], env=env,
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
