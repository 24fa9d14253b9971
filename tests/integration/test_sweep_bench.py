"""bench/sweep_cost.py, bench/task_cost.py and bench/sweep_local.py at tiny sizes: the structural counts agree with
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


def test_walk_counts_parallel_branches_and_loops(asl_cost):
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "End": True}
    machine = {"StartAt": "both", "States": {
        "both": {"Type": "Parallel", "Branches": [{"StartAt": "t", "States": {"t": task}}] * 2, "Next": "wait"},
        "wait": {"Type": "Wait", "Seconds": 30, "Next": "done?"},
        "done?": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "ok"}],
                  "Default": "wait"},
        "ok": {"Type": "Succeed"},
    }}
    cost = asl_cost.execution_cost(machine, lambda name, state: 0,
                                   lambda name, visit: "ok" if visit == 3 else None)
    # 2 execution + Parallel (4 + 2 × 6) + 3 × (Wait 2 + Choice 2) + Succeed 2
    assert cost.events == 2 + 4 + 12 + 3 * 4 + 2
    assert cost.transitions == 1 + 2 + 3 * 2 + 1


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_task_cost_agrees_with_moto_and_counts_the_poll_loop(tmp_path):
    out = tmp_path / "task_cost.json"
    argv = [str(PYTHON), str(BENCH / "task_cost.py"), "--out", str(out)]
    if not HAS_METAFLOW:
        argv.append("--no-metaflow")
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    r = json.loads(out.read_text())
    # 3 parameter states (Choice, 2 Pass) per run, then one Task per task (+ a Parallel in the diamond)
    assert (r["chain"]["dagtrail"]["transitions"], r["chain"]["dagtrail"]["history_events"]) == (13, 2 + 3 * 2 + 10 * 6)
    assert (r["diamond"]["dagtrail"]["transitions"], r["diamond"]["dagtrail"]["history_events"]) == (9, 2 + 6 + 4 + 30)
    for shape in ("chain", "diamond"):
        checked = r[shape]["checked_on_moto"]
        assert checked["moto"]["status"] == "SUCCEEDED" and all(checked["agree"].values()), checked
    poll = r["poll_loop"]
    assert poll["polls"] == 120 and poll["transitions"] == 1 + 120 * 3 + 1
    assert poll["history_events"] == 2 + 5 + 120 * (2 + 5 + 2) + 2
    names = [f["name"] for f in r["figures"]]
    assert len(names) == 6 and names[-2] == "a 1-hour job, 30 s poll: transitions per task"
    assert r["figures"][-2]["ratio"] == round(1.3 / 362, 4)
    if not HAS_METAFLOW:
        pytest.skip("Metaflow part not run: .venv-bench is absent (make bench creates it)")
    assert r["metaflow_offline"]["canary_to_real_aws"] != "REACHED AWS"
    assert r["chain"]["metaflow"]["transitions"] == 10 and "end" in r["chain"]["metaflow"]["states"]
    assert r["diamond"]["metaflow"]["transitions"] == 6  # 5 tasks and the Parallel
    assert all(f["ratio"] for f in r["figures"])


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
