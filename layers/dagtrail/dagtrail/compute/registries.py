"""Which registries task images may come from (DAGTRAIL_ALLOWED_REGISTRIES; empty = any).

An entry is a registry host (`123456789012.dkr.ecr.us-east-1.amazonaws.com`, `ghcr.io`,
`docker.io` for Docker Hub) or a host and path prefix (`ghcr.io/acme`). Images without a
registry host (`python:3.13-slim`, `acme/tool`) come from Docker Hub, as a container
runtime resolves them.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagtrail.errors import DagtrailError

DOCKER_HUB = "docker.io"


class ImageNotAllowed(DagtrailError):
    """A task image from a registry outside the allowed list."""


# Lambda reports the class name as the error type the state machine (and the run) shows.
ImageNotAllowed.__name__ = ImageNotAllowed.__qualname__ = "dagtrail.ImageNotAllowed"


def registry_of(image: str) -> tuple[str, str]:
    """(registry host, repository path) of an image reference."""
    first, sep, rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower(), rest
    return DOCKER_HUB, image if sep else f"library/{image}"


def allowed(image: str, registries: Sequence[str]) -> bool:
    if not registries:
        return True
    host, path = registry_of(image)
    for entry in registries:
        entry_host, _, entry_path = entry.strip().rstrip("/").partition("/")
        if entry_host.lower() != host:
            continue
        if not entry_path or path == entry_path or path.startswith(entry_path + "/"):
            return True
    return False


def check_image(image: str, registries: Sequence[str], *, task: str) -> None:
    if not allowed(image, registries):
        host, _ = registry_of(image)
        raise ImageNotAllowed(f"task {task!r}: image {image!r} is from {host}, not an allowed registry "
                              f"(DAGTRAIL_ALLOWED_REGISTRIES: {', '.join(registries)})")
