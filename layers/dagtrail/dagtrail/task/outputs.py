"""Keep the attempt's S3 prefix in step with DAGTRAIL_OUTPUT_DIR while the command runs.

poll() uploads each file once it looks closed (nobody holds it open for writing, and its
size and mtime held still between two polls). A file that changes after, or during, its
upload is uploaded again; only the last complete version counts. finish() runs once the
command has exited: everything left is uploaded, files deleted since their upload are
removed from S3, and the manifest entries are returned.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from dagtrail.task import openfiles
from dagtrail.task.config import LOG_TAIL, MANIFEST
from dagtrail.task.errors import UploadAborted, UploadFailed
from dagtrail.task.upload import Uploaded, Uploader

log = logging.getLogger("dagtrail.task")

StatKey = tuple[int, int, int]  # size, mtime_ns, inode
RESERVED = {MANIFEST, LOG_TAIL}  # written by the wrapper itself
FINAL_ROUNDS = 5


@dataclass(frozen=True)
class Entry:
    name: str
    size: int
    sha256: str
    etag: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256, "etag": self.etag}


class OutputSync:
    def __init__(self, root: str, uploader: Uploader, key_prefix: str, *, file_workers: int = 2,
                 writers: Callable[[str], set[str] | None] = openfiles.open_for_writing) -> None:
        self.root = os.path.realpath(root)
        self.uploader = uploader
        self.key_prefix = key_prefix
        self._writers = writers
        self._pool = ThreadPoolExecutor(file_workers, thread_name_prefix="file")
        self._lock = threading.Lock()
        self._seen: dict[str, StatKey] = {}  # last poll's view, for the stability check
        self._pending: dict[str, Future] = {}
        self._done: dict[str, tuple[StatKey, Uploaded]] = {}
        self._failed: dict[str, tuple[StatKey, str]] = {}
        self.uploads = 0  # completed uploads, re-uploads included

    # -- while the command runs -----------------------------------------------------------
    def poll(self, *, final: bool = False) -> int:
        """Start uploads for files that are ready; returns how many were started."""
        writers = set() if final else self._writers(self.root)
        present = self._scan()
        started = 0
        with self._lock:
            for name, (path, key) in present.items():
                if name in self._pending or self._current(name, key):
                    continue
                if not final:
                    stable = self._seen.get(name) == key
                    self._seen[name] = key
                    open_now = writers is not None and path in writers
                    if not stable or open_now:
                        continue
                self._pending[name] = self._pool.submit(self._upload, name, path, key)
                started += 1
        return started

    # -- after the command exits ----------------------------------------------------------
    def finish(self) -> list[Entry]:
        for _ in range(FINAL_ROUNDS):
            self.drain()
            if not self.poll(final=True):
                break
        else:
            self.drain()
            if self.poll(final=True):
                self.drain()
                raise UploadFailed("outputs kept changing after the command exited")
        present = self._scan()
        with self._lock:
            failed = {n: why for n, (key, why) in self._failed.items() if n in present}
            stale = [n for n in self._done if n not in present]
        if failed:
            names = ", ".join(f"{n} ({why})" for n, why in sorted(failed.items()))
            raise UploadFailed(f"{len(failed)} output(s) not uploaded: {names}")
        for name in stale:  # written, uploaded, then deleted: not an output
            self.uploader.client.delete_object(Bucket=self.uploader.bucket, Key=self.key_prefix + name)
            with self._lock:
                del self._done[name]
        with self._lock:
            return [Entry(n, up.size, up.sha256, up.etag) for n, (key, up) in sorted(self._done.items())]

    def drain(self) -> None:
        while True:
            with self._lock:
                futures = list(self._pending.values())
            if not futures:
                return
            wait(futures)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # -- internals ------------------------------------------------------------------------
    def _current(self, name: str, key: StatKey) -> bool:
        """Already uploaded (or already failed) in exactly this version."""
        done = self._done.get(name)
        failed = self._failed.get(name)
        return (done is not None and done[0] == key) or (failed is not None and failed[0] == key)

    def _upload(self, name: str, path: str, key: StatKey) -> None:
        try:
            result = self.uploader.upload_file(path, self.key_prefix + name)
        except UploadAborted:
            outcome: tuple[str, Any] = ("failed", "aborted")
        except FileNotFoundError:
            outcome = ("gone", None)
        except Exception as exc:
            log.error("upload of %s failed: %s", name, exc)
            outcome = ("failed", f"{type(exc).__name__}: {exc}")
        else:
            outcome = ("done", result)
            after = _stat_key(path)
            if after != key:  # changed while it was read: the next poll uploads it again
                log.info("%s changed during its upload; it will be uploaded again", name)
        with self._lock:
            del self._pending[name]
            kind, value = outcome
            if kind == "done":
                self._done[name] = (key, value)
                self._failed.pop(name, None)
                self.uploads += 1
                log.info("uploaded %s (%d bytes, sha256 %s)", name, value.size, value.sha256)
            elif kind == "failed":
                self._failed[name] = (key, value)

    def _scan(self) -> dict[str, tuple[str, StatKey]]:
        """Regular files under root (symlinks are not outputs), by '/'-separated name."""
        found = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for filename in filenames:
                path = os.path.join(dirpath, filename)
                name = os.path.relpath(path, self.root).replace(os.sep, "/")
                if name in RESERVED:
                    continue
                key = _stat_key(path)
                if key is not None:
                    found[name] = (path, key)
        return found


def _stat_key(path: str) -> StatKey | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino
