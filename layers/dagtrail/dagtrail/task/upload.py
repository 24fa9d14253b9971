"""Upload one file: sha256 computed while streaming, multipart with bounded memory.

Memory is bounded by a byte budget shared by every upload in the process: a part is read
only once the budget has room for it and returns its share when S3 has it, so at most
`part_size × concurrency` bytes of file data are held however many files upload at once.
Any failure or cancellation aborts the multipart upload, so S3 never keeps a partial object.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, BinaryIO

from dagtrail.task.errors import UploadAborted

log = logging.getLogger("dagtrail.task")

MiB = 1 << 20
MAX_PARTS = 10_000  # S3's limit per multipart upload


@dataclass(frozen=True)
class Uploaded:
    size: int
    sha256: str
    etag: str


class Budget:
    """A counting semaphore in bytes (threading.Semaphore takes one unit at a time)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._free = total
        self._cond = threading.Condition()

    def acquire(self, amount: int, cancel: threading.Event) -> int:
        amount = min(amount, self.total)  # one part larger than the budget runs alone
        with self._cond:
            while self._free < amount:
                if cancel.is_set():
                    raise UploadAborted()
                self._cond.wait(0.1)
            self._free -= amount
        return amount

    def release(self, amount: int) -> None:
        with self._cond:
            self._free += amount
            self._cond.notify_all()


class Uploader:
    def __init__(self, client: Any, bucket: str, *, part_size: int = 8 * MiB, concurrency: int = 4,
                 cancel: threading.Event | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.part_size = part_size
        self.cancel = cancel or threading.Event()
        self._budget = Budget(part_size * concurrency)
        self._parts = ThreadPoolExecutor(concurrency, thread_name_prefix="part")

    def close(self) -> None:
        self._parts.shutdown(wait=True)

    def upload_file(self, path: str, key: str) -> Uploaded:
        with open(path, "rb") as fh:
            return self.upload_stream(fh, key, size_hint=_size(fh))

    def upload_stream(self, fh: BinaryIO, key: str, *, size_hint: int = 0) -> Uploaded:
        if self.cancel.is_set():
            raise UploadAborted()
        # Parts grow for files that would otherwise need more than MAX_PARTS of them.
        part_size = max(self.part_size, math.ceil(size_hint / (MAX_PARTS - 1) / MiB) * MiB)
        digest = hashlib.sha256()
        held = self._budget.acquire(part_size, self.cancel)
        handed_off = False
        try:
            data = fh.read(part_size)
            digest.update(data)
            if len(data) < part_size:  # the whole file fits in one request
                etag = self.client.put_object(Bucket=self.bucket, Key=key, Body=data)["ETag"]
                return Uploaded(size=len(data), sha256=digest.hexdigest(), etag=etag.strip('"'))
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
            handed_off = True
        finally:
            if not handed_off:
                self._budget.release(held)
        first = [data]
        del data  # the part's thread must hold the only reference, or the budget undercounts
        return self._multipart(fh, key, upload_id, part_size, digest, first, held)

    def _multipart(self, fh: BinaryIO, key: str, upload_id: str, part_size: int, digest: Any,
                   first: list[bytes], held: int) -> Uploaded:
        futures: list[Future] = []
        pending: list[Future] = []
        size, number = 0, 1
        data = first.pop()
        try:
            while True:
                size += len(data)
                # Boxed so the part's thread can drop the only reference before returning
                # the budget (the executor keeps its arguments until the call returns).
                box = [data]
                data = b""
                future = self._parts.submit(self._part, key, upload_id, number, box, held)
                box, held = None, 0  # the part's thread owns the bytes and their budget now
                futures.append(future)
                pending.append(future)
                pending = [f for f in pending if not _finished(f)]
                if self.cancel.is_set():
                    raise UploadAborted()
                held = self._budget.acquire(part_size, self.cancel)
                data = fh.read(part_size)
                if not data:
                    break
                if number >= MAX_PARTS:
                    raise ValueError(f"{key}: more than {MAX_PARTS} parts (the file grew while uploading)")
                digest.update(data)
                number += 1
            self._budget.release(held)
            held = 0
            parts = [f.result() for f in futures]
            if self.cancel.is_set():
                raise UploadAborted()
            etag = self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts},
            )["ETag"].strip('"')
        except BaseException:
            if held:
                self._budget.release(held)
            # A part still in flight would land after the abort and be stored: let it finish.
            wait(futures)
            self._abort(key, upload_id)
            raise
        return Uploaded(size=size, sha256=digest.hexdigest(), etag=etag)

    def _part(self, key: str, upload_id: str, number: int, box: list[bytes], held: int) -> dict:
        data = box.pop()
        try:
            response = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                               PartNumber=number, Body=data)
        finally:
            del data
            self._budget.release(held)
        return {"ETag": response["ETag"], "PartNumber": number}

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


def _size(fh: BinaryIO) -> int:
    return os.fstat(fh.fileno()).st_size
