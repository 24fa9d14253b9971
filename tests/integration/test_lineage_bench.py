"""bench/lineage_writer.py runs at a small size and reports what it promises (no timing
assertions: the counts of requests are deterministic, the seconds are not)."""

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "lineage_writer.py"


def test_lineage_writer_bench_smoke(tmp_path):
    out = tmp_path / "lineage_writer.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--records", "300", "--chain", "20", "--delay-ms", "0.5",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    w = result["writer"]
    for mode in ("undelayed", "delayed"):
        # Same graph both ways (the bench asserts it too), one request per record unbatched.
        assert w[mode]["batched"]["vertices"] == w[mode]["one_per_record"]["vertices"] > 0
        assert w[mode]["one_per_record"]["requests"] == 300
        assert w[mode]["batched"]["requests"] == w[mode]["batched"]["planned_requests"]
        assert w[mode]["throughput_ratio"] > 0
    assert w["round_trips"]["batched_neptune_plan"] == 2  # 300 records / 200 per request
    assert w["round_trips"]["ratio_gremlite"] >= 10 and result["meets_targets"]["round_trips_gremlite"]
    up = result["upstream"]
    assert (up["deep"]["task_runs"], up["deep"]["artifacts"]) == (20, 20)
    assert up["shallow"]["task_runs"] == 10
    # One request per BFS level: the walk costs round trips in proportion to depth.
    assert up["deep"]["requests"] < 5 * 20
