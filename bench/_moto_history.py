"""Step Functions history of a real local run: the compiled sweep executed by moto 5.2.5.

`dagtrail.local.engine.LocalRun` runs the state machine in moto in-process and leaves the
mock when it returns, so a subclass reads the history just before: every execution's events
(GetExecutionHistory, paginated), and state transitions counted as the *StateEntered
events among them.

moto runs a Distributed Map's items inside the parent with a throwaway event manager and
keeps no child executions (ListMapRuns works; ListExecutions by map run does not). The
bench therefore swaps in a recording event manager for the duration of the run: what it
holds is every child's state events together, without the 2 execution events
(ExecutionStarted/Succeeded) that AWS adds to each child's own history.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagtrail import aws
from dagtrail.local.engine import LocalRun
from dagtrail.spec.models import WorkflowSpec
from dagtrail.sweeps import sizing


def _history(sfn, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs = {"nextToken": page["nextToken"]}


def _entered(types: Counter) -> int:
    return sum(n for t, n in types.items() if t.endswith("StateEntered"))


class HistoryRun(LocalRun):
    def _run(self, definition: str, stack):  # noqa: ANN001 - LocalRun's own signature
        summary = super()._run(definition, stack)
        sfn = aws.client("stepfunctions")
        self.histories = {}
        for machine in sfn.list_state_machines()["stateMachines"]:
            for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]:
                self.histories[execution["executionArn"]] = _history(sfn, execution["executionArn"])
                self.map_runs = len(sfn.list_map_runs(executionArn=execution["executionArn"])["mapRuns"])
        return summary


@contextmanager
def recorded_children():
    """Keep the event managers moto gives Distributed Map items (it would drop them)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as component,
    )

    kept: list[Any] = []
    original = component.EventManager

    class Recording(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            kept.append(self)

    component.EventManager = Recording
    try:
        yield kept
    finally:
        component.EventManager = original


@contextmanager
def scaled_distributed(array_max: int):
    """Distributed sweeps at a size local mode can run: arrays and chunks of `array_max` items."""
    saved = sizing.INLINE_MAX_ITEMS, sizing.ARRAY_MAX_SIZE, sizing.CHUNK_ITEMS, sizing.chunks.__defaults__
    sizing.INLINE_MAX_ITEMS = min(sizing.INLINE_MAX_ITEMS, array_max - 1)
    sizing.ARRAY_MAX_SIZE = sizing.CHUNK_ITEMS = array_max
    sizing.chunks.__defaults__ = (array_max,)
    try:
        yield
    finally:
        sizing.INLINE_MAX_ITEMS, sizing.ARRAY_MAX_SIZE, sizing.CHUNK_ITEMS, sizing.chunks.__defaults__ = saved


def measure(spec: WorkflowSpec, max_parallel: int | None = None) -> dict[str, Any]:
    """Run `spec` locally; the parent's history and the children's, as moto recorded them."""
    started = time.perf_counter()
    with recorded_children() as children, tempfile.TemporaryDirectory(prefix="sweep-history-") as tmp:
        run = HistoryRun(spec, {}, Path(tmp), max_parallel=max_parallel, docker=False)
        summary = run.execute()
        child_events = Counter(e["type"] for manager in children for e in manager.get_event_history())
    if len(run.histories) != 1:
        raise RuntimeError(f"expected one execution in moto, found {len(run.histories)}")
    (events,) = run.histories.values()
    types = Counter(e["type"] for e in events)
    out = {
        "status": summary.status, "seconds": round(time.perf_counter() - started, 1),
        "items": {t.name: t.items.model_dump() for t in summary.tasks if getattr(t, "items", None)},
        "parent_history": len(events), "parent_transitions": _entered(types),
        "event_types": dict(sorted(types.items())), "map_runs": run.map_runs,
    }
    if child_events:
        out |= {"children_state_events": sum(child_events.values()),
                "children_transitions": _entered(child_events),
                "children_event_types": dict(sorted(child_events.items()))}
    return out
