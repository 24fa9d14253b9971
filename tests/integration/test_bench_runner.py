"""bench/run_all.py: a --quick run writes BENCHMARKS.md and all.json with every section; the
report shows missing, failed and judged figures as they are; the sweep-cost plot is drawn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
PYTHON = REPO / ".venv" / "bin" / "python"


@pytest.fixture(scope="module")
def run_all():
    sys.path.insert(0, str(BENCH))
    import run_all as module

    yield module
    sys.path.remove(str(BENCH))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_quick_run_writes_every_section(tmp_path, run_all):
    report = tmp_path / "BENCHMARKS.md"
    done = subprocess.run(
        [str(PYTHON), str(BENCH / "run_all.py"), "--quick", "--results-dir", str(tmp_path / "results"),
         "--report", str(report), "--notes", str(tmp_path / "no-notes.md"),
         "--only", "local_overhead", "--only", "cold_start", "--only", "handler_throughput"],
        cwd=REPO, capture_output=True, text=True, timeout=230,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((tmp_path / "results" / "all.json").read_text())
    text = report.read_text()
    assert data["quick"] is True and data["machine_start"]["cores"] >= 1
    assert "Load average" in text and f"Python {data['machine_start']['python']}" in text
    assert "first_invocation" not in {b.name for b in run_all.discover()}  # cold_start's, not a bench
    for bench in run_all.discover():
        assert bench.name in data["benches"]
        assert f"## {bench.title}" in text
    benches = data["benches"]
    for name in ("local_overhead", "cold_start", "handler_throughput"):
        assert benches[name]["status"] == "ok", benches[name]
        assert benches[name]["figures"], name
    # Real measurements landed in the report, each with its reproducing command.
    job_events = next(f for f in benches["cold_start"]["figures"] if f["name"] == "import job_events/app.py")
    assert job_events["value"] > 0 and job_events["ratio"] == pytest.approx(
        job_events["value"] / job_events["baseline_value"], rel=0.01)
    assert "`.venv/bin/python bench/cold_start.py`" in text
    # The handler ran once on moto after its import: its early-event write made a DynamoDB client.
    invoked = next(f for f in benches["cold_start"]["figures"]
                   if f["name"].startswith("import + first invocation of job_events/app.py"))
    assert invoked["value"] > job_events["value"] * 0.5 and "clients: dynamodb" in invoked["what"]
    throughput = benches["handler_throughput"]["result"]
    assert throughput["events"] == 40 and throughput["outcomes"]["applied"] == 40
    runs = benches["local_overhead"]["result"]["runs"]
    assert runs["dagtrail_chain"]["ok"] is True and runs["dagtrail_chain_own_process"]["ok"] is True
    # A served run's CPU is its forked child's (the server's log), not the client's few ms.
    assert runs["dagtrail_chain"]["cpu_seconds"] > 0.2
    assert benches["wrapper_stream"]["status"] == "skipped"


def test_missing_and_failing_scripts_are_reported(tmp_path, run_all, monkeypatch):
    fake_bench = tmp_path / "bench"
    fake_bench.mkdir()
    (fake_bench / "broken.py").write_text("import sys\nprint('boom: no table')\nsys.exit(3)\n")
    (fake_bench / "good.py").write_text(
        'import argparse, json\np = argparse.ArgumentParser(); p.add_argument("--out")\n'
        "a = p.parse_args()\nopen(a.out, 'w').write(json.dumps({'figures': [{'name': 'x', 'value': 2, 'unit': 's',"
        " 'baseline_name': 'y', 'baseline_value': 4, 'ratio': 0.5, 'target': {'max': 0.3}, 'pass': False}]}))\n")
    monkeypatch.setattr(run_all, "BENCH", fake_bench)
    monkeypatch.setattr(run_all, "BENCHES", [
        run_all.Bench("absent", "Absent bench", 5, 60),
        run_all.Bench("broken", "Broken bench", 4, 60),
        run_all.Bench("good", "Good bench", 9, 60),
    ])
    stale = tmp_path / "results"
    stale.mkdir()
    monkeypatch.setattr(run_all, "RESULTS", stale)
    report = tmp_path / "B.md"
    assert run_all.main(["--results-dir", str(stale), "--report", str(report),
                         "--notes", str(tmp_path / "notes.md")]) == 0
    data = json.loads((stale / "all.json").read_text())["benches"]
    assert data["absent"]["status"] == "not yet available"
    assert data["broken"]["status"] == "failed" and "boom: no table" in data["broken"]["detail"]
    assert data["good"]["status"] == "ok"
    text = report.read_text()
    assert "**not yet available**" in text and "exit 3: boom: no table" in text
    assert "| x | 2 s | y: 4 s | 0.5 | ≤ 0.3 | **FAIL** |" in text
    assert "| [Good bench](#good-bench) | ok | 0 of 1 |" in text


def test_adapters_read_the_other_scripts_results(run_all):
    wrapper = {"size_mib": 2048, "wrapper": {"mib_per_s": 48.6}, "upload_file": {"mib_per_s": 37.2},
               "wrapper_peak_rss_mb": 88.3, "throughput_ratio": 1.307,
               "targets": {"wrapper_peak_rss_mb_max": 100, "throughput_ratio_min": 0.9},
               "meets_targets": {"rss": True, "throughput": True}}
    figs = run_all.figures_of("wrapper_stream", wrapper)
    assert [f["pass"] for f in figs] == [True, True] and figs[0]["ratio"] == 1.307
    sweep = {str(n): {"dagtrail": {"mode": "array", "transitions_per_item": t, "largest_execution_history": h},
                      "metaflow": {"transitions_per_item": 1.0, "largest_execution_history": 8 * n}}
             for n, t, h in ((100, 1.02, 808), (10_000, 0.0001, 8), (1_000_000, 0.0001, 30_000))}
    figs = {f["name"]: f for f in run_all.figures_of("sweep_cost", sweep)}
    assert figs["transitions per item, N = 10,000 (array)"]["pass"] is True
    assert figs["largest execution history, N = 1,000,000"]["pass"] is False  # 30,000 > 25,000
    # A format an adapter does not know falls back to ratios and meets_targets.
    figs = run_all.figures_of("sweep_cost", {"speed_ratio": 3.0, "meets_targets": {"fast": False}})
    assert [(f["name"], f["pass"]) for f in figs] == [("speed_ratio", None), ("meets target: fast", False)]


def test_sweep_cost_plot_is_a_png(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        from plots import make_plots
    finally:
        sys.path.remove(str(BENCH))
    result = {str(n): {tool: {"transitions_per_item": t, "largest_execution_history": h}
                       for tool, t, h in (("dagtrail", 0.001, 10), ("metaflow", 1.0, 8 * n))}
              for n in (100, 10_000, 1_000_000)}
    plots = make_plots({"benches": {"sweep_cost": {"status": "ok", "result": result}}}, tmp_path / "r", tmp_path)
    assert plots == {"sweep_cost": "r/sweep_cost.png"}
    assert (tmp_path / "r" / "sweep_cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_runs_see_no_aws_or_dagtrail_settings_but_where_the_cache_is(monkeypatch):
    sys.path.insert(0, str(BENCH))
    try:
        import local_overhead
    finally:
        sys.path.remove(str(BENCH))
    for name, value in {"AWS_PROFILE": "prod", "DAGTRAIL_RUNS_TABLE": "t", "METAFLOW_HOME": "h",
                        "PYTHONDONTWRITEBYTECODE": "1", "DAGTRAIL_CACHE_DIR": "/c"}.items():
        monkeypatch.setenv(name, value)
    env = local_overhead._clean_env()
    assert env["DAGTRAIL_CACHE_DIR"] == "/c" and env["AWS_ACCESS_KEY_ID"] == "bench"
    assert not {"AWS_PROFILE", "DAGTRAIL_RUNS_TABLE", "METAFLOW_HOME", "PYTHONDONTWRITEBYTECODE"} & set(env)
    assert env["DAGTRAIL_SERVER"] == "off"  # run_tree measures argv's own tree; local_overhead serves its own


def test_each_wall_time_figure_gets_a_peak_memory_figure_beside_it():
    sys.path.insert(0, str(BENCH))
    try:
        import local_overhead
    finally:
        sys.path.remove(str(BENCH))
    ours = {"ok": True, "seconds": 1.0, "peak_tree_pss_mb": 300.0, "peak_tree_rss_mb": 600.0}
    theirs = {"ok": True, "seconds": 4.0, "peak_tree_pss_mb": 60.0, "peak_tree_rss_mb": 80.0}
    wall = local_overhead.figure("10-stage chain", ours, theirs, "wall time")
    memory = local_overhead.memory_figure(wall)
    assert (wall["ratio"], wall["pass"]) == (0.25, True)
    assert memory["name"] == "peak memory, 10-stage chain" and memory["unit"] == "MB"
    assert (memory["value"], memory["baseline_value"], memory["ratio"]) == (300.0, 60.0, 5.0)
    assert memory["pass"] is None and "600.0 MB / 80.0 MB" in memory["what"]
    assert local_overhead.memory_figure(local_overhead.figure("chain", ours, None, "wall time")) is None
