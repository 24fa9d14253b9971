"""Read the lineage graph back: one run's subgraph, the latest run, and a text rendering.

Traversals use only steps gremlite runs; anything numeric (times, sizes) is compared in
Python, since gremlite's numeric predicates silently match nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from dagtrail.errors import NotFoundError
from dagtrail.lineage.records import execution_uid
from dagtrail.lineage.upserts import RANK_PREFIX


def _props(value_map: dict[Any, list[Any]]) -> dict[str, Any]:
    """A value_map without the writer's bookkeeping, single values unwrapped."""
    out = {}
    for key, values in value_map.items():
        if not isinstance(key, str) or key.startswith(RANK_PREFIX) or key == "uid":
            continue
        out[key] = values[0] if isinstance(values, list) and len(values) == 1 else values
    return out


def _vertices(t: Any) -> list[dict[str, Any]]:
    from gremlin_python.process.graph_traversal import __

    rows = t.project("label", "uid", "props").by(__.label()).by(__.values("uid")).by(__.value_map()).to_list()
    return [{"label": r["label"], "uid": r["uid"], "props": _props(r["props"])} for r in rows]


def show_run(g: Any, run_id: str) -> dict[str, Any]:
    """The run's vertices (execution, workflow, parameters, task runs, tasks, artifacts they
    produced or used) and the edges among them, sorted."""
    from gremlin_python.process.graph_traversal import __

    ex = execution_uid(run_id)
    if not g.V().has("Execution", "uid", ex).limit(1).to_list():
        raise NotFoundError(f"no run {run_id!r} in the lineage graph")
    run = g.V().has("Execution", "uid", ex)
    vertices = _vertices(
        run.union(
            __.identity(),
            __.out("instanceOf"),
            __.out("used"),
            __.in_("partOf"),
            __.in_("partOf").out("runs"),
            __.in_("partOf").out("used"),
            __.in_("partOf").in_("wasGeneratedBy"),
            # Upstream attempts: normally in this run, but maybe a placeholder not yet filled in.
            __.in_("partOf").out("wasInformedBy"),
        )
    )
    by_uid = {v["uid"]: v for v in vertices}
    uids = sorted(by_uid)
    edges = (
        g.V()
        .has("uid", _within(uids))
        .out_e()
        .project("label", "out", "in")
        .by(__.label())
        .by(__.out_v().values("uid"))
        .by(__.in_v().values("uid"))
        .to_list()
    )
    edges = {(e["label"], e["out"], e["in"]) for e in edges if e["in"] in by_uid}
    return {
        "run_id": run_id,
        "vertices": [by_uid[u] for u in sorted(uids, key=lambda u: (by_uid[u]["label"], u))],
        "edges": [{"label": lbl, "out": o, "in": i} for lbl, o, i in sorted(edges, key=lambda e: (e[1], e[0], e[2]))],
    }


def _within(values: list[str]) -> Any:
    from gremlin_python.process.traversal import P

    return P.within(values)


def latest_run_id(g: Any) -> str:
    """The run whose Execution started last (ties broken by run id). An Execution known
    only as a placeholder (its task runs arrived first) has no start time and sorts first."""
    from gremlin_python.process.graph_traversal import __

    rows = (
        g.V()
        .has_label("Execution")
        .project("uid", "started_at")
        .by(__.values("uid"))
        .by(__.coalesce(__.values("started_at"), __.constant("")))
        .to_list()
    )
    if not rows:
        raise NotFoundError("the lineage graph holds no runs yet")
    latest = max(rows, key=lambda r: (r["started_at"], r["uid"]))
    return latest["uid"].removeprefix(execution_uid(""))


# ---------------------------------------------------------------- text


def _duration(started: str | None, stopped: str | None) -> str:
    if not started or not stopped:
        return "-"
    seconds = (_time(stopped) - _time(started)).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{sec:02d}s" if hours else f"{minutes}m{sec:02d}s"


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _size(n: Any) -> str:
    if not isinstance(n, int):
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def render_text(shown: dict[str, Any]) -> str:
    """A readable account of `show_run`'s output: run, attempts, artifacts and their use."""
    vertices = {v["uid"]: v for v in shown["vertices"]}
    out_edges: dict[str, list[tuple[str, str]]] = {}
    in_edges: dict[str, list[tuple[str, str]]] = {}
    for e in shown["edges"]:
        out_edges.setdefault(e["out"], []).append((e["label"], e["in"]))
        in_edges.setdefault(e["in"], []).append((e["label"], e["out"]))

    ex = next((v for v in vertices.values() if v["label"] == "Execution"), None)
    p = ex["props"] if ex else {}
    lines = [
        f"run {shown['run_id']}  workflow {p.get('workflow', '?')}  {p.get('status', '?')}"
        f"  started {p.get('started_at', '-')}  duration {_duration(p.get('started_at'), p.get('stopped_at'))}"
    ]
    params = next((v for v in vertices.values() if v["label"] == "Parameters"), None)
    if params and "values" in params["props"]:
        values = json.loads(params["props"]["values"])
        lines.append("params: " + (", ".join(f"{k}={values[k]}" for k in sorted(values)) or "(none)"))

    ex_uid = ex["uid"] if ex else None
    runs = [
        v for v in vertices.values()
        if v["label"] == "TaskRun" and ("partOf", ex_uid) in out_edges.get(v["uid"], [])
    ]
    runs.sort(key=lambda v: (
        v["props"].get("started_at") or "~", v["props"].get("task", ""), v["props"].get("attempt", 0),
        v["props"].get("item_index", -1), v["props"].get("item_try", 0),
    ))
    lines.append(f"tasks ({len(runs)} attempts):")
    for tr in runs:
        q = tr["props"]
        exit_code = q.get("exit_code")
        lines.append(
            f"  {_attempt_name(q)}  {q.get('status', '?')}"
            f"  exit {exit_code if exit_code is not None else '-'}"
            f"  {_duration(q.get('started_at'), q.get('stopped_at'))}"
            + (f"  job {q['job_id']}" if q.get("job_id") else "")
            + ("  (cached)" if q.get("cached") else "")
        )
        if q.get("status_reason") and q.get("status") == "FAILED":
            lines.append(f"      reason: {q['status_reason']}")
        for label, uid in sorted(out_edges.get(tr["uid"], [])):
            if label == "wasInformedBy":
                lines.append(f"      after {_run_name(vertices, uid)}")
        for label, uid in sorted(out_edges.get(tr["uid"], [])):
            if label == "used" and uid in vertices:
                lines.append(f"      used      {_artifact(vertices[uid])}")
        for label, uid in sorted(in_edges.get(tr["uid"], [])):
            if label == "wasGeneratedBy" and uid in vertices:
                users = sorted(
                    _run_name(vertices, o) for lbl, o in in_edges.get(uid, []) if lbl == "used"
                )
                lines.append(
                    f"      produced  {_artifact(vertices[uid])}"
                    + (f"  → used by {', '.join(users)}" if users else "")
                )
    return "\n".join(lines) + "\n"


def _artifact(v: dict[str, Any]) -> str:
    p = v["props"]
    return f"{p.get('name') or p.get('uri', v['uid'])} ({_size(p.get('size'))})  {p.get('uri', '')}".rstrip()


def _run_name(vertices: dict[str, Any], uid: str) -> str:
    v = vertices.get(uid)
    if v is None or "task" not in v["props"]:  # a placeholder: all we know is its uid
        return uid.removeprefix("taskrun:")
    return _attempt_name(v["props"])


def _attempt_name(props: dict[str, Any]) -> str:
    """`task #attempt`, or `task[item] #attempt.try` for one item of a sweep."""
    name = f"{props.get('task', '?')} #{props.get('attempt', '?')}"
    if props.get("item_index") is not None:
        name = f"{props.get('task', '?')}[{props['item_index']}] #{props.get('attempt', '?')}.{props.get('item_try', 1)}"
    return name
