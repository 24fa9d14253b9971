"""manifest.json: the list of an attempt's outputs, written last so its presence means done."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pydantic import BaseModel, Field

from dagtrail.results.layout import MANIFEST


class ManifestEntry(BaseModel):
    name: str  # path relative to the attempt's prefix, '/'-separated
    size: int
    sha256: str
    etag: str | None = None


class Manifest(BaseModel):
    task: str
    attempt: int
    prefix: str
    artifacts: list[ManifestEntry] = Field(default_factory=list)

    def uri(self, entry: ManifestEntry) -> str:
        return self.prefix + entry.name


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def build_for_dir(directory: Path, *, task: str, attempt: int, prefix: str) -> Manifest:
    """Manifest of every regular file under `directory` (symlinks are not outputs)."""
    entries = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            rel = path.relative_to(directory).as_posix()
            if rel == MANIFEST or path.is_symlink():
                continue
            entries.append(ManifestEntry(name=rel, size=path.stat().st_size, sha256=sha256_file(path)))
    return Manifest(task=task, attempt=attempt, prefix=prefix, artifacts=entries)


def write_atomically(manifest: Manifest, directory: Path) -> Path:
    target = directory / MANIFEST
    tmp = directory / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest.model_dump(), indent=2, sort_keys=True) + "\n")
    tmp.replace(target)
    return target
