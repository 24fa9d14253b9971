"""Where a running task writes its files: everything there is uploaded and recorded in lineage."""

from __future__ import annotations

import os
from pathlib import Path

from dagtrail.errors import DagtrailError


def outputs() -> Path:
    """The task's output directory ($DAGTRAIL_OUTPUT_DIR), created if missing."""
    value = os.environ.get("DAGTRAIL_OUTPUT_DIR")
    if not value:
        raise DagtrailError("outputs() is only available inside a running task (DAGTRAIL_OUTPUT_DIR is not set); "
                            "to try a task function by hand, set DAGTRAIL_OUTPUT_DIR to a scratch directory")
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    return path
