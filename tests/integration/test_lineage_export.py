"""`dagtrail lineage show --format mermaid|dot|prov|html` on a run with a failed and a
retried attempt, an artifact with an awkward name, and a placeholder upstream attempt."""

import html as html_lib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dagtrail.cli.main import main
from dagtrail.lineage import export, graph, html, queries, writer
from dagtrail.lineage import records as R
from dagtrail.lineage.records import ArtifactRef

B = "s3://dagtrail-results/w/run-1"
RAW = ArtifactRef(uri=f"{B}/prep/1/raw.csv", name="raw.csv", size=2048, sha256="aa")
ODD = ArtifactRef(uri=f"{B}/fit/2/we\"ird <name>.txt", name="we\"ird <name>.txt", size=3, sha256="bb")


def build(tmp_path):
    recs = R.execution("run-1", "w", execution_arn="arn", status="SUCCEEDED", params={"n": 1},
                       started_at="2024-01-01T00:00:00Z", stopped_at="2024-01-01T00:01:00Z")
    recs += R.task_run("run-1", "w", "prep", 1, status="SUCCEEDED", exit_code=0, started_at="2024-01-01T00:00:01Z",
                       stopped_at="2024-01-01T00:00:03Z", log_stream=str(tmp_path / "logs" / "prep-1.log"))
    recs += R.task_run("run-1", "w", "fit", 1, status="FAILED", exit_code=3, started_at="2024-01-01T00:00:04Z",
                       stopped_at="2024-01-01T00:00:05Z", log_stream="fit/default/abc123")
    recs += R.task_run("run-1", "w", "fit", 2, status="SUCCEEDED", exit_code=0, started_at="2024-01-01T00:00:06Z",
                       stopped_at="2024-01-01T00:00:16Z", image="img:1", command=["python3", "fit.py"])
    recs += R.artifacts("run-1", "prep", 1, produced=[RAW], used=[])
    recs += R.artifacts("run-1", "fit", 1, produced=[], used=[RAW])
    recs += R.artifacts("run-1", "fit", 2, produced=[ODD], used=[RAW])
    recs += R.informed_by("run-1", "fit", 2, "prep", 1) + R.informed_by("run-1", "fit", 1, "prep", 1)
    return recs


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("export") / ".dagtrail"
    g = graph.open_graph(f"gremlite://{wd / 'lineage.db'}")
    writer.write(g, build(wd))
    graph.close(g)
    raw = wd / "results" / "w" / "run-1" / "prep" / "1" / "raw.csv"
    raw.parent.mkdir(parents=True)
    raw.write_text("a,b\n")
    return wd


@pytest.fixture(scope="module")
def shown(workdir):
    g = graph.open_graph(f"gremlite://{workdir / 'lineage.db'}")
    try:
        return queries.show_run(g, "run-1")
    finally:
        graph.close(g)


def show(workdir, fmt, capsys):
    assert main(["lineage", "show", "run-1", "--workdir", str(workdir), "--format", fmt]) == 0
    return capsys.readouterr().out


DRAWN = {"taskrun:run-1:prep:1", "taskrun:run-1:fit:1", "taskrun:run-1:fit:2",
         f"artifact:{RAW.uri}", f"artifact:{ODD.uri}"}


def test_mermaid(workdir, capsys):
    out = show(workdir, "mermaid", capsys)
    lines = out.splitlines()
    assert lines[0] == "flowchart LR"
    nodes = [line for line in lines if re.match(r"  n\d+[\[(]", line)]
    assert len(nodes) == len(DRAWN)
    assert sum(line.endswith(":::failed") for line in nodes) == 1
    assert sum(line.endswith(":::succeeded") for line in nodes) == 2
    assert any('we#quot;ird &lt;name&gt;.txt' in line for line in nodes)
    edges = [line for line in lines if "-->" in line or "-.->" in line]
    # prep→raw, raw→fit#1, raw→fit#2, fit#2→odd; the wasInformedBy edges repeat what raw.csv
    # already shows, so they are not drawn.
    assert len(edges) == 4 and not any("-.->" in e for e in edges)


def test_dot(workdir, capsys):
    out = show(workdir, "dot", capsys)
    assert out.startswith('digraph "run run-1" {') and out.rstrip().endswith("}")
    for uid in DRAWN:
        assert re.search(rf'^  "{re.escape(uid.replace(chr(34), chr(92) + chr(34)))}" \[label=', out, re.M), uid
    assert 'label="we\\"ird <name>.txt\\n3 B"' in out
    assert out.count(" -> ") == 4
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tsvg"], input=out, text=True, check=True, capture_output=True)


def test_prov_reads_back_with_the_prov_package(workdir, capsys):
    from prov.model import ProvActivity, ProvDocument, ProvEntity, ProvGeneration, ProvUsage

    out = show(workdir, "prov", capsys)
    doc = ProvDocument.deserialize(content=out, format="json")
    records = doc.get_records()
    activities = {str(r.get_attribute("dagtrail:uid").pop()) for r in records if isinstance(r, ProvActivity)}
    assert activities == {"execution:run-1", "taskrun:run-1:prep:1", "taskrun:run-1:fit:1", "taskrun:run-1:fit:2"}
    entities = {str(next(iter(r.get_attribute("dagtrail:uid")))) for r in records if isinstance(r, ProvEntity)}
    assert {f"artifact:{RAW.uri}", f"artifact:{ODD.uri}", "params:run-1", "workflow:w", "task:w:fit"} <= entities
    assert sum(isinstance(r, ProvUsage) for r in records) == 3  # raw by fit#1 and fit#2, params by the run
    assert sum(isinstance(r, ProvGeneration) for r in records) == 2
    fit2 = next(r for r in records if isinstance(r, ProvActivity) and str(r.identifier).endswith("fit%3A2"))
    assert fit2.get_startTime().isoformat() == "2024-01-01T00:00:06+00:00"
    # And out again, unchanged in meaning.
    assert ProvDocument.deserialize(content=doc.serialize(format="json"), format="json") == doc


def test_html_is_self_contained(workdir, capsys):
    page = show(workdir, "html", capsys)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=|<link\b|@import|url\((?!#)", page, re.I)
    assert "default-src 'none'" in page  # and the page forbids itself any fetch
    data = json.loads(re.search(r'<script id="lineage-data" type="application/json">(.*?)</script>', page, re.S)
                      .group(1).replace("<\\/", "</"))
    assert {n["uid"] for n in data["nodes"]} == DRAWN
    nodes = {n["uid"]: n for n in data["nodes"]}
    assert nodes["taskrun:run-1:prep:1"]["log"] == (workdir / "logs" / "prep-1.log").as_uri()
    assert nodes["taskrun:run-1:fit:1"]["log"].startswith(
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/"
        "$252Faws$252Fbatch$252Fjob/log-events/fit$252Fdefault$252Fabc123")
    assert nodes[f"artifact:{RAW.uri}"]["object"] == (workdir / "results/w/run-1/prep/1/raw.csv").resolve().as_uri()
    assert nodes[f"artifact:{ODD.uri}"]["object"].startswith(
        "https://s3.console.aws.amazon.com/s3/object/dagtrail-results?region=us-east-1&prefix=w/run-1/fit/2/we%22ird")
    assert nodes["taskrun:run-1:fit:2"]["duration"] == "10.0s"


def test_html_script_cannot_be_closed_by_data(shown):
    evil = json.loads(json.dumps(shown))
    evil["vertices"].append({"label": "Artifact", "uid": "artifact:s3://b/x", "props": {"name": "</script><b>x"}})
    page = html.render(evil)
    assert page.count("</script>") == 2 and "<\\/script><b>x" in page


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(chromium() is None,
                    reason="no headless Chromium (Debian package 'chromium'; `make test` installs it as root)")
def test_html_draws_every_node_in_headless_chromium(workdir, tmp_path, capsys):
    page = tmp_path / "run.html"
    page.write_text(show(workdir, "html", capsys))
    proc = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    dom = proc.stdout
    assert "<svg" in dom, proc.stderr[-2000:]
    drawn = {html_lib.unescape(uid): cls
             for cls, uid in re.findall(r'<g class="(node [^"]*)" data-uid="([^"]*)"', dom)}
    assert set(drawn) == DRAWN
    assert drawn["taskrun:run-1:fit:1"] == "node taskrun status-failed"
    assert drawn["taskrun:run-1:fit:2"] == "node taskrun status-succeeded"
    assert drawn["taskrun:run-1:prep:1"] == "node taskrun status-succeeded"
    assert sum(cls == "node artifact" for cls in drawn.values()) == 2
    assert len(re.findall(r'<path class="edge ', dom)) == 4
    assert 'data-drawn="5"' in dom
    assert "3 attempts (1 failed) · 2 artifacts" in dom


def test_a_run_that_is_still_running_draws_its_attempts_as_running(tmp_path):
    g = graph.open_graph(f"gremlite://{tmp_path / 'l.db'}")
    writer.write(g, R.task_run("run-x", "w", "a", 1, status="RUNNING"))
    shown = queries.show_run(g, "run-x")
    graph.close(g)
    assert ":::running" in export.mermaid(shown)
    assert [n["status"] for n in html.page_data(shown)["nodes"]] == ["running"]


def test_unknown_format_is_exit_2(workdir):
    proc = subprocess.run([str(Path(__file__).resolve().parents[2] / ".venv/bin/dagtrail"), "lineage", "show",
                           "run-1", "--workdir", str(workdir), "--format", "svg"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice: 'svg'" in proc.stderr
