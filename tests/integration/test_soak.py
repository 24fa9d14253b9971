"""bench/soak.py works and reports what it promises (the full soak is `make bench`-sized)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_soak_reports_failures_latency_and_memory(tmp_path):
    out = tmp_path / "soak.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "soak.py"), "--runs", "2", "--concurrent", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["failures"] == 0
    assert result["back_to_back"]["runs"] == 2 and result["at_once"]["runs"] == 2
    latency = result["handler_latency"]
    # 3 runs' worth of submits and job events at least: every handler invocation was timed.
    assert latency["SubmitTaskFunction"]["count"] == 4 * 2 and latency["JobEventsFunction"]["count"] >= 4 * 3
    assert 0 < latency["all"]["p50_ms"] <= latency["all"]["p99_ms"]
    assert result["memory"]["rss_after_last_kib"] > 0 and result["memory"]["growth_kib"] is not None
    assert "failures 0" in proc.stdout
