"""The SAM tooling this repository runs: .venv-sam's binaries, and the functions' runtime
(python3.13) that `sam build` needs on PATH. Shared by tests/integration/test_template.py
and bench/cold_start.py. Standard library only: the bench imports it outside pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAM_BIN = REPO / ".venv-sam" / "bin"


def python313() -> Path | None:
    """sam build needs the functions' runtime on PATH; pyenv's shim alone is not enough."""
    if shutil.which("pyenv"):
        done = subprocess.run(["pyenv", "which", "python3.13"], capture_output=True, text=True,
                              env={**os.environ, "PYENV_VERSION": "3.13.0"})
        if done.returncode == 0 and done.stdout.strip():
            return Path(done.stdout.strip())
    found = shutil.which("python3.13")
    return Path(found) if found else None


def sam_env(**extra: str) -> dict[str, str]:
    """The environment for SAM tools: never a real endpoint or account, no telemetry, python3.13 first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               SAM_CLI_TELEMETRY="0", **extra)
    runtime = python313()
    if runtime:
        env["PATH"] = f"{runtime.parent}{os.pathsep}{env.get('PATH', '')}"
    return env
