"""The lineage writer: batched requests against one request per record, and a deep upstream query.

1. Writer. The same records (default 10,000: task attempts with their tasks, artifacts and
   edges, as a run emits them) are written into fresh gremlite databases four ways:
   batched (writer.write's plan) and one request per record, each undelayed and behind a
   connection wrapper that sleeps `--delay-ms` per request, like Neptune's round trip
   inside a VPC (1–2 ms). gremlite runs in-process, so it has no round trip of its own for
   batching to save (DESIGN.md): the figure that carries over to Neptune is the ratio of
   round trips, reported for both gremlite's plan (bounded by its recursion limit, see
   graph.GREMLITE_MAX_STEPS) and Neptune's (200 mutations per request). The throughput
   ratios are measured as they are, gremlite's own per-mutation cost included.
2. Query. `upstream` of the last artifact of a chain of `--chain` attempts (default 1,000,
   each using the previous one's output) against that of its 10th, in the same graph:
   seconds, requests (one per BFS level), ratio.

    .venv/bin/python bench/lineage_writer.py                            # full, a few minutes
    .venv/bin/python bench/lineage_writer.py --records 500 --chain 50   # quick
Writes bench/results/lineage_writer.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "lineage_writer.json"
RATIO_TARGET = 10.0
NEPTUNE_MAX_MUTATIONS = 200


class DelayedConnection:
    """A remote connection that counts requests and sleeps `delay` seconds on each, as a
    network round trip would."""

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner, self.delay, self.requests = inner, delay, 0

    def submit(self, bytecode: Any) -> Any:
        self.requests += 1
        if self.delay:
            time.sleep(self.delay)
        return self.inner.submit(bytecode)

    def close(self) -> None:
        self.inner.close()


def open_wrapped(path: Path, delay: float) -> tuple[Any, DelayedConnection]:
    from gremlin_python.process.anonymous_traversal import traversal

    from dagtrail.lineage import graph

    conn = DelayedConnection(graph.remote(graph.open_graph(f"gremlite://{path}")), delay)
    return traversal().with_remote(conn), conn


def run_records(n: int) -> list:
    """n distinct records shaped like a run's: each attempt brings its Task, TaskRun (final
    state, full properties), partOf/runs edges, its output artifact and the one it used."""
    from dagtrail.lineage import records as R
    from dagtrail.lineage.records import ArtifactRef

    recs = R.execution("bench-run", "bench", execution_arn="arn:bench", status="SUCCEEDED", params={"n": n},
                       started_at="2024-01-01T00:00:00Z", stopped_at="2024-01-01T01:00:00Z")
    from dagtrail.lineage.writer import _sort_key

    seen: set[tuple] = set()
    unique = []
    i = 0
    while len(unique) < n:
        out = ArtifactRef(uri=f"s3://bench/bench/bench-run/t{i}/1/out.bin", name="out.bin", size=i, sha256=f"{i:064x}")
        used = ArtifactRef(uri=f"s3://bench/bench/bench-run/t{i - 1}/1/out.bin", name="out.bin", size=max(i - 1, 0),
                           sha256=f"{i - 1:064x}")
        recs += R.task_run("bench-run", "bench", f"t{i}", 1, status="SUCCEEDED", job_id=f"job-{i}", backend="batch",
                           image="python:3.11-slim", image_digest="sha256:" + "ab" * 32, command=["python3", "step.py", str(i)],
                           resources={"vcpu": 1, "memory_mib": 2048}, started_at="2024-01-01T00:00:01Z",
                           stopped_at="2024-01-01T00:00:09Z", exit_code=0, log_stream=f"bench/default/{i}")
        recs += R.artifacts("bench-run", f"t{i}", 1, produced=[out], used=[used] if i else [])
        i += 1
        # The writer drops exact duplicates (an artifact's vertex comes with its producer and
        # its user): count distinct records, so both ways write exactly n.
        for r in recs:
            if _sort_key(r) not in seen:
                seen.add(_sort_key(r))
                unique.append(r)
        recs = []
    return unique[:n]


def write_once(records: list, *, batched: bool, delay: float, workdir: Path) -> dict[str, Any]:
    from dagtrail.lineage import graph, writer

    g, conn = open_wrapped(workdir / f"{'batched' if batched else 'single'}-{delay}.db", delay)
    # The wrapper hides gremlite from the writer: say so, and pass its step budget.
    options = {"max_steps": graph.GREMLITE_MAX_STEPS} if batched else {"max_mutations": 1}
    options["gremlite"] = True
    start = time.perf_counter()
    stats = writer.write(g, records, **options)
    seconds = time.perf_counter() - start
    vertices = g.V().count().next()
    conn.close()
    return {"requests": conn.requests - 1, "planned_requests": stats.requests, "seconds": round(seconds, 3),
            "records_per_s": round(len(records) / seconds, 1), "vertices": vertices}


def bench_writer(n: int, delay_ms: float, workdir: Path) -> dict[str, Any]:
    from dagtrail.lineage import writer

    records = run_records(n)
    out: dict[str, Any] = {"records": n, "delay_ms": delay_ms}
    for label, delay in (("undelayed", 0.0), ("delayed", delay_ms / 1000)):
        batched = write_once(records, batched=True, delay=delay, workdir=workdir)
        single = write_once(records, batched=False, delay=delay, workdir=workdir)
        assert batched["vertices"] == single["vertices"], "both ways must build the same graph"
        out[label] = {
            "batched": batched, "one_per_record": single,
            "throughput_ratio": round(batched["records_per_s"] / single["records_per_s"], 2),
        }
    gremlite_requests = out["delayed"]["batched"]["requests"]
    neptune_requests = len(writer.plan(records, max_mutations=NEPTUNE_MAX_MUTATIONS))
    out["round_trips"] = {
        "one_per_record": out["delayed"]["one_per_record"]["requests"],
        "batched_gremlite": gremlite_requests,
        "batched_neptune_plan": neptune_requests,
        "ratio_gremlite": round(out["delayed"]["one_per_record"]["requests"] / gremlite_requests, 1),
        "ratio_neptune_plan": round(n / neptune_requests, 1),
    }
    # Time spent waiting on the network alone: what batching saves against a remote graph.
    out["round_trip_wait_s"] = {
        "batched_gremlite": round(gremlite_requests * delay_ms / 1000, 3),
        "one_per_record": round(n * delay_ms / 1000, 3),
    }
    return out


def chain_records(depth: int) -> list:
    from dagtrail.lineage import records as R
    from dagtrail.lineage.records import ArtifactRef

    recs = R.execution("chain", "chain", execution_arn="arn:chain", status="SUCCEEDED", params={"depth": depth},
                       started_at="2024-01-01T00:00:00Z")
    for i in range(depth):
        out = ArtifactRef(uri=f"s3://bench/chain/{i}.bin", name=f"{i}.bin", size=i, sha256="cd" * 32)
        used = [ArtifactRef(uri=f"s3://bench/chain/{i - 1}.bin", name=f"{i - 1}.bin", size=max(i - 1, 0), sha256="cd" * 32)]
        recs += R.task_run("chain", "chain", f"s{i}", 1, status="SUCCEEDED", exit_code=0, image="img",
                           command=["step", str(i)], started_at="2024-01-01T00:00:01Z", stopped_at="2024-01-01T00:00:02Z")
        recs += R.artifacts("chain", f"s{i}", 1, produced=[out], used=used if i else [])
    return recs


def bench_upstream(depth: int, shallow: int, workdir: Path, repeat: int = 3) -> dict[str, Any]:
    """upstream of the chain's last artifact and of its `shallow`-th, in the same graph, so
    the ratio measures depth alone (gremlite's lookups also grow with the graph's size)."""
    from dagtrail.lineage import graph, trace, writer

    g, conn = open_wrapped(workdir / f"chain-{depth}.db", 0.0)
    writer.write(g, chain_records(depth), max_steps=graph.GREMLITE_MAX_STEPS, gremlite=True)
    out = {}
    for name, d in (("deep", depth), ("shallow", shallow)):
        uri = f"s3://bench/chain/{d - 1}.bin"
        best, requests = float("inf"), 0
        for _ in range(repeat):
            before = conn.requests
            start = time.perf_counter()
            up = trace.trace(g, uri, "upstream")
            best = min(best, time.perf_counter() - start)
            requests = conn.requests - before
        runs = sum(v["label"] == "TaskRun" for v in up["vertices"])
        assert runs == d, f"upstream found {runs} of {d} attempts"
        out[name] = {"depth": d, "seconds": round(best, 4), "requests": requests, "task_runs": runs,
                     "artifacts": sum(v["label"] == "Artifact" for v in up["vertices"]),
                     "ms_per_level": round(best * 1000 / (2 * d), 3)}
    out["graph_vertices"] = g.V().count().next()
    conn.close()
    out["time_ratio"] = round(out["deep"]["seconds"] / out["shallow"]["seconds"], 1)
    out["depth_ratio"] = round(depth / shallow, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--delay-ms", type=float, default=1.5)
    parser.add_argument("--chain", type=int, default=1_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))

    with tempfile.TemporaryDirectory(prefix="lineage-bench-") as tmp:
        workdir = Path(tmp)
        writer_result = bench_writer(args.records, args.delay_ms, workdir)
        upstream = bench_upstream(args.chain, 10, workdir)
    result = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "writer": writer_result,
        "upstream": upstream,
        "targets": {"round_trip_ratio_min": RATIO_TARGET},
        "meets_targets": {
            "round_trips_gremlite": writer_result["round_trips"]["ratio_gremlite"] >= RATIO_TARGET,
            "round_trips_neptune_plan": writer_result["round_trips"]["ratio_neptune_plan"] >= RATIO_TARGET,
            "delayed_throughput": writer_result["delayed"]["throughput_ratio"] >= RATIO_TARGET,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
