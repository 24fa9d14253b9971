"""Where an artifact came from and where it went: transitive upstream/downstream lineage.

A breadth-first walk in Python, one batched `has('uid', within(...))` request per level
and direction, so it runs the same on Neptune and gremlite (no repeat(), no path(), no
numeric predicates) and costs round trips in proportion to the depth, not to the size.

upstream(artifact):   Artifact -wasGeneratedBy-> TaskRun -used-> Artifact ... and
                      TaskRun -wasInformedBy-> TaskRun (attempts it waited for)
downstream(artifact): Artifact <-used- TaskRun <-wasGeneratedBy- Artifact ... and
                      TaskRun <-wasInformedBy- TaskRun
Each TaskRun reached comes with its context: Task (runs), Execution (partOf) and the
run's Parameters (Execution -used->).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dagtrail.errors import NotFoundError, UsageError
from dagtrail.lineage import queries
from dagtrail.lineage.records import artifact_uid

WITHIN_CHUNK = 500  # uids per has('uid', within(...)): keeps requests small on both engines

# (vertex label) -> [(direction, edge label)] followed by each walk.
UPSTREAM = {"Artifact": [("out", "wasGeneratedBy")], "TaskRun": [("out", "used"), ("out", "wasInformedBy")]}
DOWNSTREAM = {"Artifact": [("in", "used")], "TaskRun": [("in", "wasGeneratedBy"), ("in", "wasInformedBy")]}
CONTEXT = {"TaskRun": [("out", "runs"), ("out", "partOf")], "Execution": [("out", "used"), ("out", "instanceOf")]}


def to_uri(uri_or_path: str, workdir: Path) -> str:
    """An s3:// URI as given; a local path under <workdir>/results/ as the URI it mirrors
    (local mode stores s3://<results bucket>/<key> at <workdir>/results/<key>)."""
    if uri_or_path.startswith("s3://"):
        return uri_or_path
    results = (Path(workdir) / "results").resolve()
    path = Path(uri_or_path).expanduser().resolve()
    try:
        key = path.relative_to(results)
    except ValueError:
        raise UsageError(
            f"{uri_or_path}: not an s3:// URI nor a file under {results} (pass --workdir for another one)"
        ) from None
    from dagtrail.local.services import RESULTS_BUCKET

    return f"s3://{os.environ.get('DAGTRAIL_RESULTS_BUCKET') or RESULTS_BUCKET}/{key.as_posix()}"


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i:i + WITHIN_CHUNK] for i in range(0, len(values), WITHIN_CHUNK)]


def _edges(g: Any, uids: list[str], direction: str, labels: list[str]) -> list[tuple[str, str, str]]:
    """(label, out uid, in uid) of the `labels` edges leaving (out) or entering (in) `uids`."""
    from gremlin_python.process.graph_traversal import __
    from gremlin_python.process.traversal import P

    out: list[tuple[str, str, str]] = []
    for chunk in _chunks(uids):
        start = g.V().has("uid", P.within(chunk))
        edges = start.out_e(*labels) if direction == "out" else start.in_e(*labels)
        rows = edges.project("label", "out", "in").by(__.label()).by(__.out_v().values("uid")).by(
            __.in_v().values("uid")).to_list()
        out += [(r["label"], r["out"], r["in"]) for r in rows]
    return out


def vertices(g: Any, uids: list[str]) -> dict[str, dict[str, Any]]:
    from gremlin_python.process.traversal import P

    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(sorted(uids)):
        for v in queries._vertices(g.V().has("uid", P.within(chunk))):
            found[v["uid"]] = v
    return found


def _walk(g: Any, start: str, rules: dict[str, list[tuple[str, str]]]) -> tuple[dict[str, int], set[tuple]]:
    """uid -> distance from `start`, and every edge crossed. Vertex labels come from the
    uid prefixes the records module assigns, so no extra lookup per level."""
    distance = {start: 0}
    edges: set[tuple[str, str, str]] = set()
    frontier = [start]
    depth = 0
    while frontier:
        depth += 1
        found: list[tuple[str, str, str]] = []
        # One request per direction and level: a vertex has no edges of the other kinds'
        # labels in that direction, so the labels of all rules can share it.
        by_direction: dict[str, tuple[set[str], list[str]]] = {}
        for uid in frontier:
            for direction, label in rules.get(_label(uid), []):
                labels, uids = by_direction.setdefault(direction, (set(), []))
                labels.add(label)
                if not uids or uids[-1] != uid:
                    uids.append(uid)
        for direction, (labels, uids) in sorted(by_direction.items()):
            found += [e for e in _edges(g, uids, direction, sorted(labels))
                      if (direction, e[0]) in rules_of(rules, _label(e[1] if direction == "out" else e[2]))]
        frontier = []
        for e in found:
            edges.add(e)
            _, out_uid, in_uid = e
            for uid in (out_uid, in_uid):
                if uid not in distance:
                    distance[uid] = depth
                    frontier.append(uid)
    return distance, edges


def rules_of(rules: dict[str, list[tuple[str, str]]], label: str) -> set[tuple[str, str]]:
    return set(rules.get(label, []))


_PREFIX_LABELS = {"artifact": "Artifact", "taskrun": "TaskRun", "task": "Task", "execution": "Execution",
                  "workflow": "Workflow", "params": "Parameters"}


def _label(uid: str) -> str:
    return _PREFIX_LABELS.get(uid.split(":", 1)[0], "")


def trace(g: Any, uri: str, direction: str) -> dict[str, Any]:
    """The artifact's transitive upstream or downstream lineage, with each TaskRun's context."""
    start = artifact_uid(uri)
    if not g.V().has("Artifact", "uid", start).limit(1).to_list():
        raise NotFoundError(f"no artifact {uri} in the lineage graph")
    distance, edges = _walk(g, start, UPSTREAM if direction == "upstream" else DOWNSTREAM)
    runs = [u for u in distance if _label(u) == "TaskRun"]
    context = set(_edges(g, sorted(runs), "out", ["runs", "partOf"]))
    executions = sorted({i for lbl, _, i in context if lbl == "partOf"})
    context |= set(_edges(g, executions, "out", ["used", "instanceOf"]))
    uids = set(distance) | {i for _, _, i in context}
    found = vertices(g, sorted(uids))
    for uid in uids - set(found):  # an edge's end that is missing: show what we know
        found[uid] = {"label": _label(uid), "uid": uid, "props": {}}
    for uid, d in distance.items():
        found[uid]["distance"] = d
    return {
        "artifact": uri,
        "direction": direction,
        "vertices": sorted(found.values(), key=lambda v: (v.get("distance", 1 << 30), v["label"], v["uid"])),
        "edges": [{"label": lbl, "out": o, "in": i} for lbl, o, i in sorted(edges | context, key=lambda e: (e[1], e[0], e[2]))],
    }


# ---------------------------------------------------------------- text


def render_text(traced: dict[str, Any]) -> str:
    """Task runs nearest first, each with what it ran (image, command, params) and the
    artifacts it used and produced within the traced set."""
    vs = {v["uid"]: v for v in traced["vertices"]}
    out_edges: dict[str, list[tuple[str, str]]] = {}
    for e in traced["edges"]:
        out_edges.setdefault(e["out"], []).append((e["label"], e["in"]))
    produced: dict[str, list[str]] = {}
    for e in traced["edges"]:
        if e["label"] == "wasGeneratedBy":
            produced.setdefault(e["in"], []).append(e["out"])
    start = vs.get(artifact_uid(traced["artifact"]), {"props": {}})
    runs = [v for v in traced["vertices"] if v["label"] == "TaskRun"]
    arts = [v for v in traced["vertices"] if v["label"] == "Artifact" and v.get("distance")]
    word = "went into" if traced["direction"] == "upstream" else "came from"
    lines = [
        f"{traced['direction']} of {traced['artifact']}  ({queries._size(start['props'].get('size'))}"
        + (f", sha256 {start['props']['sha256'][:12]}" if start["props"].get("sha256") else "") + ")",
        f"{len(runs)} task runs and {len(arts)} other artifacts {word} it"
        if traced["direction"] == "upstream" else f"{len(runs)} task runs and {len(arts)} artifacts came from it",
    ]
    for tr in runs:
        p = tr["props"]
        ctx = dict(out_edges.get(tr["uid"], []))
        run_id = p.get("run_id") or ctx.get("partOf", "").removeprefix("execution:")
        exit_code = p.get("exit_code")
        lines.append(
            f"  {queries._run_name(vs, tr['uid'])}  run {run_id}  {p.get('status', '?')}"
            f"  exit {exit_code if exit_code is not None else '-'}"
            f"  {queries._duration(p.get('started_at'), p.get('stopped_at'))}"
            + ("  (cached)" if p.get("cached") else "")
        )
        if p.get("image"):
            lines.append(f"      image    {p['image']}" + (f"@{p['image_digest']}" if p.get("image_digest") else ""))
        if p.get("command"):
            lines.append(f"      command  {_command(p['command'])}")
        params = _params(vs, out_edges, ctx.get("partOf"))
        if params is not None:
            lines.append("      params   " + (", ".join(f"{k}={params[k]}" for k in sorted(params)) or "(none)"))
        for label, uid in sorted(out_edges.get(tr["uid"], [])):
            if label == "used" and uid in vs:
                lines.append(f"      used     {queries._artifact(vs[uid])}")
            elif label == "wasInformedBy":
                lines.append(f"      after    {queries._run_name(vs, uid)}")
        for uid in sorted(produced.get(tr["uid"], [])):
            lines.append(f"      produced {queries._artifact(vs[uid])}")
    return "\n".join(lines) + "\n"


def _command(command_json: str, limit: int = 100) -> str:
    import shlex

    try:
        text = shlex.join(json.loads(command_json))
    except (ValueError, TypeError):
        text = command_json
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _params(vs: dict[str, Any], out_edges: dict[str, list[tuple[str, str]]], execution: str | None) -> dict | None:
    for label, uid in out_edges.get(execution or "", []):
        if label == "used" and uid in vs and "values" in vs[uid]["props"]:
            return json.loads(vs[uid]["props"]["values"])
    return None
