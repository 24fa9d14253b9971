"""The cache key of a task attempt: what, if unchanged, makes a rerun pointless.

hash(image, argv, env, the sha256 of every input artifact, cache_version). The image is
taken as written: pin images by digest (`repo@sha256:...`) for exact reuse, a mutable tag is
trusted not to change. The run id, attempt and other DAGTRAIL_* variables are left out, so
the same work in another run hits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from dagtrail.results.manifest import Manifest


def cache_key(*, image: str, command: tuple[str, ...] | list[str], env: Mapping[str, str],
              inputs: Mapping[str, Manifest | None], cache_version: str = "") -> str:
    material = {
        "v": 1,
        "image": image,
        "command": list(command),
        "env": dict(sorted(env.items())),
        "inputs": {
            dep: sorted((a.name, a.sha256) for a in manifest.artifacts) if manifest else None
            for dep, manifest in sorted(inputs.items())
        },
        "cache_version": cache_version,
    }
    blob = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()
