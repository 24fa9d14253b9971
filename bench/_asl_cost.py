"""What one successful run of an ASL state machine costs in Step Functions, from its structure.

The same walk is applied to dagtrail's compiled machines and to Metaflow's, so the two are
counted the same way. Per state, the history events of a Standard workflow (and what moto
5.2.5 records, checked in bench/sweep_cost.py against its execution history):

- Task, `.sync` or `.waitForTaskToken`: 6 (Entered, Scheduled, Started, Submitted,
  Succeeded, Exited); request-response (`lambda:invoke`, `dynamodb:getItem`, `aws-sdk:*`): 5.
- Pass, Choice, Wait, Succeed: 2.
- inline Map: 4 (Entered, MapStateStarted, MapStateSucceeded, Exited) + 2 per iteration
  (MapIterationStarted/Succeeded) + the iteration's own states, all in the same history.
- Distributed Map: 6 in the parent (the 4 above + MapRunStarted/Succeeded); each item runs
  as a child execution with its own history (ExecutionStarted/Succeeded + its states).
- Parallel: 4 (Entered, ParallelStateStarted, ParallelStateSucceeded, Exited) + every
  branch's own states, all in the same history.
- the execution: ExecutionStarted, ExecutionSucceeded.

A state transition is one state entered, in the parent or in a child execution. Only the
success path is walked: no retries, no catches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

EXECUTION_EVENTS = 2
PLAIN_EVENTS = 2
WAITING_TASK_EVENTS = 6
REQUEST_RESPONSE_TASK_EVENTS = 5
INLINE_MAP_EVENTS = 4
ITERATION_EVENTS = 2
DISTRIBUTED_MAP_EVENTS = 6
PARALLEL_EVENTS = 4
# dagtrail's compiled machines: `dagtrail run` and `dagtrail run --stack` both start with
# {"params": {...}}, so the parameters' Choice takes this branch.
DAGTRAIL_CHOICES = {"Parameters": "Merge defaults"}


@dataclass
class Cost:
    """One execution's history and everything it started."""

    events: int = 0  # in this execution's own history
    transitions: int = 0  # here and in every child execution
    children: list[tuple[int, Cost]] = field(default_factory=list)  # (how many, one child's cost)

    def largest_history(self) -> int:
        return max([self.events] + [child.largest_history() for _, child in self.children])

    def total_events(self) -> int:
        return self.events + sum(n * child.total_events() for n, child in self.children)

    def executions(self) -> int:
        return 1 + sum(n * child.executions() for n, child in self.children)


def task_events(state: Mapping[str, Any]) -> int:
    resource = state.get("Resource", "")
    waits = resource.endswith(".sync") or ".sync:" in resource or resource.endswith(".waitForTaskToken")
    return WAITING_TASK_EVENTS if waits else REQUEST_RESPONSE_TASK_EVENTS


Choose = Mapping[str, str] | Callable[[str, int], str | None]


def _walk(machine: Mapping[str, Any], iterations: Callable[[str, Mapping[str, Any]], int],
          choose: Choose, into: Cost) -> None:
    name = machine["StartAt"]
    visits: dict[str, int] = {}
    while name:
        state = machine["States"][name]
        kind = state["Type"]
        into.transitions += 1
        visits[name] = visits.get(name, 0) + 1
        if kind == "Task":
            into.events += task_events(state)
        elif kind in ("Pass", "Wait", "Succeed"):
            into.events += PLAIN_EVENTS
        elif kind == "Choice":
            into.events += PLAIN_EVENTS
            picked = choose(name, visits[name]) if callable(choose) else choose.get(name)
            name = picked or state.get("Default")
            continue
        elif kind == "Parallel":
            into.events += PARALLEL_EVENTS
            for branch in state["Branches"]:
                _walk(branch, iterations, choose, into)
        elif kind == "Map":
            processor = state.get("ItemProcessor") or state["Iterator"]
            count = iterations(name, state)
            if (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED":
                into.events += DISTRIBUTED_MAP_EVENTS
                child = Cost(events=EXECUTION_EVENTS)
                _walk(processor, iterations, choose, child)
                into.children.append((count, child))
                into.transitions += count * child.transitions
            else:
                one = Cost()
                _walk(processor, iterations, choose, one)
                if one.children:
                    raise ValueError(f"{name}: a Distributed Map inside an inline Map is not counted here")
                into.events += INLINE_MAP_EVENTS + count * (ITERATION_EVENTS + one.events)
                into.transitions += count * one.transitions
        else:
            raise ValueError(f"{name}: state type {kind} is not counted here")
        name = None if state.get("End") else state.get("Next")


def execution_cost(machine: Mapping[str, Any], iterations: Callable[[str, Mapping[str, Any]], int],
                   choose: Choose | None = None) -> Cost:
    """The cost of one successful execution; `iterations(name, state)` says how many items
    each Map state gets, `choose` which branch each Choice state takes (else its Default):
    by name, or called with the name and how many times the walk has entered it (a loop)."""
    cost = Cost(events=EXECUTION_EVENTS)
    _walk(machine, iterations, choose or {}, cost)
    return cost


def summary(cost: Cost, items: int) -> dict[str, Any]:
    return {"transitions": cost.transitions, "transitions_per_item": cost.transitions / items,
            "history_events_total": cost.total_events(), "executions": cost.executions(),
            "parent_history": cost.events, "largest_execution_history": cost.largest_history(),
            "under_25000_per_execution": cost.largest_history() < 25_000}
