"""Step Functions cost of a sweep by size: state transitions and history events per execution.

    .venv/bin/python bench/sweep_cost.py      # writes bench/results/sweep_cost.json

Counted from the compiled machine's structure (dagtrail.compiler) with the per-state event
counts of Standard workflows: a waitForTaskToken Task state logs 6 events (Entered,
Scheduled, Started, Submitted, Succeeded, Exited), a Pass 2, an inline Map 4 plus 2 per
iteration, a Distributed Map 6 in the parent (MapRun events) while each child execution
logs its own history. NOT measured on moto (see docs/sweeps.md); Metaflow's figures are
derived from its documented foreach structure (an inline Map over the foreach items with
one AWS Batch `.sync` Task state per item), not from a compiled Metaflow machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from dagtrail.compiler import compile_workflow
from dagtrail.spec import load_spec_text
from dagtrail.sweeps import sizing

SIZES = (100, 10_000, 1_000_000)
TASK_EVENTS = 6
EXECUTION_EVENTS = 2  # ExecutionStarted, ExecutionSucceeded


def spec(n: int):
    return load_spec_text(f"""name: bench
tasks:
  sweep:
    image: x
    command: [echo, "{{{{ item }}}}"]
    foreach: {{range: {{stop: {n}}}}}
""")


def dagtrail_cost(n: int) -> dict:
    asl = compile_workflow(spec(n))
    mode = sizing.sweep_mode(n, "batch")
    states = asl["States"]
    if mode == "inline":
        transitions = 2 + n  # Pass, Map, one Task state per item
        events = EXECUTION_EVENTS + 2 + 4 + n * (2 + TASK_EVENTS)
        largest = events
    elif mode == "array":
        transitions = 1
        events = largest = EXECUTION_EVENTS + TASK_EVENTS
    else:
        chunks = len(sizing.chunks(n))
        child_events = EXECUTION_EVENTS + TASK_EVENTS
        transitions = 2 + chunks * 1  # plan, Map; one Task state per chunk execution
        parent = EXECUTION_EVENTS + TASK_EVENTS - 1 + 6  # the plan is a plain invoke (no Submitted)
        events = parent + chunks * child_events
        largest = max(parent, child_events)
    return {"mode": mode, "states": sorted(states), "transitions": transitions,
            "transitions_per_item": transitions / n, "history_events_total": events,
            "largest_execution_history": largest, "under_25000_per_execution": largest < 25_000}


def metaflow_cost(n: int) -> dict:
    """Metaflow foreach on Step Functions: start step, Map with one Batch .sync Task per item, join."""
    transitions = 1 + 1 + n + 1
    events = EXECUTION_EVENTS + TASK_EVENTS + 4 + n * (2 + TASK_EVENTS) + TASK_EVENTS
    return {"source": "derived from Metaflow's documented foreach structure, not compiled here",
            "transitions": transitions, "transitions_per_item": transitions / n,
            "largest_execution_history": events, "under_25000_per_execution": events < 25_000}


def main() -> None:
    results = {str(n): {"dagtrail": dagtrail_cost(n), "metaflow": metaflow_cost(n)} for n in SIZES}
    out = Path(__file__).parent / "results" / "sweep_cost.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    for n, r in results.items():
        d, m = r["dagtrail"], r["metaflow"]
        print(f"N={n:>9}: dagtrail {d['mode']:<11} {d['transitions_per_item']:.6f} transitions/item, "
              f"largest history {d['largest_execution_history']:>7} | metaflow {m['transitions_per_item']:.3f}/item, "
              f"history {m['largest_execution_history']}")


if __name__ == "__main__":
    main()
