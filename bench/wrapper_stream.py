"""Stream a large output through the task wrapper to a moto S3 server.

Measures the wrapper's peak RSS (target <= 100 MB) and its throughput as a ratio to boto3's
`upload_file` of the same file to the same server in the same run (target >= 0.9). Both run
as subprocesses timed end to end (interpreter start and boto3 import included on both
sides), their peak RSS taken from wait4()'s rusage in a small launcher process. The server runs in this process.

    .venv/bin/python bench/wrapper_stream.py                  # 2 GiB
    .venv/bin/python bench/wrapper_stream.py --size-mib 256   # quick
Writes bench/results/wrapper_stream.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "wrapper_stream.json"
BUCKET = "bench-results"
RSS_TARGET_MB = 100
RATIO_TARGET = 0.9

BASELINE = """
import sys, boto3
from botocore.config import Config
# The wrapper's read timeout: moto completes a 2 GiB multipart upload slower than botocore's 60 s.
client = boto3.client("s3", config=Config(read_timeout=600))
client.upload_file(sys.argv[1], sys.argv[2], sys.argv[3])
"""
# The command the wrapper runs: put the prepared file in the output directory at once (a hard
# link), so what is measured is the wrapper's streaming, not the disk writing a new file.
LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_pid, status, usage = os.wait4(pid, 0)  # ru_maxrss: the child's VmHWM (KiB on Linux)
json.dump({"seconds": time.perf_counter() - start, "peak_rss_bytes": usage.ru_maxrss * 1024,
           "returncode": os.waitstatus_to_exitcode(status)}, open(sys.argv[1], "w"))
"""
LINK = "import os, sys; os.link(sys.argv[1], os.path.join(os.environ['DAGTRAIL_OUTPUT_DIR'], 'out.bin'))"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the fastest counts")
    parser.add_argument("--part-size-mib", type=int, default=None, help="DAGTRAIL_PART_SIZE_MIB (wrapper default if unset)")
    parser.add_argument("--concurrency", type=int, default=None, help="DAGTRAIL_UPLOAD_CONCURRENCY")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = _env(f"http://127.0.0.1:{port}")
    try:
        s3 = _client(env)
        s3.create_bucket(Bucket=BUCKET)
        with tempfile.TemporaryDirectory(prefix="dagtrail-bench-") as tmp:
            source = Path(tmp, "source.bin")
            sha256 = _make_file(source, args.size_mib)
            wrapper_runs, baseline_runs = [], []
            for i in range(args.repeat):
                baseline_runs.append(_baseline(source, env, s3, f"baseline/{i}/out.bin"))
                wrapper_runs.append(_wrapper(source, Path(tmp), env, s3, i, sha256, args))
    finally:
        server.stop()

    size = args.size_mib * (1 << 20)
    wrapper = min(wrapper_runs, key=lambda r: r["seconds"])
    baseline = min(baseline_runs, key=lambda r: r["seconds"])
    peak_rss_mb = max(r["peak_rss_bytes"] for r in wrapper_runs) / 1e6
    ratio = baseline["seconds"] / wrapper["seconds"]
    result = {
        "size_mib": args.size_mib,
        "repeat": args.repeat,
        "wrapper": _summary(wrapper_runs, size),
        "upload_file": _summary(baseline_runs, size),
        "wrapper_peak_rss_mb": round(peak_rss_mb, 1),
        "throughput_ratio": round(ratio, 3),
        "targets": {"wrapper_peak_rss_mb_max": RSS_TARGET_MB, "throughput_ratio_min": RATIO_TARGET},
        "meets_targets": {"rss": peak_rss_mb <= RSS_TARGET_MB, "throughput": ratio >= RATIO_TARGET},
        "settings": {"part_size_mib": args.part_size_mib, "concurrency": args.concurrency},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def _wrapper(source: Path, tmp: Path, env: dict, s3, i: int, sha256: str, args) -> dict:
    prefix = f"bench/run-{i}/stream/1/"
    out_dir = tmp / f"out-{i}"  # beside the source: os.link needs one filesystem
    wenv = env | {
        "DAGTRAIL_OUTPUT_URI": f"s3://{BUCKET}/{prefix}", "DAGTRAIL_TASK": "stream", "DAGTRAIL_ATTEMPT": "1",
        "DAGTRAIL_OUTPUT_DIR": str(out_dir),
    }
    if args.part_size_mib:
        wenv["DAGTRAIL_PART_SIZE_MIB"] = str(args.part_size_mib)
    if args.concurrency:
        wenv["DAGTRAIL_UPLOAD_CONCURRENCY"] = str(args.concurrency)
    argv = [sys.executable, "-m", "dagtrail.task", "--", sys.executable, "-c", LINK, str(source)]
    run = _timed(argv, wenv)
    if run["returncode"] != 0:
        raise SystemExit(f"wrapper exited {run['returncode']}:\n{run['stderr']}")
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=prefix + "manifest.json")["Body"].read())
    [entry] = manifest["artifacts"]
    if entry["sha256"] != sha256 or s3.head_object(Bucket=BUCKET, Key=prefix + "out.bin")["ContentLength"] != entry["size"]:
        raise SystemExit(f"wrapper uploaded the wrong bytes: {entry}")
    (out_dir / "out.bin").unlink()
    _delete_all(s3)
    return run


def _baseline(source: Path, env: dict, s3, key: str) -> dict:
    run = _timed([sys.executable, "-c", BASELINE, str(source), BUCKET, key], env)
    if run["returncode"] != 0:
        raise SystemExit(f"upload_file exited {run['returncode']}:\n{run['stderr']}")
    if s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] != source.stat().st_size:
        raise SystemExit("upload_file stored the wrong size")
    _delete_all(s3)
    return run


def _timed(argv: list[str], env: dict) -> dict:
    """Run argv under a small launcher process; time it and take its peak RSS from wait4().

    Not wait4() from here: a child's ru_maxrss starts at the RSS of the process that forked
    it, and this one holds the moto server's objects. The launcher is a fresh interpreter of
    about 10 MB, below anything it measures.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "report.json")
        err = Path(tmp, "stderr")
        with err.open("wb") as err_fh:
            code = subprocess.run([sys.executable, "-c", LAUNCHER, str(report), *argv], env=env,
                                  stdout=subprocess.DEVNULL, stderr=err_fh).returncode
        if code != 0 or not report.exists():
            raise SystemExit(f"launcher failed ({code}): {err.read_text()[-4000:]}")
        run = json.loads(report.read_text())
        run["stderr"] = err.read_text(errors="replace")[-4000:]
        return run


def _summary(runs: list[dict], size: int) -> dict:
    best = min(runs, key=lambda r: r["seconds"])
    return {
        "seconds": [round(r["seconds"], 3) for r in runs],
        "best_seconds": round(best["seconds"], 3),
        "mib_per_s": round(size / (1 << 20) / best["seconds"], 1),
        "peak_rss_mb": round(max(r["peak_rss_bytes"] for r in runs) / 1e6, 1),
    }


def _make_file(path: Path, size_mib: int) -> str:
    """Incompressible bytes, fast: one random block, each copy stamped with its index."""
    block = bytearray(os.urandom(16 << 20))
    digest = hashlib.sha256()
    remaining = size_mib << 20
    with path.open("wb") as fh:
        i = 0
        while remaining:
            block[:8] = i.to_bytes(8, "little")
            chunk = memoryview(block)[: min(remaining, len(block))]
            fh.write(chunk)
            digest.update(chunk)
            remaining -= len(chunk)
            i += 1
    return digest.hexdigest()


def _delete_all(s3) -> None:
    """moto keeps objects in this process's memory: free them between runs."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=obj["Key"])


def _client(env: dict):
    import boto3

    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"],
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def _env(endpoint: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DAGTRAIL_"))}
    return env | {
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(REPO / "layers" / "dagtrail"),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    raise SystemExit(main())
