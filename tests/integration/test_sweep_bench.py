"""bench/sweep_cost.py and bench/sweep_local.py at tiny sizes: the structural counts agree with
moto's execution history, Metaflow's machine is compiled offline, and the JSON has the
shape run_all.py reads. Metaflow parts need .venv-bench (`make bench` creates it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
PYTHON = REPO / ".venv" / "bin" / "python"
HAS_METAFLOW = (REPO / ".venv-bench" / "bin" / "python").exists()


@pytest.fixture
def asl_cost():
    sys.path.insert(0, str(BENCH))
    try:
        import _asl_cost
    finally:
        sys.path.remove(str(BENCH))
    return _asl_cost


def test_walk_counts_each_state_kind(asl_cost):
    task = {"Type": "Task", "Resource": "arn:aws:states:::batch:submitJob.sync", "End": True}
    machine = {"StartAt": "pick", "States": {
        "pick": {"Type": "Choice", "Choices": [], "Default": "plain"},
        "other": {"Type": "Pass", "Next": "plain"},
        "plain": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "inline"},
        "inline": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "t",
                                                    "States": {"t": task}}, "Next": "wide"},
        "wide": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "t",
                                                  "States": {"t": task}}, "End": True},
    }}
    cost = asl_cost.execution_cost(machine, lambda name, state: {"inline": 3, "wide": 5}[name])
    # 2 execution + 2 Choice + 5 request-response Task + (4 + 3 × (2 + 6)) inline + 6 distributed
    assert cost.events == 2 + 2 + 5 + 28 + 6
    assert cost.transitions == 1 + 1 + (1 + 3) + (1 + 5)
    assert cost.executions() == 6 and cost.largest_history() == cost.events
    assert cost.total_events() == cost.events + 5 * (2 + 6)
    taken = asl_cost.execution_cost(machine, lambda name, state: 0, {"pick": "other"})
    assert taken.transitions == 1 + 1 + 1 + 1 + 1 and taken.events == 2 + 2 + 2 + 5 + 4 + 6


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sweep_cost_agrees_with_moto_and_compiles_metaflow(tmp_path):
    out = tmp_path / "sweep_cost.json"
    argv = [str(PYTHON), str(BENCH / "sweep_cost.py"), "--measure", "3", "--out", str(out)]
    if not HAS_METAFLOW:
        argv.append("--no-metaflow")
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=580)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    r = json.loads(out.read_text())
    assert r["10000"]["dagtrail"]["transitions_per_item"] <= 0.01
    assert r["1000000"]["dagtrail"]["largest_execution_history"] < 25_000
    runs = {x["mode"]: x for x in r["measured_on_moto"]}
    assert set(runs) == {"inline", "distributed"}
    for run in runs.values():
        assert run["moto"]["status"] == "SUCCEEDED" and all(run["agree"].values()), run
        assert run["moto"]["items"]["sweep"]["succeeded"] == run["items"]
    assert runs["inline"]["moto"]["parent_history"] == 2 + 2 + 3 * 2 + 3 * 6 + 4 + 3 * 8  # Choice, 3 Pass, start/join/end, Map
    assert runs["distributed"]["chunks"] == 3 and runs["distributed"]["moto"]["map_runs"] == 1
    if not HAS_METAFLOW:
        pytest.skip("Metaflow part not run: .venv-bench is absent (make bench creates it)")
    compile_ = r["metaflow_compile"]
    assert compile_["offline"]["canary_to_real_aws"] != "REACHED AWS"
    assert compile_["offline"]["moto_server_requests"] > 0 and compile_["same_machine_for_every_size"]
    mf = r["10000"]["metaflow"]
    assert mf["source"].startswith("compiled by Metaflow") and "*work" in mf["states"]
    assert mf["transitions_per_item"] > 1 and not mf["runs_on_aws"]  # 10,000 × 8 events > 25,000
    assert any("DynamoDB" in why for why in r["1000000"]["metaflow_distributed"]["fails_because"])
    assert r["100"]["metaflow"]["runs_on_aws"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sweep_local_times_both_sides(tmp_path):
    if not HAS_METAFLOW:
        pytest.skip("Metaflow not installed: .venv-bench is absent (make bench creates it)")
    out = tmp_path / "sweep_local.json"
    done = subprocess.run([str(PYTHON), str(BENCH / "sweep_local.py"), "--items", "5", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=580)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    r = json.loads(out.read_text())
    for side in ("dagtrail", "metaflow"):
        assert r[side]["ok"] and r[side]["items_succeeded"] == 5, r[side]
        assert r[side]["seconds"] > 0 and r[side]["peak_tree_rss_mb"] > 0
    (wall,) = r["figures"]
    assert wall["ratio"] == pytest.approx(r["dagtrail"]["seconds"] / r["metaflow"]["seconds"], rel=0.01)
    assert wall["memory_ratio"] > 0 and wall["target"] is None and "error" not in wall
