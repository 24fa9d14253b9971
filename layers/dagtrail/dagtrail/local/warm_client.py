"""The `dagtrail run` side of the warm server (warm_server.py): find or start the server that
matches this interpreter and code, hand it the run, relay its exit status.

This module runs before anything else in every `dagtrail run`, so it imports only what the
standard library loads fast; a run it cannot hand over runs in this process as before.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import sys
import time

from dagtrail.local.user_dirs import cache_home

ENABLE_ENV = "DAGTRAIL_SERVER"  # off / 0 / false / no: every run in its own process
DIR_ENV = "DAGTRAIL_SERVER_DIR"
IDLE_ENV = "DAGTRAIL_SERVER_IDLE"  # seconds without a run before the server exits
DEFAULT_IDLE_SECONDS = 900
SERVED_COMMANDS = ("run", "resume")
START_TIMEOUT_SECONDS = 60.0  # the server imports moto and botocore before it listens
LOST_RUN_WAIT_SECONDS = 60.0  # a run stopping its tasks (ProcessBackend's grace included)
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
# Read at import by what the server preloads (the test that preloads with os.environ
# recorded keeps this list whole): a server is only shared by runs that agree on them.
IMPORT_TIME_ENV = (
    "AWS_CONFIG_FILE", "AWS_DATA_PATH", "AWS_DEFAULT_PROFILE", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE",
    "DEFAULT_CONTAINER_REGISTRY", "HOME", "INITIAL_NO_AUTH_ACTION_COUNT",
    "S3_IGNORE_SUBDOMAIN_BUCKETNAME", "S3_UPLOAD_PART_MIN_SIZE", "TEST_PROXY_MODE", "TEST_SERVER_MODE",
    "TESTS_SKIP_REQUIRES_DOCKER", "LANG", "LC_ALL", "LC_CTYPE",
)
IMPORT_TIME_ENV_PREFIXES = ("PYTHON", "_PYTHON", "PY_", "PYDANTIC_", "MOTO_", "POWERTOOLS_")
REPLY = struct.Struct("!ci")  # (b"P", child pid) when the run starts, (b"X", exit status) when it ends


def enabled(argv: list[str]) -> bool:
    return (len(argv) > 1 and argv[1] in SERVED_COMMANDS and "--stack" not in argv
            and os.environ.get(ENABLE_ENV, "on").lower() not in ("off", "0", "false", "no")
            and sys.platform == "linux" and hasattr(socket, "send_fds"))


def server_dir() -> str:
    """DAGTRAIL_SERVER_DIR, else the user's runtime directory (XDG_RUNTIME_DIR), else their
    cache directory. (Strings, not pathlib: this runs before every local run.)"""
    if os.environ.get(DIR_ENV):
        return os.environ[DIR_ENV]
    if os.environ.get("XDG_RUNTIME_DIR"):
        return os.path.join(os.environ["XDG_RUNTIME_DIR"], "dagtrail")
    return os.path.join(cache_home(), "dagtrail", "server")


def private_dir(path: str) -> bool:
    """Whoever can write the directory can answer on our socket: it must be ours alone."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError:
        return False
    return st.st_uid == os.getuid() and st.st_mode & 0o077 == 0


def server_key() -> str:
    """Names the server a run may use: same interpreter and flags, same installed packages and
    dagtrail sources, same values of what the preloaded modules read at import, and the same
    process attributes (a forked run has its server's)."""
    try:
        from _blake2 import blake2b  # what hashlib uses, without loading OpenSSL (10 ms)
    except ImportError:
        from hashlib import blake2b

    parts = [sys.executable, sys.version, repr(sys.flags), repr(sys.warnoptions), repr(sys._xoptions)]
    parts += process_attributes()
    parts += sorted(f"{k}={v}" for k, v in os.environ.items()
                    if k in IMPORT_TIME_ENV or k.startswith(IMPORT_TIME_ENV_PREFIXES))
    for entry in sys.path[1:]:  # [0] is the script's directory; the request carries it
        parts.append(f"{entry}:{_mtime(entry)}")
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    for root, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        parts += (f"{root}/{f}:{_mtime(os.path.join(root, f))}" for f in sorted(files) if f.endswith(".py"))
    return blake2b("\n".join(parts).encode(), digest_size=10).hexdigest()


def process_attributes() -> list[str]:
    """What a process inherits and its tasks would too: `nice dagtrail run`, `ulimit`, a
    systemd scope or container cgroup, `taskset`, `sg`, an `unshare`d namespace. A child of
    the server has the server's, which are those of the run that started it: so runs that
    differ in any of these do not share a server."""
    import resource

    limits = sorted((name, resource.getrlimit(getattr(resource, name)))
                    for name in dir(resource) if name.startswith("RLIMIT_"))
    attributes = [f"nice={os.getpriority(os.PRIO_PROCESS, 0)}", f"limits={limits}",
                  f"affinity={sorted(os.sched_getaffinity(0))}",
                  f"ids={os.getgid()},{os.getegid()},{sorted(os.getgroups())}"]
    for path in ("/proc/self/cgroup", "/proc/self/oom_score_adj"):
        try:
            with open(path) as f:
                attributes.append(f"{path}={f.read()}")
        except OSError:
            attributes.append(f"{path}: unreadable")
    for ns in ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts"):
        try:
            attributes.append(os.readlink(f"/proc/self/ns/{ns}"))
        except OSError:
            attributes.append(f"{ns}: unreadable")
    return attributes


def _mtime(path: str) -> int:
    try:
        st = os.stat(path)
    except OSError:
        return -1
    return st.st_mtime_ns ^ st.st_size


def run_served(argv: list[str]) -> int | None:
    """The run's exit status, run by the warm server; None when no server took it (the caller
    runs it here)."""
    directory = server_dir()
    if not private_dir(directory):
        return None
    key = server_key()
    path = os.path.join(directory, f"{key}.sock")
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        return None
    conn = _connect(path) or _start_server(directory, key, path)
    if conn is None:
        return None
    with conn:
        return _hand_over(conn, argv)


def _connect(path: str) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:  # none yet, or a stale socket left by a server that died
        conn.close()
        return None
    return conn


def _start_server(directory: str, key: str, path: str) -> socket.socket | None:
    """Start the server and connect once it listens; None if it failed (its log says why).

    Detached (own session, no inherited descriptors): it outlives this run and holds no pipe
    of the shell's or CI's open. Two runs starting one at once is harmless: the second server
    finds the first one's lock and exits 0, and its client waits for the first.
    """
    import subprocess

    with open(os.path.join(directory, f"{key}.log"), "ab") as log:
        # -P: nothing from this run's working directory on the server's path.
        server = subprocess.Popen([sys.executable, *subprocess._args_from_interpreter_flags(), "-P", "-m",
                                   "dagtrail.local.warm_server", directory, key],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    if sys.stderr.isatty():  # a process that outlives the command should not be a surprise
        print(f"dagtrail: starting a warm server for local runs (pid {server.pid}; it exits after "
              f"{os.environ.get(IDLE_ENV) or DEFAULT_IDLE_SECONDS} s without one; `dagtrail server stop`, {ENABLE_ENV}=off)",
              file=sys.stderr)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and server.poll() in (None, 0):
        time.sleep(0.02)
        conn = _connect(path)
        if conn is not None:
            return conn
    return None


def _hand_over(conn: socket.socket, argv: list[str]) -> int | None:
    """Signals that arrive before the run's pid does are sent to it once it has one."""
    child: int | None = None
    pending: list[int] = []

    def forward(sig: int, _frame: object) -> None:
        if child is None:
            pending.append(sig)
        else:
            _forward(child, sig)

    def suspend(_sig: int, _frame: object) -> None:
        """Ctrl-Z: stop the run with this process, resume it with this process."""
        if child is not None:
            _forward(child, signal.SIGSTOP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # stopped here until SIGCONT (`fg`, `bg`)
        signal.signal(signal.SIGTSTP, suspend)
        if child is not None:
            _forward(child, signal.SIGCONT)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}
    previous[signal.SIGTSTP] = signal.signal(signal.SIGTSTP, suspend)
    try:
        request = encode_request(argv, dict(os.environ), sys.path, _umask())
        try:
            cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
            try:
                socket.send_fds(conn, [struct.pack("!I", len(request)) + request], [0, 1, 2, cwd])
            finally:
                os.close(cwd)
        except OSError:  # no working directory or a closed stdin, or the server just went: run here
            return None
        status = _read(conn)
        if status is None or status[0] != b"P":
            return _lost(None)
        child = status[1]
        for sig in pending:
            _forward(child, sig)
        status = _read(conn)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if status is None or status[0] != b"X":
        return _lost(child)
    return status[1]


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:  # ended already; its status is on its way
        pass


def _read(conn: socket.socket) -> tuple[bytes, int] | None:
    data = b""
    while len(data) < REPLY.size:
        try:
            chunk = conn.recv(REPLY.size - len(data))
        except OSError:  # reset by a server that ended
            return None
        if not chunk:
            return None
        data += chunk
    return REPLY.unpack(data)


def _lost(child: int | None) -> int:
    """The server went away before the run's status came: interrupt the run (an orphan now)
    as Ctrl-C would, so that it stops its tasks, and wait for it to end."""
    if child is not None:
        _forward(child, signal.SIGINT)
        deadline = time.monotonic() + LOST_RUN_WAIT_SECONDS
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.05)
    print(f"dagtrail: internal error: the warm server ended the run without its exit status "
          f"(see {server_dir()}/*.log; set {ENABLE_ENV}=off to run without it)", file=sys.stderr)
    return 1


def _alive(pid: int) -> bool:
    """Running, or ended but not yet reaped by whoever inherited it (a zombie is not alive)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def encode_request(argv: list[str], env: dict[str, str], path: list[str], umask: int) -> bytes:
    """NUL-separated (no argv, environment or path entry can hold a NUL): the server parses
    it with a split, where json would cost this client 15 ms of imports."""
    fields = [str(umask), str(len(argv)), *argv, str(len(path)), *path, *(f"{k}={v}" for k, v in env.items())]
    return "\0".join(fields).encode("utf-8", "surrogateescape")


def decode_request(data: bytes) -> tuple[list[str], dict[str, str], list[str], int]:
    """ValueError for anything encode_request could not have made."""
    fields = data.decode("utf-8", "surrogateescape").split("\0")
    try:
        umask, n_argv = int(fields[0]), int(fields[1])
        argv = fields[2:2 + n_argv]
        n_path = int(fields[2 + n_argv])
        path = fields[3 + n_argv:3 + n_argv + n_path]
        env = dict(item.split("=", 1) for item in fields[3 + n_argv + n_path:])
    except IndexError:
        raise ValueError("truncated request") from None
    if len(argv) != n_argv or len(path) != n_path or n_argv < 1:
        raise ValueError("truncated request")
    return argv, env, path, umask


def server_pids(directory: str | None = None) -> list[int]:
    """The servers running in the directory, by their pid files."""
    import glob

    pids = []
    for pid_file in sorted(glob.glob(os.path.join(directory or server_dir(), "*.pid"))):
        try:
            with open(pid_file) as f:
                pid = int(f.read())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"dagtrail.local.warm_server" in f.read():  # else a pid reused since that server died
                    pids.append(pid)
        except (OSError, ValueError):
            continue
    return pids


def stop_servers(directory: str | None = None) -> list[int]:
    """SIGTERM to every server in the directory: each ends once its runs have."""
    stopped = []
    for pid in server_pids(directory):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        stopped.append(pid)
    return stopped
