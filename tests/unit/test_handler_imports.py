"""What each handler loads at cold start, checked by module name (not by timing).

Each functions/<name>/app.py is imported in a fresh interpreter with the environment a
Lambda with tracing off has; its sys.modules must not hold the X-Ray SDK, the graph
driver, the YAML parser or local-mode machinery. bench/cold_start.py times the imports.
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
NEVER_AT_IMPORT = ("aws_xray_sdk", "gremlin_python", "yaml", "jsonschema", "moto", "gremlite",
                   "dagtrail.spec.loader", "dagtrail.local", "dagtrail.cli", "dagtrail.compiler")
# These validate a workflow spec (submit_task renders the task; reconcile resubmits through
# the compute backends, whose requests carry spec Resources); the others never need it.
SPEC_USERS = {"submit_task", "reconcile"}


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
