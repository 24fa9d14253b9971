"""Per-image definitions: Batch and ECS fix the image in a definition, not at submit time."""

from __future__ import annotations

import hashlib


def definition_name(prefix: str, image: str) -> str:
    return f"{prefix}-{hashlib.sha256(image.encode()).hexdigest()[:16]}"


def is_throttle(error_code: str, http_status: int | None) -> bool:
    return http_status == 429 or error_code in {
        "TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded",
    }
