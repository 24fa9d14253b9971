"""The wrapper's manifest is the same JSON the pydantic model writes, and read_manifest reads it."""

import json

from dagtrail.results.manifest import Manifest, ManifestEntry, write_atomically
from dagtrail.results.store import read_manifest
from dagtrail.task import manifest
from dagtrail.task.outputs import Entry

ENTRIES = [Entry("a.txt", 2, "ab" * 32, "e1"), Entry("sub/b.bin", 10, "cd" * 32, "e2-3")]
PREFIX = "s3://res/wf/run/t/1/"


def test_same_bytes_as_write_atomically(tmp_path):
    model = Manifest(task="t", attempt=1, prefix=PREFIX,
                     artifacts=[ManifestEntry(name=e.name, size=e.size, sha256=e.sha256, etag=e.etag) for e in ENTRIES])
    written = write_atomically(model, tmp_path).read_bytes()
    assert manifest.render("t", 1, PREFIX, ENTRIES) == written


def test_read_manifest_parses_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGTRAIL_RESULTS_DIR", str(tmp_path))
    target = tmp_path / "wf/run/t/1/manifest.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(manifest.render("t", 1, PREFIX, ENTRIES))
    parsed = read_manifest(PREFIX)
    assert [(e.name, e.size, e.sha256, e.etag) for e in parsed.artifacts] == \
        [(e.name, e.size, e.sha256, e.etag) for e in ENTRIES]
    assert parsed.uri(parsed.artifacts[1]) == PREFIX + "sub/b.bin"
    assert json.loads(target.read_text())["attempt"] == 1
