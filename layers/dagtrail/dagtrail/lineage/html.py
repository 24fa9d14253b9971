"""A run's lineage as one self-contained HTML file: inline CSS, inline JS, no network.

The page carries the run as JSON and draws it itself: an SVG laid out in layers by
longest path from the sources (a topological order), attempts as boxes coloured by status
(duration, attempt, exit code), artifacts as tabs; clicking a node shows its properties and
links — logs (file:// locally, the CloudWatch console on AWS) and objects (the local
results mirror, or the S3 console).
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dagtrail.lineage import export, queries
from dagtrail.results.layout import split_uri

DEFAULT_LOG_GROUP = "/aws/batch/job"  # Batch's default; template.yaml's TaskLogGroupName output says otherwise


def _console_part(text: str) -> str:
    # The CloudWatch console's fragment encoding: percent-encode, then '%' becomes '$25'.
    return quote(text, safe="").replace("%", "$25")


def log_link(stream: str | None, *, region: str, log_group: str) -> str | None:
    if not stream:
        return None
    if stream.startswith("/"):  # local mode records the log file's path
        return Path(stream).as_uri()
    return (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/"
            f"log-group/{_console_part(log_group)}/log-events/{_console_part(stream)}")


def object_link(uri: str | None, *, region: str, results_dir: Path | None) -> str | None:
    if not uri:
        return None
    try:
        bucket, key = split_uri(uri)
    except ValueError:
        return None
    if results_dir is not None:
        local = Path(results_dir) / key
        if local.exists():
            return local.resolve().as_uri()
    return f"https://s3.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={quote(key, safe='/')}"


def page_data(shown: dict[str, Any], *, results_dir: Path | None = None, region: str | None = None,
              log_group: str = DEFAULT_LOG_GROUP) -> dict[str, Any]:
    """What the page's script draws: nodes with titles, classes and links; data-flow edges."""
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    vs = {v["uid"]: v for v in shown["vertices"]}
    nodes, flow = export.drawn(shown)
    out_nodes = []
    for v in nodes:
        p = v["props"]
        node = {
            "uid": v["uid"], "kind": v["label"], "title": export.node_title(v, vs),
            "detail": export.node_detail(v), "status": export.status_class(v), "props": p,
        }
        if v["label"] == "TaskRun":
            node["duration"] = queries._duration(p.get("started_at"), p.get("stopped_at"))
            node["attempt"] = p.get("attempt")
            node["log"] = log_link(p.get("log_stream"), region=region, log_group=log_group)
        else:
            node["object"] = object_link(p.get("uri"), region=region, results_dir=results_dir)
        out_nodes.append(node)
    ex = next((v for v in shown["vertices"] if v["label"] == "Execution"), {"props": {}})
    return {
        "run_id": shown["run_id"],
        "execution": ex["props"],
        "duration": queries._duration(ex["props"].get("started_at"), ex["props"].get("stopped_at")),
        "nodes": out_nodes,
        "edges": [{"from": a, "to": b, "kind": kind} for a, b, kind in flow],
    }


def render(shown: dict[str, Any], **options: Any) -> str:
    data = json.dumps(page_data(shown, **options), sort_keys=True)
    # Inside <script>, only "</" can end the element early.
    data = data.replace("</", "<\\/")
    title = html.escape(f"lineage of {shown['run_id']}")
    return _TEMPLATE.replace("__TITLE__", title).replace("__DATA__", data)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>__TITLE__</title>
<style>
  body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #1f2328; }
  header { padding: 10px 16px; border-bottom: 1px solid #d0d7de; background: #f6f8fa; }
  header h1 { font-size: 16px; margin: 0 0 4px; }
  main { display: flex; }
  #canvas { flex: 1; overflow: auto; padding: 12px; }
  aside { width: 360px; border-left: 1px solid #d0d7de; padding: 10px 14px; overflow-wrap: anywhere; }
  aside table { border-collapse: collapse; width: 100%; }
  aside td { vertical-align: top; padding: 2px 4px; border-bottom: 1px solid #eaeef2; font-size: 12px; }
  aside td:first-child { color: #57606a; white-space: nowrap; }
  .node { cursor: pointer; }
  .node rect, .node path.shape { stroke-width: 1.5; }
  .node text { font-size: 11px; fill: #1f2328; pointer-events: none; }
  .node text.sub { fill: #57606a; font-size: 10px; }
  .node.selected rect, .node.selected path.shape { stroke-width: 3; }
  .status-succeeded rect { fill: #d4f7dc; stroke: #1a7f37; }
  .status-failed rect { fill: #ffd8d3; stroke: #cf222e; }
  .status-running rect, .status-starting rect, .status-runnable rect, .status-pending rect,
  .status-submitted rect { fill: #fff3c4; stroke: #9a6700; }
  .status-unknown rect { fill: #eaeef2; stroke: #57606a; }
  .artifact path.shape { fill: #eef2ff; stroke: #4f5bd5; }
  .edge { fill: none; stroke: #8c959f; stroke-width: 1.2; }
  .edge.informed { stroke-dasharray: 4 3; }
  .legend span { display: inline-block; padding: 0 6px; margin-right: 6px; border-radius: 3px; border: 1px solid; }
</style>
</head>
<body>
<header><h1 id="title"></h1><div id="summary"></div></header>
<main><div id="canvas"></div><aside id="details"><p>Click a task attempt or an artifact.</p></aside></main>
<script id="lineage-data" type="application/json">__DATA__</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("lineage-data").textContent);
  var SVG = "http://www.w3.org/2000/svg";
  var W = 190, H = 46, GAPX = 70, GAPY = 18, PAD = 10;

  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(e);
    return e;
  }
  function clip(text, n) { text = String(text); return text.length > n ? text.slice(0, n - 1) + "\\u2026" : text; }

  // Layers: longest path from a source, in topological order (Kahn); cycles cannot occur
  // in lineage, but any node left over is put after the rest rather than dropped.
  var byUid = {}, indeg = {}, next = {};
  data.nodes.forEach(function (n) { byUid[n.uid] = n; indeg[n.uid] = 0; next[n.uid] = []; n.layer = 0; });
  data.edges.forEach(function (e) {
    if (byUid[e.from] && byUid[e.to]) { next[e.from].push(e.to); indeg[e.to] += 1; }
  });
  var queue = data.nodes.filter(function (n) { return indeg[n.uid] === 0; }).map(function (n) { return n.uid; });
  var seen = 0;
  while (queue.length) {
    var u = queue.shift(); seen += 1;
    next[u].forEach(function (v) {
      byUid[v].layer = Math.max(byUid[v].layer, byUid[u].layer + 1);
      indeg[v] -= 1;
      if (indeg[v] === 0) queue.push(v);
    });
  }
  var maxLayer = 0;
  data.nodes.forEach(function (n) { maxLayer = Math.max(maxLayer, n.layer); });
  if (seen < data.nodes.length) {
    data.nodes.forEach(function (n) { if (indeg[n.uid] > 0) n.layer = maxLayer + 1; });
  }
  var layers = [];
  data.nodes.forEach(function (n) { (layers[n.layer] = layers[n.layer] || []).push(n); });
  // Within a layer, order by the mean position of predecessors (fewer crossings), then title.
  var prev = {};
  data.edges.forEach(function (e) { if (byUid[e.to]) (prev[e.to] = prev[e.to] || []).push(e.from); });
  var rows = 0;
  layers.forEach(function (layer, i) {
    layer = layer || [];
    layer.forEach(function (n) {
      var ps = (prev[n.uid] || []).filter(function (u) { return byUid[u].order !== undefined; });
      n.key = ps.length ? ps.reduce(function (s, u) { return s + byUid[u].order; }, 0) / ps.length : 0;
    });
    layer.sort(function (a, b) { return a.key - b.key || (a.title < b.title ? -1 : a.title > b.title ? 1 : 0); });
    layer.forEach(function (n, j) { n.order = j; n.x = PAD + i * (W + GAPX); n.y = PAD + j * (H + GAPY); });
    rows = Math.max(rows, layer.length);
  });

  var width = PAD * 2 + Math.max(1, layers.length) * (W + GAPX) - GAPX;
  var height = PAD * 2 + Math.max(1, rows) * (H + GAPY) - GAPY;
  var svg = el("svg", {id: "graph", width: width, height: height, viewBox: "0 0 " + width + " " + height},
               document.getElementById("canvas"));
  var defs = el("defs", {}, svg);
  var marker = el("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7,
                             markerHeight: 7, orient: "auto-start-reverse"}, defs);
  el("path", {d: "M 0 0 L 10 5 L 0 10 z", fill: "#8c959f"}, marker);

  data.edges.forEach(function (e) {
    var a = byUid[e.from], b = byUid[e.to];
    if (!a || !b) return;
    var x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
    el("path", {"class": "edge " + e.kind, d: "M" + x1 + "," + y1 + " C" + mx + "," + y1 + " " + mx + "," + y2 +
                " " + x2 + "," + y2, "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to}, svg);
  });

  data.nodes.forEach(function (n) {
    var cls = n.kind === "TaskRun" ? "node taskrun status-" + n.status : "node artifact";
    var g = el("g", {"class": cls, "data-uid": n.uid, "data-kind": n.kind, transform: "translate(" + n.x + "," + n.y + ")"}, svg);
    if (n.kind === "TaskRun") {
      el("rect", {width: W, height: H, rx: 6}, g);
    } else {
      el("path", {"class": "shape", d: "M0,0 H" + (W - 14) + " L" + W + ",14 V" + H + " H0 Z"}, g);
    }
    el("text", {x: 8, y: 18}, g).textContent = clip(n.title, 30);
    el("text", {"class": "sub", x: 8, y: 35}, g).textContent = clip(n.detail, 36);
    var tip = el("title", {}, g);
    tip.textContent = n.uid;
    g.addEventListener("click", function () { show(n, g); });
  });

  function link(href, text) {
    var a = document.createElement("a");
    a.href = href; a.textContent = text; a.target = "_blank"; a.rel = "noopener";
    return a;
  }
  function show(n, g) {
    Array.prototype.forEach.call(document.querySelectorAll(".node.selected"), function (s) { s.classList.remove("selected"); });
    g.classList.add("selected");
    var box = document.getElementById("details");
    box.textContent = "";
    var h = document.createElement("h2"); h.style.fontSize = "14px"; h.textContent = n.title; box.appendChild(h);
    var p = document.createElement("p");
    if (n.log) p.appendChild(link(n.log, "logs"));
    if (n.object) p.appendChild(link(n.object, n.object.indexOf("file:") === 0 ? "open file" : "S3 object"));
    box.appendChild(p);
    var table = document.createElement("table");
    Object.keys(n.props).sort().forEach(function (k) {
      var tr = document.createElement("tr");
      var a = document.createElement("td"), b = document.createElement("td");
      a.textContent = k; b.textContent = String(n.props[k]);
      tr.appendChild(a); tr.appendChild(b); table.appendChild(tr);
    });
    box.appendChild(table);
  }

  var ex = data.execution || {};
  document.getElementById("title").textContent = "run " + data.run_id;
  var runs = data.nodes.filter(function (n) { return n.kind === "TaskRun"; });
  var failed = runs.filter(function (n) { return n.status === "failed"; }).length;
  document.getElementById("summary").textContent =
    "workflow " + (ex.workflow || "?") + " \\u00b7 " + (ex.status || "?") + " \\u00b7 duration " + data.duration +
    " \\u00b7 " + runs.length + " attempts (" + failed + " failed) \\u00b7 " +
    (data.nodes.length - runs.length) + " artifacts";
  document.body.setAttribute("data-drawn", String(data.nodes.length));
})();
</script>
</body>
</html>
"""
