"""The warm server: imports the local pipeline once, then forks one child per `dagtrail run`.

About 0.8 s of a short local run is importing moto's Step Functions interpreter, botocore,
pydantic and dagtrail; a child forked from this process starts with them imported. Each run
is a fresh fork of a process that has only imported modules, so no state passes from one run
to the next. The child takes the client's stdin, stdout, stderr, working directory, umask,
environment, argv and sys.path (warm_client.py sends them); what the preloaded modules read at
import is part of the server's key, as are the process attributes a child inherits (niceness,
limits, cgroup: warm_client.process_attributes), so a client only reaches a server that agrees
with it.

One server per key in the server directory, started by the first run that finds none
(`python -P -m dagtrail.local.warm_server DIR KEY`), single-threaded so that forking is safe.
After DAGTRAIL_SERVER_IDLE seconds (default 900) without a run, or on SIGTERM (`dagtrail
server stop`), it stops listening at once (the next run starts a new server) and exits once
the runs it started have ended.
"""

from __future__ import annotations

import fcntl
import gc
import importlib
import io
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from dagtrail.local.warm_client import DEFAULT_IDLE_SECONDS, IDLE_ENV, REPLY, decode_request

REQUEST_TIMEOUT_SECONDS = 5.0
MAX_REQUEST_BYTES = 4 << 20
LOG_LIMIT_BYTES = 1 << 20  # one line per run; a server starting on a longer log empties it
# What a local run imports before its first task, by entry point: dagtrail's local engine and
# the handlers' library, moto's services the run emulates (models, request routing), botocore
# and Powertools. Handler modules (functions/*/app.py) are not preloaded: they create clients
# and loggers from the environment at import.
PRELOAD = (
    "dagtrail.cli.main", "dagtrail.local.engine", "dagtrail.local.handlers", "dagtrail.local.processes",
    "dagtrail.local.sweep_runner", "dagtrail.local.lineage_worker", "dagtrail.spec.workflow_ref",
    "dagtrail.spec.params", "dagtrail.compiler", "dagtrail.runs.advance", "dagtrail.runs.submit",
    "dagtrail.runs.executions", "dagtrail.runs.lineage", "dagtrail.events.routing",
    "dagtrail.lineage.records", "dagtrail.lineage.sink", "dagtrail.cache.lookup",
    "dagtrail.sweeps.foreach", "dagtrail.sweeps.check", "dagtrail.sweeps.events", "dagtrail.sweeps.table",
    "dagtrail.flow.builder", "dagtrail.tracing", "dagtrail.lineage.replay", "dagtrail.lineage.writer",
    "dagtrail.local.moto_patches.update_plan", "moto.iam.access_control", "moto.stepfunctions.parser.models",
    "aws_lambda_powertools.utilities.typing",
    "moto", "moto.backends", "moto.core.models", "moto.moto_api._internal",
    *(f"moto.{service}.{part}" for service in ("stepfunctions", "dynamodb", "sqs", "s3", "events", "batch",
                                                "iam", "logs", "cloudwatch", "sts")
      for part in ("models", "responses", "urls")),
    "moto.stepfunctions.parser.backend.execution",
    "boto3", "botocore.client", "botocore.session",
    "aws_lambda_powertools.logging", "aws_lambda_powertools.metrics", "aws_lambda_powertools.tracing",
)


def preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)


def main(argv: list[str]) -> int:
    directory, key = Path(argv[0]), argv[1]
    lock = open(directory / f"{key}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another run started this server first
    if os.fstat(2).st_size > LOG_LIMIT_BYTES:
        os.ftruncate(2, 0)
    idle_seconds = float(os.environ.get(IDLE_ENV) or DEFAULT_IDLE_SECONDS)  # fails here, not once listening
    preload()
    gc.collect()
    gc.freeze()  # the children's collections skip what was loaded here (and keep it shared)
    path = directory / f"{key}.sock"
    path.unlink(missing_ok=True)  # a server that died left it; the lock says none is running
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(os.fspath(path))
    os.chmod(path, 0o600)
    listener.listen(64)
    pid_file = directory / f"{key}.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    _log(f"serving on {path}")
    server = Server(listener, lock, idle_seconds, [path, pid_file])
    try:
        server.serve()
    finally:
        if server.listening:  # serve() failed: no more runs, and its files go
            for owned in (path, pid_file):
                owned.unlink(missing_ok=True)
        _log("stopped")
    return 0


class Server:
    def __init__(self, listener: socket.socket, lock: io.TextIOWrapper, idle_seconds: float,
                 own_files: list[Path]) -> None:
        self.listener = listener
        self.lock = lock  # children close it: a run outliving its server would keep the next one out
        self.idle_seconds = idle_seconds
        self.own_files = own_files  # the socket and pid file, removed when it stops listening
        self.listening = True
        self.runs: dict[int, socket.socket] = {}  # child pid -> its client's connection
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        # SIGCHLD and SIGTERM wake the select through this pair instead of interrupting a fork.
        self.wake_read, self.wake_write = socket.socketpair()
        self.wake_read.setblocking(False)
        self.wake_write.setblocking(False)

    def serve(self) -> None:
        """Until stopped (SIGTERM) or idle, then until the runs it started have ended."""
        signal.set_wakeup_fd(self.wake_write.fileno())
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._stop)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wake_read, selectors.EVENT_READ, "wake")
        idle_since = time.monotonic()
        while True:
            idle_for = None if self.runs else time.monotonic() - idle_since
            if self.listening and (self.stopping or (idle_for is not None and idle_for >= self.idle_seconds)):
                self.stop_listening()
            if not self.listening and not self.runs:
                return
            timeout = self.idle_seconds - idle_for if idle_for is not None and self.listening else None
            for key, _ in self.selector.select(timeout):
                if key.data == "accept":
                    try:
                        self._accept(self.listener.accept()[0])
                    except Exception as exc:  # no fork or no descriptors left: that run only
                        _log(f"refused a run: {type(exc).__name__}: {exc}")
                elif key.data == "wake":
                    self._drain_wake()
                else:
                    self._client_gone(key.data, key.fileobj)
            if self._reap():
                idle_since = time.monotonic()

    def stop_listening(self) -> None:
        """Clients that connected before the socket went are served; later ones start a new
        server, which may take the lock while this one's runs finish."""
        if not self.listening:
            return
        self.listening = False
        for path in self.own_files:
            path.unlink(missing_ok=True)
        self.selector.unregister(self.listener)
        self.listener.setblocking(False)
        while True:
            try:
                conn = self.listener.accept()[0]
            except BlockingIOError:
                break
            conn.setblocking(True)
            self._accept(conn)
        self.listener.close()
        self.lock.close()

    def _stop(self, *_: object) -> None:
        self.stopping = True

    def _drain_wake(self) -> None:
        try:
            while self.wake_read.recv(512):
                pass
        except BlockingIOError:
            pass

    def _accept(self, conn: socket.socket) -> None:
        request, fds = _read_request(conn)
        try:
            pid = None if request is None else self._fork(conn, request, fds)
        except BaseException:
            conn.close()  # its client reads the end of the connection: no run started
            raise
        finally:
            for fd in fds:
                os.close(fd)
        if pid is None:
            conn.close()
            return
        try:
            conn.sendall(REPLY.pack(b"P", pid))
        except OSError:  # the client went after its request: _client_gone interrupts the run
            pass
        self.runs[pid] = conn
        self.selector.register(conn, selectors.EVENT_READ, pid)

    def _fork(self, conn: socket.socket, request: tuple, fds: list[int]) -> int:
        if threading.active_count() != 1:  # a fork would copy another thread's held locks
            raise RuntimeError("the warm server started a thread; it must stay single-threaded")
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # else the child would write the server's buffered output to the client
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:
            self._close_in_child(conn)
            code = _run_child(request, fds)
        except BaseException:  # a bug here: said where the run's output goes (fd 2 by now)
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)

    def _close_in_child(self, conn: socket.socket) -> None:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.selector.close()
        self.lock.close()
        for sock in (self.listener, self.wake_read, self.wake_write, conn, *self.runs.values()):
            sock.close()

    def _client_gone(self, pid: int, conn: socket.socket) -> None:
        """The client sends nothing after its request: readable means it ended (killed, or its
        terminal closed). Interrupt its run as Ctrl-C would, so the run stops its tasks."""
        self.selector.unregister(conn)
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            pass

    def _reap(self) -> bool:
        reaped = False
        while self.runs:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            reaped = True
            conn = self.runs.pop(pid, None)
            if conn is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            code = code if code >= 0 else 128 - code  # killed by a signal: as a shell says
            _log(f"run {pid} ended: exit {code}, cpu {usage.ru_utime + usage.ru_stime:.3f} s, "
                 f"maxrss {usage.ru_maxrss} KiB")
            try:
                self.selector.unregister(conn)
            except KeyError:  # unregistered when its client went away
                pass
            try:
                conn.sendall(REPLY.pack(b"X", code))
            except OSError:
                pass
            conn.close()
        return reaped


def _read_request(conn: socket.socket) -> tuple[tuple | None, list[int]]:
    """One length-prefixed request (warm_client.encode_request), the client's stdin, stdout, stderr and working
    directory attached; None for anything else (its descriptors are still returned, to close)."""
    conn.settimeout(REQUEST_TIMEOUT_SECONDS)
    fds: list[int] = []
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        if struct.unpack("3i", creds)[1] != os.getuid():
            return None, fds
        data, fds, _, _ = socket.recv_fds(conn, 65536, 4)
        if len(data) < 4 or len(fds) != 4:
            return None, fds
        size = struct.unpack("!I", data[:4])[0]
        if size > MAX_REQUEST_BYTES:
            return None, fds
        data = data[4:]
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                return None, fds
            data += chunk
        request = decode_request(data)
    except (OSError, ValueError):
        return None, fds
    conn.settimeout(None)
    return request, fds


def _run_child(request: tuple, fds: list[int]) -> int:
    argv, env, path, umask = request
    stdin, stdout, stderr, cwd = fds
    for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        os.dup2(fd, target)
    os.fchdir(cwd)
    for fd in fds:
        os.close(fd)
    os.umask(umask)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = argv
    sys.path[:] = path
    _reopen_std_streams()
    from dagtrail.cli.main import main_and_flush

    try:
        return main_and_flush(argv[1:])
    except SystemExit as exc:  # argparse's --help and usage errors
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)


def _reopen_std_streams() -> None:
    """Buffered as the interpreter would have for these descriptors: stdout by line only on a
    terminal, stderr always by line; encoding as the server's (it is part of the key)."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        old = getattr(sys, name)
        raw = io.FileIO(fd, "rb" if fd == 0 else "wb", closefd=False)
        buffered = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
        line = fd == 2 or (fd == 1 and raw.isatty())
        stream = io.TextIOWrapper(buffered, encoding=old.encoding, errors=old.errors, line_buffering=line,
                                  write_through=getattr(old, "write_through", False))
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid {os.getpid()}: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
