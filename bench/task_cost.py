"""Step Functions cost per task: a chain, a diamond, and a submit-wait-poll loop.

    .venv/bin/python bench/task_cost.py                          # writes bench/results/task_cost.json
    .venv/bin/python bench/task_cost.py --no-metaflow --out /tmp/t.json   # no Metaflow

State transitions (what Standard workflows bill) and history events per task of one
successful run, counted from each machine's structure by bench/_asl_cost.py, the same walk
on every side:
- dagtrail: the machines dagtrail.compiler makes for a 10-task chain and a 5-task diamond
  (start → two branches → join → end), each also run by local mode on moto and its
  execution history counted (bench/_moto_history.py): the walk must agree with it.
- Metaflow 2.19.39: the same flows, `step-functions create --only-json` against a moto server
  (bench/_metaflow_sfn.py): a Batch `.sync` task per step, a Parallel for the branches.
- a submit-wait-poll loop, as a Step Functions + Batch pipeline without a task token or
  `.sync` runs a job: SubmitJob, then Wait → DescribeJobs → Choice until the job has ended
  (AWS SDK integrations, no Lambda function in the loop: its cheapest form).
  A 1-hour job at a 30 s poll waits 120 times. A dagtrail task is one `.waitForTaskToken`
  state however long its job runs (the job's end comes back as an event), so its figures
  per task are the chain's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _asl_cost  # noqa: E402
from _util import RESULTS, machine, write_result  # noqa: E402

from dagtrail.compiler import compile_workflow  # noqa: E402
from dagtrail.spec import load_spec_text  # noqa: E402

CHAIN_TASKS = 10
JOB_SECONDS, POLL_SECONDS = 3600, 30
# Step Functions Standard, us-east-1 (aws.amazon.com/step-functions/pricing): per transition.
DOLLARS_PER_TRANSITION = 0.025 / 1000

SHAPES = {
    "chain": [(f"t{i}", [f"t{i - 1}"] if i else []) for i in range(CHAIN_TASKS)],
    "diamond": [("start", []), ("left", ["start"]), ("right", ["start"]), ("join", ["left", "right"]),
                ("end", ["join"])],
}


def metaflow_flow(shape: str) -> str:
    """The same DAG as a Metaflow flow: a step per task (Metaflow's first is `start`, its last
    `end`), its successors in `self.next`, and `inputs` where branches join."""
    tasks = SHAPES[shape]
    step = {name: "start" if i == 0 else "end" if i == len(tasks) - 1 else name for i, (name, _) in enumerate(tasks)}
    lines = ["from metaflow import FlowSpec, step", "", "", "class Flow(FlowSpec):"]
    for name, after in tasks:
        successors = [f"self.{step[n]}" for n, deps in tasks if name in deps]
        lines += ["    @step", f"    def {step[name]}(self{', inputs' if len(after) > 1 else ''}):",
                  f"        {'self.next(' + ', '.join(successors) + ')' if successors else 'pass'}", ""]
    return "\n".join([*lines, "", 'if __name__ == "__main__":', "    Flow()", ""])


def spec(shape: str):
    lines = [f"name: {shape}", "tasks:"]
    for name, after in SHAPES[shape]:
        lines.append(f"  {name}: {{image: x, command: [echo, {name}], depends_on: [{', '.join(after)}]}}")
    return load_spec_text("\n".join(lines) + "\n")


def _no_maps(name: str, state: dict) -> int:
    raise ValueError(f"{name}: no Map expected in a chain or a diamond")


def per_task(cost: _asl_cost.Cost, tasks: int) -> dict[str, Any]:
    return {"tasks": tasks, "transitions": cost.transitions, "history_events": cost.total_events(),
            "transitions_per_task": round(cost.transitions / tasks, 3),
            "history_events_per_task": round(cost.total_events() / tasks, 3)}


def dagtrail_cost(shape: str) -> dict[str, Any]:
    cost = _asl_cost.execution_cost(compile_workflow(spec(shape)), _no_maps, _asl_cost.DAGTRAIL_CHOICES)
    return per_task(cost, len(SHAPES[shape]))


def poll_loop(polls: int) -> dict[str, Any]:
    """One job run by SubmitJob and a Wait → DescribeJobs → Choice loop; `polls` waits."""
    ended = [{"Variable": "$.status", "StringEquals": s, "Next": s.title()} for s in ("SUCCEEDED", "FAILED")]
    machine_json = {
        "StartAt": "Submit",
        "States": {
            "Submit": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:batch:submitJob", "Next": "Wait"},
            "Wait": {"Type": "Wait", "Seconds": POLL_SECONDS, "Next": "Describe"},
            "Describe": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:batch:describeJobs",
                         "Next": "Ended?"},
            "Ended?": {"Type": "Choice", "Choices": ended, "Default": "Wait"},
            "Succeeded": {"Type": "Succeed"},
            "Failed": {"Type": "Fail"},
        },
    }
    cost = _asl_cost.execution_cost(machine_json, _no_maps,
                                    lambda name, visit: "Succeeded" if visit >= polls else None)
    return {"polls": polls, "machine": machine_json} | per_task(cost, 1)


def checked_on_moto(shape: str, expected: dict[str, Any]) -> dict[str, Any]:
    from _moto_history import measure

    measured = measure(spec(shape))
    agree = {"status": measured["status"] == "SUCCEEDED",
             "transitions": measured["parent_transitions"] == expected["transitions"],
             "history_events": measured["parent_history"] == expected["history_events"]}
    return {"moto": {k: measured[k] for k in ("status", "parent_transitions", "parent_history", "event_types")},
            "agree": agree}


def _fig(name: str, value: float, unit: str, baseline_name: str, baseline: float | None, what: str) -> dict:
    return {"name": name, "value": value, "unit": unit, "baseline_name": baseline_name, "baseline_value": baseline,
            "ratio": None if not baseline else round(value / baseline, 4), "target": None, "pass": None,
            "what": what}


def figures(result: dict[str, Any]) -> list[dict]:
    out = []
    for shape in SHAPES:
        ours, theirs = result[shape]["dagtrail"], result[shape].get("metaflow")
        label = f"{shape} of {ours['tasks']} tasks"
        for total, what, unit in (("transitions", "transitions", "transitions/task"),
                                  ("history_events", "history events", "events/task")):
            key = f"{total}_per_task"
            out.append(_fig(f"{label}: {what} per task", ours[key], unit, "Metaflow (Batch .sync)",
                            theirs[key] if theirs else None,
                            f"dagtrail {ours[total]} in all, Metaflow {theirs[total] if theirs else 'not compiled'}; "
                            "ratio dagtrail ÷ Metaflow"))
    ours, poll = result["chain"]["dagtrail"], result["poll_loop"]
    hour = f"a {JOB_SECONDS // 3600}-hour job, {POLL_SECONDS} s poll"
    dollars = {k: v * DOLLARS_PER_TRANSITION * 1000 for k, v in
               (("ours", ours["transitions_per_task"]), ("poll", poll["transitions"]))}
    out.append(_fig(f"{hour}: transitions per task", ours["transitions_per_task"], "transitions/task",
                    "submit-wait-poll loop", poll["transitions"],
                    f"{poll['polls']} polls; per 1,000 such tasks ${dollars['ours']:.3f} against ${dollars['poll']:.2f} "
                    f"at $0.025 per 1,000 transitions; dagtrail's figure is the chain's"))
    out.append(_fig(f"{hour}: history events per task", ours["history_events_per_task"], "events/task",
                    "submit-wait-poll loop", poll["history_events"],
                    f"a Standard execution holds at most 25,000: the loop fits {25_000 // poll['history_events']} "
                    f"such jobs in one, dagtrail's chain {int(25_000 // ours['history_events_per_task']):,} tasks"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-metaflow", action="store_true", help="skip compiling Metaflow's flows")
    parser.add_argument("--no-moto", action="store_true", help="skip running dagtrail's machines on moto")
    parser.add_argument("--out", type=Path, default=RESULTS / "task_cost.json")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {shape: {"dagtrail": dagtrail_cost(shape)} for shape in SHAPES}
    if not args.no_metaflow:
        from _metaflow_sfn import compile_sources

        print("metaflow: compiling the chain and the diamond against a moto server ...", file=sys.stderr, flush=True)
        compiled = compile_sources({shape: metaflow_flow(shape) for shape in SHAPES})
        for shape in SHAPES:
            cost = _asl_cost.execution_cost(compiled["machines"][shape], _no_maps)
            result[shape]["metaflow"] = per_task(cost, len(SHAPES[shape])) | {
                "states": sorted(compiled["machines"][shape]["States"])}
        result["metaflow_offline"] = compiled["offline"]
    if not args.no_moto:
        for shape in SHAPES:
            print(f"moto: running the {shape} locally ...", file=sys.stderr, flush=True)
            result[shape]["checked_on_moto"] = checked_on_moto(shape, result[shape]["dagtrail"])
    result["poll_loop"] = poll_loop(JOB_SECONDS // POLL_SECONDS)
    result["figures"] = figures(result)
    result["machine"] = machine()
    write_result(args.out, result)
    for f in result["figures"]:
        print(f"{f['name']}: {f['value']} {f['unit']} vs {f['baseline_name']} {f['baseline_value']} (ratio {f['ratio']})")
    checks = [result[s]["checked_on_moto"]["agree"] for s in SHAPES if "checked_on_moto" in result[s]]
    return 0 if all(all(a.values()) for a in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
