"""Sweeps compile by size (thresholds in dagtrail.sweeps.sizing) and pass asl-validator."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from dagtrail.compiler import compile_workflow, to_json
from dagtrail.spec import load_spec_text
from dagtrail.sweeps import sizing

REPO = Path(__file__).resolve().parents[3]
VALIDATOR = REPO / "node_modules" / ".bin" / "asl-validator"


def sweep_spec(foreach: str, *, compute: str = "batch", extra: str = "") -> str:
    return f"""name: sw
parameters: {{p: 1}}
tasks:
  prep:
    image: x
    command: [echo]
  run:
    image: x
    depends_on: [prep]
    command: [echo, "{{{{ item }}}}", "{{{{ params.p }}}}"]
    retries: 2
    compute: {compute}
    foreach: {foreach}
{extra}  after:
    image: x
    depends_on: [run]
    command: [echo]
"""


def machine(foreach: str, **kw) -> dict:
    return compile_workflow(load_spec_text(sweep_spec(foreach, **kw)))


@pytest.mark.parametrize("count,compute,mode", [
    (1, "batch", "inline"), (sizing.INLINE_MAX_ITEMS, "batch", "inline"),
    (sizing.INLINE_MAX_ITEMS + 1, "batch", "array"), (sizing.ARRAY_MAX_SIZE, "batch", "array"),
    (sizing.ARRAY_MAX_SIZE + 1, "batch", "distributed"), (1_000_000, "batch", "distributed"),
    (sizing.INLINE_MAX_ITEMS_ECS, "ecs", "inline"), (None, "batch", "distributed"),
])
def test_thresholds(count, compute, mode):
    assert sizing.sweep_mode(count, compute) == mode


def test_inline_map_iterates_over_indices_not_items():
    asl = machine("{values: [a, b, c]}", extra="    max_parallel: 500\n")
    states = asl["States"]
    assert states["prep"]["Next"] == "run"
    assert states["run"] == {"Type": "Pass", "Parameters": {"indices.$": "States.ArrayRange(0, 2, 1)"},
                             "ResultPath": "$.sweep", "Next": "run map"}
    mapped = states["run map"]
    assert mapped["Type"] == "Map" and mapped["Next"] == "after" and mapped["ResultPath"] is None
    assert mapped["MaxConcurrency"] == sizing.MAP_MAX_CONCURRENCY  # capped at inline Map's 40
    assert mapped["Catch"][0]["Next"] == "run failed" and states["run failed"]["Type"] == "Fail"
    item = mapped["ItemProcessor"]["States"]["run item"]
    payload = item["Parameters"]["Payload"]
    assert payload["sweep"] == "item" and payload["item_index.$"] == "$.index"
    # each item retries on its own, with the task's retries
    assert item["Retry"][1]["ErrorEquals"] == ["dagtrail.TaskFailed", "States.Timeout"]
    assert item["Retry"][1]["MaxAttempts"] == 2
    assert item["Catch"][0]["Next"] == "run item failed"
    assert "[\"a\",\"b\",\"c\"]" in payload["definition"]  # static, in the definition: not state data


def test_inline_concurrency_follows_max_parallel():
    assert machine("{values: [1, 2]}", extra="    max_parallel: 3\n")["States"]["run map"]["MaxConcurrency"] == 3


def test_array_job_is_one_task_state_without_whole_sweep_retries():
    asl = machine("{range: {stop: 10000}}")
    run = asl["States"]["run"]
    assert run["Type"] == "Task" and run["Next"] == "after"
    assert run["Parameters"]["Payload"]["sweep"] == "array"
    assert [r["ErrorEquals"] for r in run["Retry"]] == [list(run["Retry"][0]["ErrorEquals"])]
    assert "dagtrail.TaskFailed" not in json.dumps(run["Retry"])
    assert not any(s.startswith("run ") and s != "run failed" for s in asl["States"])


@pytest.mark.parametrize("foreach", ["{range: {stop: 1000000}}", "{from: prep/items.json}"])
def test_distributed_map_reads_chunks_from_s3(foreach):
    asl = machine(foreach, extra="    max_parallel: 25000\n")
    plan, mapped = asl["States"]["run"], asl["States"]["run map"]
    assert plan["Resource"] == "arn:aws:states:::lambda:invoke" and plan["Parameters"]["Payload"]["sweep"] == "plan"
    assert plan["ResultSelector"] == {"bucket.$": "$.Payload.bucket", "key.$": "$.Payload.key"}
    assert mapped["ItemReader"]["Parameters"] == {"Bucket.$": "$.sweep.bucket", "Key.$": "$.sweep.key"}
    assert mapped["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert mapped["MaxConcurrency"] == 3  # 25,000 items at once = 3 chunks of 10,000
    chunk = mapped["ItemProcessor"]["States"]["run chunk"]
    assert chunk["Resource"].endswith("waitForTaskToken")
    assert chunk["Parameters"]["Payload"]["run_id.$"] == "$.run_id"  # the parent's, via ItemSelector
    assert mapped["ItemSelector"]["run_id.$"] == "$$.Execution.Name"
    assert mapped["Next"] == "after"


def test_chunks_cover_every_item_once():
    chunks = sizing.chunks(25_001)
    assert [c["size"] for c in chunks] == [10_000, 10_000, 5_001]
    assert [c["offset"] for c in chunks] == [0, 10_000, 20_000]
    assert len(sizing.chunks(1_000_000)) == 100


def test_plain_workflows_compile_as_before():
    text = sweep_spec("{values: [1]}").replace("    foreach: {values: [1]}\n", "").replace('"{{ item }}", ', "")
    asl = compile_workflow(load_spec_text(text))
    assert "foreach" not in json.dumps(asl) and "Map" not in json.dumps(asl)


@pytest.mark.skipif(not VALIDATOR.exists() or not shutil.which("node"), reason="asl-validator not installed")
@pytest.mark.parametrize("foreach", ["{values: [1, 2, 3]}", "{range: {stop: 100}}", "{range: {stop: 10000}}",
                                     "{range: {stop: 1000000}}", "{product: {a: [1, 2], b: [3]}}",
                                     "{from: prep/items.json}"])
def test_asl_validator_accepts_every_shape(foreach, tmp_path):
    path = tmp_path / "m.asl.json"
    path.write_text(to_json(machine(foreach)))
    result = subprocess.run([str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
