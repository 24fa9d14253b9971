"""The warm server (dagtrail.local.warm_server): `dagtrail run` as a user types it, served by a
forked child of a process that has the pipeline imported; and the client's key and request."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from dagtrail.local import warm_client

REPO = Path(__file__).resolve().parents[2]
DAGTRAIL = REPO / ".venv" / "bin" / "dagtrail"
SPECS = REPO / "tests" / "e2e" / "specs"

pytestmark = pytest.mark.slow


@pytest.fixture
def server_dir():
    # Short: a socket's path must fit in 108 bytes, and pytest's tmp_path can be long.
    path = Path(tempfile.mkdtemp(prefix="dt-srv-"))
    path.chmod(0o700)
    yield path
    warm_client.stop_servers(str(path))
    shutil.rmtree(path, ignore_errors=True)


def env_for(server_dir: Path, **extra: str) -> dict[str, str]:
    return os.environ | {warm_client.DIR_ENV: str(server_dir), warm_client.ENABLE_ENV: "on"} | extra


def dagtrail(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(DAGTRAIL), *args], cwd=cwd, capture_output=True, text=True, timeout=240, env=env)


def server_log(server_dir: Path) -> str:
    return "".join(p.read_text() for p in server_dir.glob("*.log"))


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


alive = warm_client._alive


def spec_file(tmp_path: Path, command: list[str]) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps({"name": "served", "tasks": {"only": {"image": "python:3.11-slim",
                                                                    "command": command}}}))
    return spec


def test_runs_after_the_first_are_forked_from_the_server_it_started(tmp_path, server_dir):
    env = env_for(server_dir)
    for n in range(3):
        proc = dagtrail("run", str(SPECS / "retry.yaml"), "--json", "--docker", "never", "--workdir", f"wd{n}",
                        cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        summary = json.loads(proc.stdout)  # the child wrote to the client's stdout
        assert summary["status"] == "SUCCEEDED"
        assert Path(summary["artifacts"][0]["path"]).is_relative_to(tmp_path / f"wd{n}")  # the client's cwd
    log = server_log(server_dir)
    assert log.count("serving on") == 1, log
    assert log.count(": exit 0, cpu") == 3, log
    (pid_file,) = server_dir.glob("*.pid")
    assert alive(int(pid_file.read_text()))


def test_exit_status_and_one_line_errors_reach_the_client(tmp_path, server_dir):
    env = env_for(server_dir)
    proc = dagtrail("run", str(SPECS / "failing.yaml"), "--docker", "never", cwd=tmp_path, env=env)
    assert proc.returncode == 1
    assert "task 'boom' attempt 1: exit code 3" in proc.stderr.strip().splitlines()[-1]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntasks:\n  t:\n    image: x\n    command: 7\n")
    proc = dagtrail("run", str(bad), "--docker", "never", cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "bad.yaml" in proc.stderr, proc.stderr
    assert server_log(server_dir).count("serving on") == 1


def test_help_and_usage_errors_exit_as_argparse_says(tmp_path, server_dir):
    env = env_for(server_dir)
    proc = dagtrail("run", "--help", cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "--max-parallel" in proc.stdout and proc.stderr == "", proc.stderr
    proc = dagtrail("run", cwd=tmp_path, env=env)  # no spec
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert server_log(server_dir).count(": exit 2, cpu") == 1  # served, not run by the client


def test_a_malformed_request_is_refused_and_the_server_serves_on(tmp_path, server_dir):
    import socket
    import struct

    env = env_for(server_dir)
    assert dagtrail("run", str(SPECS / "inert.yaml"), "--docker", "never", cwd=tmp_path, env=env).returncode == 0
    (sock_path,) = server_dir.glob("*.sock")
    for payload, fds in ((b"junk", []), (struct.pack("!I", 5) + b"1\x009\x00x", [0, 1, 2, 0])):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(sock_path))
            socket.send_fds(conn, [payload], fds)
            assert conn.recv(16) == b""  # closed without a run
    proc = dagtrail("run", str(SPECS / "inert.yaml"), "--docker", "never", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert server_log(server_dir).count("serving on") == 1


def test_tasks_see_the_clients_environment_not_the_servers(tmp_path, server_dir):
    out = tmp_path / "seen.txt"
    spec = spec_file(tmp_path, ["python3", "-c", f"import os; open({str(out)!r}, 'a').write(os.environ['MARK'] + '\\n')"])
    for mark in ("first", "second"):
        proc = dagtrail("run", str(spec), "--docker", "never", "--no-cache", cwd=tmp_path,
                        env=env_for(server_dir, MARK=mark))
        assert proc.returncode == 0, proc.stderr
    assert out.read_text().split() == ["first", "second"]
    assert server_log(server_dir).count("serving on") == 1  # MARK is no part of the key


def test_runs_with_other_process_attributes_get_a_server_of_their_own(tmp_path, server_dir):
    """A forked run has its server's niceness and limits: `nice` or `ulimit` must reach the tasks."""
    import resource

    base = os.getpriority(os.PRIO_PROCESS, 0)
    if base > 14:
        pytest.skip("already niced near the maximum")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    out = tmp_path / "seen.txt"
    spec = spec_file(tmp_path, ["python3", "-c", "import os, resource; open(" + repr(str(out)) + ", 'a').write("
                                "f'{os.getpriority(os.PRIO_PROCESS, 0)} {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}\\n')"])
    argv = [str(DAGTRAIL), "run", str(spec), "--docker", "never", "--no-cache"]
    lower = min(soft, 512) - 1
    for prefix, preexec in (([], None), (["nice", "-n", "5"], None), ([], lambda: resource.setrlimit(
            resource.RLIMIT_NOFILE, (lower, hard))), ([], None)):
        proc = subprocess.run([*prefix, *argv], cwd=tmp_path, env=env_for(server_dir), capture_output=True, text=True,
                              timeout=240, preexec_fn=preexec)
        assert proc.returncode == 0, proc.stderr
    assert out.read_text().splitlines() == [f"{base} {soft}", f"{base + 5} {soft}", f"{base} {lower}", f"{base} {soft}"]
    assert server_log(server_dir).count("serving on") == 3  # the last run reused the first one's
    assert len(warm_client.server_pids(str(server_dir))) == 3


def _start_sleeper(tmp_path: Path, server_dir: Path, **popen) -> tuple[subprocess.Popen, int]:
    """A run whose one task sleeps until tmp_path/go exists (at most two minutes)."""
    pid_file = tmp_path / "task.pid"
    spec = spec_file(tmp_path, ["python3", "-c", textwrap.dedent(f"""
        import os, time
        open({str(pid_file)!r}, 'w').write(str(os.getpid()))
        for _ in range(2400):
            if os.path.exists({str(tmp_path / "go")!r}):
                break
            time.sleep(0.05)""")])
    client = subprocess.Popen([str(DAGTRAIL), "run", str(spec), "--docker", "never"], cwd=tmp_path,
                              env=env_for(server_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              **popen)
    wait_for(lambda: pid_file.exists() and pid_file.read_text())
    return client, int(pid_file.read_text())


def test_ctrl_c_reaches_the_served_run_which_stops_its_task(tmp_path, server_dir):
    client, task = _start_sleeper(tmp_path, server_dir)
    client.send_signal(signal.SIGINT)
    _, stderr = client.communicate(timeout=60)
    assert client.returncode == 130, stderr
    assert "interrupted" in stderr
    wait_for(lambda: not alive(task), timeout=30)


def test_ctrl_z_stops_the_served_run_and_fg_resumes_it(tmp_path, server_dir):
    # Its own process group, in our session: as a shell's job is. The kernel discards a
    # terminal stop sent to an orphaned group (ours may be one, run in the background).
    client, _ = _start_sleeper(tmp_path, server_dir, process_group=0)
    (pid_file,) = server_dir.glob("*.pid")
    server = int(pid_file.read_text())
    (run,) = map(int, Path(f"/proc/{server}/task/{server}/children").read_text().split())

    def state(pid: int) -> str:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]

    client.send_signal(signal.SIGTSTP)
    wait_for(lambda: state(client.pid) == "T" and state(run) == "T", timeout=30)
    client.send_signal(signal.SIGCONT)
    wait_for(lambda: state(run) != "T", timeout=30)
    (tmp_path / "go").touch()
    _, stderr = client.communicate(timeout=60)
    assert client.returncode == 0, stderr


def test_a_client_that_dies_takes_its_run_and_task_with_it(tmp_path, server_dir):
    client, task = _start_sleeper(tmp_path, server_dir)
    client.kill()
    client.communicate(timeout=10)
    wait_for(lambda: not alive(task), timeout=30)
    wait_for(lambda: ": exit 130, cpu" in server_log(server_dir), timeout=30)


def test_a_server_killed_mid_run_is_reported_and_its_run_stopped(tmp_path, server_dir):
    client, task = _start_sleeper(tmp_path, server_dir)
    (pid_file,) = server_dir.glob("*.pid")
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    _, stderr = client.communicate(timeout=90)
    assert client.returncode == 1
    assert stderr.strip().splitlines()[-1].startswith("dagtrail: internal error: the warm server ended the run")
    wait_for(lambda: not alive(task), timeout=30)


def test_a_server_that_cannot_start_leaves_the_run_to_its_client(tmp_path, server_dir):
    started = time.monotonic()
    proc = dagtrail("run", str(SPECS / "inert.yaml"), "--docker", "never", cwd=tmp_path,
                    env=env_for(server_dir, **{warm_client.IDLE_ENV: "soon"}))
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < warm_client.START_TIMEOUT_SECONDS / 2  # no wait for what will not come
    assert "ValueError" in server_log(server_dir) and not list(server_dir.glob("*.sock"))


def test_a_stopped_server_finishes_its_runs_while_a_new_one_serves_new_runs(tmp_path, server_dir):
    client, _ = _start_sleeper(tmp_path, server_dir)
    (pid_file,) = server_dir.glob("*.pid")
    old = int(pid_file.read_text())
    assert warm_client.stop_servers(str(server_dir)) == [old]
    wait_for(lambda: not pid_file.exists())
    proc = dagtrail("run", str(SPECS / "inert.yaml"), "--docker", "never", cwd=tmp_path, env=env_for(server_dir))
    assert proc.returncode == 0, proc.stderr
    assert int(pid_file.read_text()) != old and alive(old)  # a new server while the old one's run goes on
    (tmp_path / "go").touch()
    _, stderr = client.communicate(timeout=60)
    assert client.returncode == 0, stderr
    wait_for(lambda: not alive(old), timeout=30)


def test_an_idle_server_exits_and_removes_its_socket(tmp_path, server_dir):
    proc = dagtrail("run", str(SPECS / "inert.yaml"), "--docker", "never", cwd=tmp_path,
                    env=env_for(server_dir, **{warm_client.IDLE_ENV: "1"}))
    assert proc.returncode == 0, proc.stderr
    wait_for(lambda: "stopped" in server_log(server_dir), timeout=30)
    assert not list(server_dir.glob("*.sock")) and not list(server_dir.glob("*.pid"))


def test_off_or_an_unsafe_directory_runs_in_the_clients_own_process(tmp_path, server_dir):
    proc = dagtrail("run", str(SPECS / "inert.yaml"), "--docker", "never", cwd=tmp_path,
                    env=env_for(server_dir, **{warm_client.ENABLE_ENV: "off"}))
    assert proc.returncode == 0, proc.stderr
    server_dir.chmod(0o770)  # another group's members could answer on a socket here
    proc = dagtrail("run", str(SPECS / "inert.yaml"), "--docker", "never", cwd=tmp_path, env=env_for(server_dir))
    assert proc.returncode == 0, proc.stderr
    assert list(server_dir.iterdir()) == []


def test_stop_ends_the_servers_once_their_runs_have(tmp_path, server_dir):
    proc = dagtrail("run", str(SPECS / "inert.yaml"), "--docker", "never", cwd=tmp_path, env=env_for(server_dir))
    assert proc.returncode == 0, proc.stderr
    (pid_file,) = server_dir.glob("*.pid")
    pid = int(pid_file.read_text())
    proc = dagtrail("server", "stop", cwd=tmp_path, env=env_for(server_dir))
    assert proc.returncode == 0 and str(pid) in proc.stdout, proc.stderr
    wait_for(lambda: not alive(pid), timeout=30)


def test_the_key_follows_sources_and_import_time_settings_only(monkeypatch):
    key = warm_client.server_key()
    monkeypatch.setenv("MARK", "anything")  # read by a run, never at import: same server
    assert warm_client.server_key() == key
    monkeypatch.setenv("MOTO_PRETTIFY_RESPONSES", "1")  # moto.settings reads it at import
    assert warm_client.server_key() != key
    monkeypatch.delenv("MOTO_PRETTIFY_RESPONSES")
    source = REPO / "layers" / "dagtrail" / "dagtrail" / "names.py"
    st = source.stat()
    try:
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # an edited source
        assert warm_client.server_key() != key
    finally:
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert warm_client.server_key() == key


def test_preloading_reads_only_the_keyed_environment_and_starts_no_thread():
    """Fails after an upgrade that makes a preloaded module read a new variable at import: add it
    to warm_client.IMPORT_TIME_ENV, or a server would serve runs that set it differently."""
    probe = textwrap.dedent("""
        import json, os, sys, threading
        read = set()
        class Recording(type(os.environ)):
            def __getitem__(self, key):
                read.add(key)
                return super().__getitem__(key)
            def __contains__(self, key):
                read.add(key)
                return super().__contains__(key)
        env = os.environ
        os.environ = Recording(env._data, env.encodekey, env.decodekey, env.encodevalue, env.decodevalue)
        from dagtrail.local.warm_server import preload
        preload()
        print(json.dumps({"read": sorted(read), "threads": threading.active_count()}))
    """)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["threads"] == 1
    unkeyed = [k for k in seen["read"] if k not in warm_client.IMPORT_TIME_ENV
               and not k.startswith(warm_client.IMPORT_TIME_ENV_PREFIXES)]
    assert unkeyed == []
    assert "TEST_SERVER_MODE" in seen["read"]  # the probe sees moto.settings' reads


def test_a_request_survives_the_round_trip():
    env = {"A": "b=c", "EMPTY": "", "UNI": "é\udcff"}
    argv = ["dagtrail", "run", "spec with space.yaml", "--param", "k=v=w", ""]
    path = ["", "/x", "/y z"]
    data = warm_client.encode_request(argv, env, path, 0o027)
    assert warm_client.decode_request(data) == (argv, env, path, 0o027)
    with pytest.raises(ValueError):  # says three arguments, holds one
        warm_client.decode_request(b"18\x003\x00dagtrail")
