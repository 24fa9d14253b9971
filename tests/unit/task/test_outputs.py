"""OutputSync: upload closed files once, re-upload changed ones, list only final versions."""

import hashlib
import os

import pytest

from dagtrail import aws
from dagtrail.task.errors import UploadFailed
from dagtrail.task.outputs import OutputSync
from dagtrail.task.upload import Uploader

BUCKET = "results"
PREFIX = "wf/run/t/1/"


class Writers:
    """Stands in for /proc: the test says which files are open for writing."""

    def __init__(self):
        self.open = set()

    def __call__(self, root):
        return {os.path.join(root, name) for name in self.open}


@pytest.fixture
def s3(aws_mock):
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def sync(s3, tmp_path):
    writers = Writers()
    out = tmp_path / "out"
    out.mkdir()
    sync = OutputSync(str(out), Uploader(s3, BUCKET), PREFIX, writers=writers)
    sync.writers, sync.dir = writers, out
    yield sync
    sync.close()
    sync.uploader.close()


def keys(s3):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def poll(sync):
    sync.poll()
    sync.drain()


def test_a_file_is_uploaded_once_it_is_closed_and_stable(sync, s3):
    (sync.dir / "a.txt").write_text("one")
    sync.writers.open.add("a.txt")
    poll(sync)
    poll(sync)
    assert keys(s3) == []  # stable, but still open for writing
    sync.writers.open.clear()
    poll(sync)
    assert keys(s3) == [PREFIX + "a.txt"]
    poll(sync)
    assert sync.uploads == 1  # unchanged: not uploaded again


def test_a_growing_file_waits_until_its_size_holds(sync, s3):
    path = sync.dir / "grow.bin"
    for step in range(3):
        with path.open("ab") as fh:
            fh.write(b"x" * 10)
        poll(sync)
        assert keys(s3) == []  # changed since the last poll
    poll(sync)
    assert s3.get_object(Bucket=BUCKET, Key=PREFIX + "grow.bin")["Body"].read() == b"x" * 30


def test_a_file_modified_after_upload_is_uploaded_again_and_listed_once(sync, s3):
    path = sync.dir / "sub" / "r.txt"
    path.parent.mkdir()
    path.write_text("first")
    poll(sync)
    poll(sync)
    assert sync.uploads == 1
    path.write_text("second, longer")
    entries = sync.finish()
    assert sync.uploads == 2
    assert [(e.name, e.size, e.sha256) for e in entries] == \
        [("sub/r.txt", 14, hashlib.sha256(b"second, longer").hexdigest())]
    assert s3.get_object(Bucket=BUCKET, Key=PREFIX + "sub/r.txt")["Body"].read() == b"second, longer"


def test_a_file_deleted_after_upload_leaves_s3_and_the_manifest(sync, s3):
    (sync.dir / "scratch.tmp").write_text("temp")
    (sync.dir / "keep.txt").write_text("keep")
    poll(sync)
    poll(sync)
    assert keys(s3) == [PREFIX + "keep.txt", PREFIX + "scratch.tmp"]
    (sync.dir / "scratch.tmp").unlink()
    assert [e.name for e in sync.finish()] == ["keep.txt"]
    assert keys(s3) == [PREFIX + "keep.txt"]


def test_finish_uploads_everything_left_without_waiting(sync, s3):
    (sync.dir / "late.txt").write_text("late")
    sync.writers.open.add("late.txt")  # the command has exited: nothing can hold it open now
    assert [e.name for e in sync.finish()] == ["late.txt"]


def test_symlinks_and_reserved_names_are_not_outputs(sync, s3, tmp_path):
    (tmp_path / "target.txt").write_text("t")
    (sync.dir / "link.txt").symlink_to(tmp_path / "target.txt")
    (sync.dir / "manifest.json").write_text("{}")
    (sync.dir / "_logs").mkdir()
    (sync.dir / "_logs" / "tail.txt").write_text("mine")
    (sync.dir / "_logs" / "other.txt").write_text("fine")
    assert [e.name for e in sync.finish()] == ["_logs/other.txt"]


def test_a_failed_upload_fails_finish(s3, tmp_path):
    class Broken:
        bucket = BUCKET
        client = s3

        def upload_file(self, path, key):
            raise ConnectionError("simulated")

    (tmp_path / "a.txt").write_text("a")
    sync = OutputSync(str(tmp_path), Broken(), PREFIX, writers=lambda root: set())
    with pytest.raises(UploadFailed, match=r"1 output\(s\) not uploaded: a.txt \(ConnectionError: simulated\)"):
        sync.finish()
    sync.close()
