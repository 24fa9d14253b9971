"""Upload one file: multipart with a bounded number of parts in flight, sha256 while streaming.

Parts are not held in memory: each part's request body is a window onto the file, read as
botocore sends it (as s3transfer's upload_file does), so memory does not grow with part
size or concurrency. The sha256 is computed in one sequential pass that runs ahead of the
part uploads by at most `concurrency` parts, and computes each part's CRC32 on the way:
handed to S3 as the part's checksum, it spares botocore a read of the part to compute it,
so the wrapper reads no more than upload_file does. A failure or cancellation aborts the multipart
upload, so S3 never keeps a partial object; a file that changes while it is read is caught
by the caller (its size and mtime move) and uploaded again.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import os
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from dagtrail.task.errors import UploadAborted

log = logging.getLogger("dagtrail.task")

MiB = 1 << 20
MAX_PARTS = 10_000  # S3's limit per multipart upload
HASH_CHUNK = MiB


@dataclass(frozen=True)
class Uploaded:
    size: int
    sha256: str
    etag: str


class FileChanged(Exception):
    """The file shrank while it was read; its upload is void."""


class FileRange:
    """A seekable read-only window [offset, offset + length) of an open file: one part's body.

    Reads with pread on the descriptor the sha256 pass holds, so every part comes from the
    same file even if another is renamed over its path meanwhile, and parts share no offset.
    """

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self._fd, self._offset, self._length, self._pos = fd, offset, length, 0

    def read(self, n: int | None = -1) -> bytes:
        remaining = self._length - self._pos
        n = remaining if n is None or n < 0 or n > remaining else n
        data = os.pread(self._fd, n, self._offset + self._pos) if n else b""
        self._pos += len(data)
        return data

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._length}[whence]
        self._pos = max(0, min(base + pos, self._length))
        return self._pos

    def tell(self) -> int:
        return self._pos

    def __len__(self) -> int:
        return self._length


class Uploader:
    def __init__(self, client: Any, bucket: str, *, part_size: int = 8 * MiB, concurrency: int = 10,
                 cancel: threading.Event | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.part_size = part_size
        self.cancel = cancel or threading.Event()
        # One limit for the whole process, however many files upload at once.
        self._slots = threading.BoundedSemaphore(concurrency)
        self._parts = ThreadPoolExecutor(concurrency, thread_name_prefix="part")

    def close(self) -> None:
        self._parts.shutdown(wait=True)

    def upload_file(self, path: str, key: str) -> Uploaded:
        if self.cancel.is_set():
            raise UploadAborted()
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            # Parts grow for files that would otherwise need more than MAX_PARTS of them.
            part_size = self.part_size
            if size > part_size * MAX_PARTS:
                part_size = math.ceil(size / MAX_PARTS / MiB) * MiB
            if size <= part_size:
                return self._single(fh, key, size)
            # The parts read fh's descriptor: this returns only once none is in flight.
            return self._multipart(fh, key, size, part_size)

    def _single(self, fh, key: str, size: int) -> Uploaded:
        digest = hashlib.sha256()
        crc = _hash_range(fh, size, digest)
        body = FileRange(fh.fileno(), 0, size)
        etag = self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ChecksumCRC32=crc)["ETag"]
        return Uploaded(size=size, sha256=digest.hexdigest(), etag=etag.strip('"'))

    def _multipart(self, fh, key: str, size: int, part_size: int) -> Uploaded:
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key,
                                                        ChecksumAlgorithm="CRC32")["UploadId"]
        digest = hashlib.sha256()
        futures: list[Future] = []
        pending: list[Future] = []
        try:
            for number, offset in enumerate(range(0, size, part_size), start=1):
                length = min(part_size, size - offset)
                crc = _hash_range(fh, length, digest)
                self._acquire_slot()
                try:
                    future = self._parts.submit(self._part, fh.fileno(), key, upload_id, number, offset, length, crc)
                except BaseException:
                    self._slots.release()
                    raise
                futures.append(future)
                pending = [f for f in pending if not _finished(f)] + [future]
            parts = [f.result() for f in futures]
            if self.cancel.is_set():
                raise UploadAborted()
            etag = self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts},
            )["ETag"]
        except BaseException:
            # A part still in flight would land after the abort and be stored: let it finish.
            wait(futures)
            self._abort(key, upload_id)
            raise
        return Uploaded(size=size, sha256=digest.hexdigest(), etag=etag.strip('"'))

    def _acquire_slot(self) -> None:
        while not self._slots.acquire(timeout=0.1):
            if self.cancel.is_set():
                raise UploadAborted()
        if self.cancel.is_set():
            self._slots.release()
            raise UploadAborted()

    def _part(self, fd: int, key: str, upload_id: str, number: int, offset: int, length: int,
              crc: str) -> dict:
        try:
            response = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                               Body=FileRange(fd, offset, length), ChecksumCRC32=crc)
        finally:
            self._slots.release()
        return {"ETag": response["ETag"], "PartNumber": number, "ChecksumCRC32": crc}

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            log.info("aborted the multipart upload of %s", key)
        except Exception:  # the bucket's AbortIncompleteMultipartUpload rule is the backstop
            log.warning("could not abort the multipart upload of %s (%s)", key, upload_id, exc_info=True)


def _finished(future: Future) -> bool:
    """True once done; re-raises a failed part's error so the upload stops early."""
    if not future.done():
        return False
    if (exc := future.exception()) is not None:
        raise exc
    return True


def _hash_range(fh, length: int, digest) -> str:
    """Feed the next `length` bytes to the file's sha256; return their CRC32 as S3 wants it."""
    crc = 0
    while length:
        chunk = fh.read(min(HASH_CHUNK, length))
        if not chunk:
            raise FileChanged(f"{fh.name} shrank while it was read")
        digest.update(chunk)
        crc = zlib.crc32(chunk, crc)
        length -= len(chunk)
    return base64.b64encode(crc.to_bytes(4, "big")).decode()
