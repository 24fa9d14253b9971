"""manifest.json for the wrapper, without pydantic.

The JSON is byte-for-byte what dagtrail.results.manifest.write_atomically writes for the same
Manifest (a test holds them equal), so read_manifest parses it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from dagtrail.task.outputs import Entry


def render(task: str, attempt: int, prefix: str, entries: Iterable[Entry]) -> bytes:
    doc = {"task": task, "attempt": attempt, "prefix": prefix, "artifacts": [e.as_dict() for e in entries]}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
