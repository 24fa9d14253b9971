"""`dagtrail lineage history TASK`: every run of a task over time, with status and duration."""

from __future__ import annotations

from typing import Any

from dagtrail.errors import NotFoundError
from dagtrail.lineage import queries


def history(g: Any, task: str, workflow: str | None = None) -> dict[str, Any]:
    """The task's attempts (TaskRun -runs-> Task), oldest first; times compared in Python."""
    from gremlin_python.process.graph_traversal import __

    tasks = g.V().has_label("Task").has("name", task)
    if workflow:
        tasks = tasks.has("workflow", workflow)
    if not tasks.limit(1).to_list():
        where = f" in workflow {workflow!r}" if workflow else ""
        raise NotFoundError(f"no task {task!r}{where} in the lineage graph")
    tasks = g.V().has_label("Task").has("name", task)
    if workflow:
        tasks = tasks.has("workflow", workflow)
    runs = queries._vertices(tasks.in_("runs"))
    rows = []
    for v in runs:
        p = v["props"]
        rows.append({
            "uid": v["uid"],
            "workflow": p.get("workflow"),
            "run_id": p.get("run_id"),
            "task": p.get("task", task),
            "attempt": p.get("attempt"),
            "item_index": p.get("item_index"),
            "item_try": p.get("item_try"),
            "status": p.get("status"),
            "started_at": p.get("started_at"),
            "stopped_at": p.get("stopped_at"),
            "duration_s": _seconds(p.get("started_at"), p.get("stopped_at")),
            "exit_code": p.get("exit_code"),
            "cached": bool(p.get("cached")),
            "job_id": p.get("job_id"),
            "image": p.get("image"),
        })
    # A run known only by later records may lack a start: it sorts last, by uid.
    rows.sort(key=lambda r: (r["started_at"] or "~", r["run_id"] or "", r["attempt"] or 0,
                             r["item_index"] if r["item_index"] is not None else -1, r["item_try"] or 0))
    return {"task": task, "workflow": workflow, "runs": rows}


def _seconds(started: str | None, stopped: str | None) -> float | None:
    if not started or not stopped:
        return None
    return round((queries._time(stopped) - queries._time(started)).total_seconds(), 3)


def render_text(h: dict[str, Any]) -> str:
    rows = h["runs"]
    workflows = sorted({r["workflow"] for r in rows if r["workflow"]})
    head = f"task {h['task']}" + (f" (workflow {h['workflow']})" if h["workflow"] else "")
    lines = [f"{head}: {len(rows)} attempts in {len({r['run_id'] for r in rows})} runs"]
    many = len(workflows) > 1
    for r in rows:
        name = queries._attempt_name(r)
        exit_code = "-" if r["exit_code"] is None else r["exit_code"]
        lines.append(
            f"  {r['started_at'] or '-':24}  {r['run_id'] or '?'}  {name}  {r['status'] or '?'}"
            f"  exit {exit_code}  {queries._duration(r['started_at'], r['stopped_at'])}"
            + (f"  [{r['workflow']}]" if many else "")
            + ("  (cached)" if r["cached"] else "")
        )
    done = [r for r in rows if r["status"] in ("SUCCEEDED", "FAILED")]
    if done:
        ok = sum(r["status"] == "SUCCEEDED" for r in done)
        durations = sorted(r["duration_s"] for r in done if r["duration_s"] is not None)
        summary = f"succeeded {ok}/{len(done)} finished attempts"
        if durations:
            summary += f"; duration median {durations[len(durations) // 2]:.1f}s, max {durations[-1]:.1f}s"
        lines.append(summary)
    return "\n".join(lines) + "\n"
