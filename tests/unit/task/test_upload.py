"""Uploads: sha256 while streaming, multipart with bounded memory, abort on failure or cancel."""

import base64
import hashlib
import os
import threading
import zlib

import pytest

from dagtrail import aws
from dagtrail.task.errors import UploadAborted
from dagtrail.task.upload import Uploader

MiB = 1 << 20
BUCKET = "results"


@pytest.fixture
def s3(aws_mock):
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def body(s3, key):
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_a_small_file_is_one_put_with_its_sha256(s3, tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"hello")
    up = Uploader(s3, BUCKET, part_size=5 * MiB).upload_file(str(path), "p/a.txt")
    assert up.size == 5 and up.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert up.etag == s3.head_object(Bucket=BUCKET, Key="p/a.txt")["ETag"].strip('"')
    assert body(s3, "p/a.txt") == b"hello"


def test_a_large_file_goes_multipart_and_arrives_intact(s3, tmp_path):
    data = os.urandom(12 * MiB + 123)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    up = Uploader(s3, BUCKET, part_size=5 * MiB, concurrency=2).upload_file(str(path), "p/big.bin")
    assert (up.size, up.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert up.etag.endswith("-3")
    assert body(s3, "p/big.bin") == data


def test_an_empty_file_is_an_empty_object(s3, tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    up = Uploader(s3, BUCKET).upload_file(str(tmp_path / "empty"), "p/empty")
    assert up.size == 0 and body(s3, "p/empty") == b""


class FailingPart:
    """The S3 client, except that one part fails (after botocore's own retries)."""

    def __init__(self, client, fail_part):
        self._client, self._fail = client, fail_part

    def __getattr__(self, name):
        return getattr(self._client, name)

    def upload_part(self, **kw):
        if kw["PartNumber"] == self._fail:
            raise ConnectionError("simulated network failure")
        return self._client.upload_part(**kw)


def test_a_failed_part_aborts_the_multipart_upload(s3, tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(16 * MiB))
    with pytest.raises(ConnectionError):
        Uploader(FailingPart(s3, 2), BUCKET, part_size=5 * MiB, concurrency=2).upload_file(str(path), "p/big.bin")
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


class CancelAfterFirstPart(FailingPart):
    def __init__(self, client, cancel):
        super().__init__(client, fail_part=None)
        self.cancel = cancel

    def upload_part(self, **kw):
        response = self._client.upload_part(**kw)
        self.cancel.set()  # as SIGTERM's grace running out would, mid-file
        return response


def test_cancelling_mid_file_aborts_the_multipart_upload(s3, tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(20 * MiB))
    cancel = threading.Event()
    uploader = Uploader(CancelAfterFirstPart(s3, cancel), BUCKET, part_size=5 * MiB, concurrency=1, cancel=cancel)
    with pytest.raises(UploadAborted):
        uploader.upload_file(str(path), "p/big.bin")
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


class CountingClient:
    """A fake S3 that records how many parts are in flight at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.parts = {}

    def create_multipart_upload(self, **kw):
        assert kw["ChecksumAlgorithm"] == "CRC32"
        return {"UploadId": "u"}

    def upload_part(self, Body, PartNumber, ChecksumCRC32, **kw):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        data = Body.read()
        assert base64.b64decode(ChecksumCRC32) == zlib.crc32(data).to_bytes(4, "big")
        threading.Event().wait(0.002)  # let other parts overlap
        with self.lock:
            self.parts[PartNumber] = data
            self.in_flight -= 1
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, **kw):
        return {"ETag": '"x-%d"' % len(kw["MultipartUpload"]["Parts"])}

    def abort_multipart_upload(self, **kw):
        raise AssertionError("no abort expected")


def test_parts_in_flight_stay_within_the_concurrency(tmp_path):
    client = CountingClient()
    data = os.urandom(64 * 1024 * 40 + 17)
    (tmp_path / "f").write_bytes(data)
    up = Uploader(client, BUCKET, part_size=64 * 1024, concurrency=3).upload_file(str(tmp_path / "f"), "k")
    assert up.etag == "x-41" and b"".join(client.parts[i] for i in sorted(client.parts)) == data
    assert up.sha256 == hashlib.sha256(data).hexdigest()
    assert client.max_in_flight <= 3
