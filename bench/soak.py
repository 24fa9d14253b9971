"""Soak: many small local workflows back to back, and several at once (issue 7).

    .venv/bin/python bench/soak.py              # 200 back to back, 20 at once
    .venv/bin/python bench/soak.py --quick      # 10 and 3
    .venv/bin/python bench/soak.py --runs 3 --concurrent 2 --out /tmp/soak.json

Back to back: one worker process runs the workflows one after another (`dagtrail run`'s
LocalRun, in-process, so a leak accumulates where it would in a long-lived process). At
once: that many worker processes, one workflow each, started together. Every run records
its handler invocations (LocalRun's event_log), which give the handlers' latencies.

Reports failures (target 0), handler p50/p99 latency in ms per function and overall, the
worker's resident memory after the first and the last back-to-back run (growth), and wall
times; writes bench/results/soak.json (or --out). Exit code 1 when any run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "soak.json"
SPEC = """
name: soak
parameters:
  n: 3
tasks:
  make:
    image: python:3.13-slim
    command: ["python3", "-c", "import os; open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/n.txt', 'w').write('{{ params.n }}')"]
  double:
    image: python:3.13-slim
    depends_on: [make]
    command: ["python3", "-c", "import os; d = os.environ['DAGTRAIL_INPUT_DIR']; n = int(open(d + '/make/n.txt').read()); open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/n.txt', 'w').write(str(2 * n))"]
"""


def _rss_kib() -> int:
    """Resident memory now (not the peak), from /proc."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def worker(count: int, workdir: Path) -> dict:
    """Run `count` workflows in this process; one JSON report on stdout."""
    from dagtrail.local.engine import LocalRun
    from dagtrail.spec.loader import load_spec_text

    spec = load_spec_text(SPEC)
    runs, latencies = [], {}
    for i in range(count):
        log = workdir / f"events-{i}.jsonl"
        started = time.perf_counter()
        try:
            summary = LocalRun(spec, {"n": i}, workdir / f"run-{i}", docker=False, event_log=log).execute()
            status, error = summary.status, summary.cause
        except Exception as exc:  # a crash is a failure to count, not the end of the soak
            status, error = "CRASHED", f"{type(exc).__name__}: {exc}"
        runs.append({"status": status, "error": error, "seconds": round(time.perf_counter() - started, 3),
                     "rss_kib": _rss_kib()})
        if log.exists():
            for line in log.read_text().splitlines():
                entry = json.loads(line)
                latencies.setdefault(entry["function"], []).append(entry["seconds"])
                if "error" in entry:
                    runs[-1].setdefault("handler_errors", []).append(f"{entry['function']}: {entry['error']}")
    return {"runs": runs, "latencies": latencies}


def _spawn(count: int, workdir: Path) -> subprocess.Popen:
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, __file__, "--worker", str(count), "--workdir", str(workdir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=workdir)


def _collect(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        return {"runs": [{"status": "CRASHED", "error": err.strip().splitlines()[-1:] or ["no output"]}],
                "latencies": {}}
    return json.loads(out.strip().splitlines()[-1])


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return {"count": len(ordered), "p50_ms": round(q[49] * 1000, 2), "p99_ms": round(q[98] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2)}


def soak(runs: int, concurrent: int, root: Path) -> dict:
    started = time.perf_counter()
    serial = _collect(_spawn(runs, root / "serial"))
    serial_seconds = time.perf_counter() - started

    started = time.perf_counter()
    procs = [_spawn(1, root / f"parallel-{i}") for i in range(concurrent)]
    parallel = [_collect(p) for p in procs]
    parallel_seconds = time.perf_counter() - started

    all_runs = serial["runs"] + [r for p in parallel for r in p["runs"]]
    failures = [r for r in all_runs if r["status"] != "SUCCEEDED" or r.get("handler_errors")]
    latencies: dict[str, list[float]] = {}
    for part in [serial, *parallel]:
        for name, values in part["latencies"].items():
            latencies.setdefault(name, []).extend(values)
    rss = [r["rss_kib"] for r in serial["runs"] if "rss_kib" in r]
    return {
        "benchmark": "soak",
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
        "workflow": "2 tasks (make -> double), local processes, moto in-process",
        "back_to_back": {"runs": runs, "seconds": round(serial_seconds, 1),
                         "failures": sum(r["status"] != "SUCCEEDED" for r in serial["runs"])},
        "at_once": {"runs": concurrent, "seconds": round(parallel_seconds, 1),
                    "failures": sum(r["status"] != "SUCCEEDED" for p in parallel for r in p["runs"])},
        "failures": len(failures),
        "failure_details": [{k: r.get(k) for k in ("status", "error", "handler_errors")} for r in failures][:20],
        "handler_latency": {"all": _percentiles([v for vs in latencies.values() for v in vs]),
                            **{name: _percentiles(vs) for name, vs in sorted(latencies.items())}},
        "memory": {
            "rss_after_first_kib": rss[0] if rss else None,
            "rss_after_last_kib": rss[-1] if rss else None,
            "growth_kib": rss[-1] - rss[0] if rss else None,
            # Per run after the first, which pays for imports and caches.
            "growth_per_run_kib": round((rss[-1] - rss[0]) / (len(rss) - 1), 1) if len(rss) > 1 else None,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="workflows back to back (default 200)")
    parser.add_argument("--concurrent", type=int, default=20, help="workflows at once (default 20)")
    parser.add_argument("--quick", action="store_true", help="10 back to back, 3 at once")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.workdir)))
        return 0
    if args.quick:
        args.runs, args.concurrent = 10, 3
    with tempfile.TemporaryDirectory(prefix="dagtrail-soak-") as tmp:
        result = soak(args.runs, args.concurrent, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    lat = result["handler_latency"]["all"]
    print(f"soak: {args.runs} back to back in {result['back_to_back']['seconds']} s, {args.concurrent} at once in "
          f"{result['at_once']['seconds']} s; failures {result['failures']}; handler p50 {lat.get('p50_ms')} ms "
          f"p99 {lat.get('p99_ms')} ms; memory growth {result['memory']['growth_kib']} KiB -> {args.out}")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
