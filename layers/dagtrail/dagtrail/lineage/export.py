"""A run's lineage (queries.show_run's output) as Mermaid, Graphviz DOT and W3C PROV-JSON.

The pictures draw the data flow: producing attempt → artifact → consuming attempt, plus
dotted wasInformedBy edges; PROV maps the graph onto its own terms:
TaskRun and Execution → prov:Activity; Artifact and Parameters → prov:Entity; Workflow and
Task → prov:Plan entities, associated with the activities through the dagtrail agent;
used / wasGeneratedBy / wasInformedBy are PROV's relations of the same names.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from dagtrail.lineage import queries

NS = "https://github.com/dagtrail/dagtrail/ns/lineage#"
DRAWN = ("TaskRun", "Artifact")


def _index(shown: dict[str, Any]) -> tuple[dict[str, dict], list[dict]]:
    return {v["uid"]: v for v in shown["vertices"]}, shown["edges"]


def drawn(shown: dict[str, Any]) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """Nodes (TaskRuns, Artifacts) and data-flow edges (from, to, kind) of a run's picture."""
    vs, edges = _index(shown)
    nodes = [v for v in shown["vertices"] if v["label"] in DRAWN]
    flow: list[tuple[str, str, str]] = []
    for e in edges:
        if e["out"] not in vs or e["in"] not in vs:
            continue
        if e["label"] == "wasGeneratedBy":
            flow.append((e["in"], e["out"], "generated"))
        elif e["label"] == "used" and vs[e["in"]]["label"] == "Artifact":
            flow.append((e["in"], e["out"], "used"))
        elif e["label"] == "wasInformedBy":
            flow.append((e["in"], e["out"], "informed"))
    # wasInformedBy adds a line only where no artifact already joins the two attempts.
    users: dict[str, set[str]] = {}
    for art, user, kind in flow:
        if kind == "used":
            users.setdefault(art, set()).add(user)
    via_artifact = {(run, user) for run, art, kind in flow if kind == "generated" for user in users.get(art, ())}
    flow = [f for f in flow if f[2] != "informed" or (f[0], f[1]) not in via_artifact]
    return nodes, sorted(set(flow))


def node_title(v: dict[str, Any], vs: dict[str, dict]) -> str:
    if v["label"] == "TaskRun":
        return queries._run_name(vs, v["uid"])
    p = v["props"]
    return p.get("name") or p.get("uri") or v["uid"].removeprefix("artifact:")


def node_detail(v: dict[str, Any]) -> str:
    p = v["props"]
    if v["label"] == "TaskRun":
        return f"{p.get('status', '?')} · {queries._duration(p.get('started_at'), p.get('stopped_at'))}"
    return queries._size(p.get("size"))


def status_class(v: dict[str, Any]) -> str:
    if v["label"] == "Artifact":
        return "artifact"
    status = str(v["props"].get("status") or "unknown").lower()
    return re.sub(r"[^a-z0-9_-]", "-", status)


# ---------------------------------------------------------------- Mermaid


def _mermaid_text(text: str) -> str:
    # Mermaid labels are quoted strings; quotes and angle brackets become entities.
    return (text.replace("&", "&amp;").replace('"', "#quot;").replace("<", "&lt;").replace(">", "&gt;"))


def mermaid(shown: dict[str, Any]) -> str:
    vs, _ = _index(shown)
    nodes, flow = drawn(shown)
    ids = {v["uid"]: f"n{i}" for i, v in enumerate(nodes)}
    lines = ["flowchart LR"]
    for v in nodes:
        label = f"{_mermaid_text(node_title(v, vs))}<br/>{_mermaid_text(node_detail(v))}"
        shape = f'["{label}"]' if v["label"] == "TaskRun" else f'[("{label}")]'
        lines.append(f"  {ids[v['uid']]}{shape}:::{status_class(v)}")
    for a, b, kind in flow:
        arrow = "-.->" if kind == "informed" else "-->"
        lines.append(f"  {ids[a]} {arrow} {ids[b]}")
    lines += [
        "  classDef succeeded fill:#d4f7dc,stroke:#1a7f37",
        "  classDef failed fill:#ffd8d3,stroke:#cf222e",
        "  classDef running fill:#fff3c4,stroke:#9a6700",
        "  classDef artifact fill:#eef2ff,stroke:#4f5bd5",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- DOT

_DOT_COLORS = {"succeeded": "#d4f7dc", "failed": "#ffd8d3", "running": "#fff3c4", "artifact": "#eef2ff"}


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(shown: dict[str, Any]) -> str:
    vs, _ = _index(shown)
    nodes, flow = drawn(shown)
    lines = [f"digraph {_dot_str('run ' + shown['run_id'])} {{", "  rankdir=LR;",
             '  node [fontname="Helvetica", fontsize=10, style=filled];']
    for v in nodes:
        cls = status_class(v)
        shape = "box" if v["label"] == "TaskRun" else "note"
        label = f"{node_title(v, vs)}\n{node_detail(v)}"
        lines.append(f"  {_dot_str(v['uid'])} [label={_dot_str(label)}, shape={shape}, "
                     f"fillcolor={_dot_str(_DOT_COLORS.get(cls, '#eeeeee'))}, class={_dot_str(cls)}];")
    for a, b, kind in flow:
        style = ' [style=dashed, label="informed"]' if kind == "informed" else ""
        lines.append(f"  {_dot_str(a)} -> {_dot_str(b)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- PROV-JSON


def _qname(uid: str) -> str:
    """dagtrail:<uid>, the local part percent-encoded so any uid is a valid QName."""
    return "dagtrail:" + quote(uid, safe="")


_ACTIVITIES = {"TaskRun", "Execution"}
_PLANS = {"Workflow", "Task"}
_TIME_PROPS = {"started_at": "prov:startTime", "stopped_at": "prov:endTime"}


def _attributes(v: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"prov:label": v["uid"], "dagtrail:uid": v["uid"]}
    for key, value in sorted(v["props"].items()):
        if v["label"] in _ACTIVITIES and key in _TIME_PROPS:
            attrs[_TIME_PROPS[key]] = value
        elif isinstance(value, bool):
            attrs[f"dagtrail:{key}"] = {"$": "true" if value else "false", "type": "xsd:boolean"}
        elif isinstance(value, int):
            attrs[f"dagtrail:{key}"] = {"$": str(value), "type": "xsd:long"}
        elif isinstance(value, float):
            attrs[f"dagtrail:{key}"] = {"$": repr(value), "type": "xsd:double"}
        else:
            attrs[f"dagtrail:{key}"] = str(value)
    if v["label"] in _PLANS:
        attrs["prov:type"] = {"$": "prov:Plan", "type": "prov:QUALIFIED_NAME"}
    attrs["dagtrail:kind"] = v["label"]
    return attrs


def prov(shown: dict[str, Any]) -> dict[str, Any]:
    """PROV-JSON (https://www.w3.org/submissions/prov-json/) of a run."""
    vs, edges = _index(shown)
    doc: dict[str, Any] = {
        "prefix": {"dagtrail": NS},
        "entity": {}, "activity": {}, "agent": {},
        "used": {}, "wasGeneratedBy": {}, "wasInformedBy": {}, "wasAssociatedWith": {},
    }
    agent = "dagtrail:engine"
    doc["agent"][agent] = {"prov:type": {"$": "prov:SoftwareAgent", "type": "prov:QUALIFIED_NAME"},
                           "prov:label": "dagtrail"}
    for v in shown["vertices"]:
        kind = "activity" if v["label"] in _ACTIVITIES else "entity"
        doc[kind][_qname(v["uid"])] = _attributes(v)
    plan_of: dict[str, str] = {}
    n = 0
    for e in edges:
        if e["out"] not in vs or e["in"] not in vs:
            continue
        n += 1
        rid = f"_:r{n}"
        out, in_ = _qname(e["out"]), _qname(e["in"])
        if e["label"] == "used":
            doc["used"][rid] = {"prov:activity": out, "prov:entity": in_}
        elif e["label"] == "wasGeneratedBy":
            doc["wasGeneratedBy"][rid] = {"prov:entity": out, "prov:activity": in_}
        elif e["label"] == "wasInformedBy":
            doc["wasInformedBy"][rid] = {"prov:informed": out, "prov:informant": in_}
        elif e["label"] in ("runs", "instanceOf"):
            plan_of[e["out"]] = e["in"]
        elif e["label"] == "partOf":
            doc["activity"][out]["dagtrail:partOf"] = {"$": in_, "type": "prov:QUALIFIED_NAME"}
    for activity, plan in sorted(plan_of.items()):
        n += 1
        doc["wasAssociatedWith"][f"_:r{n}"] = {"prov:activity": _qname(activity), "prov:agent": agent,
                                               "prov:plan": _qname(plan)}
    return {k: v for k, v in doc.items() if v}


def prov_json(shown: dict[str, Any]) -> str:
    return json.dumps(prov(shown), indent=2, sort_keys=True) + "\n"
