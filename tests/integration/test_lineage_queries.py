"""`dagtrail lineage upstream | downstream | history` on gremlite: a diamond run with a
retried task, and a second run that reuses the first run's output."""

import json

import pytest

from dagtrail.cli.main import main
from dagtrail.lineage import graph, history, trace, writer
from dagtrail.lineage import records as R
from dagtrail.lineage.records import ArtifactRef

B = "s3://dagtrail-results/w"


def art(run, task, attempt, name):
    return ArtifactRef(uri=f"{B}/{run}/{task}/{attempt}/{name}", name=name, size=10, sha256="ab" * 32)


RAW = art("run-1", "prep", 1, "raw.csv")
FEAT = art("run-1", "feat", 2, "feat.csv")
STATS = art("run-1", "stats", 1, "stats.json")
MODEL = art("run-1", "fit", 1, "model.bin")
REPORT = art("run-2", "report", 1, "report.md")
UNRELATED = art("run-1", "prep", 1, "notes.txt")


def build():
    """run-1: prep → (feat [attempt 1 failed, 2 ok], stats) → fit; run-2: report uses fit's model."""
    recs = R.execution("run-1", "w", execution_arn="a1", status="SUCCEEDED", params={"n": 3},
                       started_at="2024-01-01T00:00:00Z", stopped_at="2024-01-01T00:10:00Z")
    recs += R.execution("run-2", "w", execution_arn="a2", status="SUCCEEDED", params={"n": 4},
                        started_at="2024-02-01T00:00:00Z", stopped_at="2024-02-01T00:10:00Z")

    def attempt(run, task, n, status, start, seconds, **kw):
        stop = f"{start[:-3]}{int(start[-3:-1]) + seconds:02d}Z"
        return R.task_run(run, "w", task, n, status=status, image="img:1", image_digest="sha256:beef",
                          command=["python3", f"{task}.py", "--n", "3"], started_at=start, stopped_at=stop,
                          exit_code=0 if status == "SUCCEEDED" else 1, **kw)

    recs += attempt("run-1", "prep", 1, "SUCCEEDED", "2024-01-01T00:01:00Z", 5)
    recs += attempt("run-1", "feat", 1, "FAILED", "2024-01-01T00:02:00Z", 2)
    recs += attempt("run-1", "feat", 2, "SUCCEEDED", "2024-01-01T00:03:00Z", 7)
    recs += attempt("run-1", "stats", 1, "SUCCEEDED", "2024-01-01T00:02:00Z", 3)
    recs += attempt("run-1", "fit", 1, "SUCCEEDED", "2024-01-01T00:04:00Z", 20)
    recs += attempt("run-2", "report", 1, "SUCCEEDED", "2024-02-01T00:01:00Z", 1)
    recs += attempt("run-2", "prep", 1, "SUCCEEDED", "2024-02-01T00:00:30Z", 4)
    recs += R.artifacts("run-1", "prep", 1, produced=[RAW, UNRELATED], used=[])
    recs += R.artifacts("run-1", "feat", 1, produced=[], used=[RAW])
    recs += R.artifacts("run-1", "feat", 2, produced=[FEAT], used=[RAW])
    recs += R.artifacts("run-1", "stats", 1, produced=[STATS], used=[RAW])
    recs += R.artifacts("run-1", "fit", 1, produced=[MODEL], used=[FEAT, STATS])
    recs += R.artifacts("run-2", "report", 1, produced=[REPORT], used=[MODEL])
    for task, upstream, n in (("feat", "prep", 2), ("stats", "prep", 1)):
        recs += R.informed_by("run-1", task, n, upstream, 1)
    recs += R.informed_by("run-1", "fit", 1, "feat", 2) + R.informed_by("run-1", "fit", 1, "stats", 1)
    return recs


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("queries") / ".dagtrail"
    g = graph.open_graph(f"gremlite://{wd / 'lineage.db'}")
    writer.write(g, build() + build())  # duplicates change nothing
    graph.close(g)
    return wd


@pytest.fixture
def g(workdir):
    g = graph.open_graph(f"gremlite://{workdir / 'lineage.db'}")
    yield g
    graph.close(g)


def labels(traced, label):
    return sorted(v["uid"] for v in traced["vertices"] if v["label"] == label)


def test_upstream_is_transitive_across_runs_and_skips_siblings(g):
    up = trace.trace(g, REPORT.uri, "upstream")
    assert labels(up, "TaskRun") == sorted([
        "taskrun:run-2:report:1", "taskrun:run-1:fit:1", "taskrun:run-1:feat:2", "taskrun:run-1:stats:1",
        "taskrun:run-1:prep:1"])
    assert labels(up, "Artifact") == sorted(f"artifact:{a.uri}" for a in (REPORT, MODEL, FEAT, STATS, RAW))
    # Each run comes with its task, execution and parameters.
    assert labels(up, "Execution") == ["execution:run-1", "execution:run-2"]
    assert labels(up, "Parameters") == ["params:run-1", "params:run-2"]
    dist = {v["uid"]: v.get("distance") for v in up["vertices"]}
    assert dist[f"artifact:{REPORT.uri}"] == 0 and dist["taskrun:run-2:report:1"] == 1
    assert dist[f"artifact:{RAW.uri}"] == 5  # fit -wasInformedBy-> feat #2 -used-> raw
    fit = next(v for v in up["vertices"] if v["uid"] == "taskrun:run-1:fit:1")
    assert fit["props"]["image_digest"] == "sha256:beef" and json.loads(fit["props"]["command"])[1] == "fit.py"
    edges = {(e["label"], e["out"], e["in"]) for e in up["edges"]}
    assert len(edges) == len(up["edges"])
    assert ("used", "taskrun:run-1:fit:1", f"artifact:{FEAT.uri}") in edges
    assert ("wasInformedBy", "taskrun:run-1:fit:1", "taskrun:run-1:stats:1") in edges


def test_downstream_reaches_later_runs_and_the_failed_attempt(g):
    down = trace.trace(g, RAW.uri, "downstream")
    assert labels(down, "TaskRun") == sorted([
        "taskrun:run-1:feat:1", "taskrun:run-1:feat:2", "taskrun:run-1:stats:1", "taskrun:run-1:fit:1",
        "taskrun:run-2:report:1"])
    assert labels(down, "Artifact") == sorted(f"artifact:{a.uri}" for a in (RAW, FEAT, STATS, MODEL, REPORT))
    assert "taskrun:run-1:prep:1" not in labels(down, "TaskRun")


def test_a_leaf_has_no_downstream(g):
    down = trace.trace(g, REPORT.uri, "downstream")
    assert labels(down, "TaskRun") == [] and labels(down, "Artifact") == [f"artifact:{REPORT.uri}"]


def test_history_lists_attempts_over_time(g):
    h = history.history(g, "feat")
    assert [(r["run_id"], r["attempt"], r["status"], r["duration_s"]) for r in h["runs"]] == [
        ("run-1", 1, "FAILED", 2.0), ("run-1", 2, "SUCCEEDED", 7.0)]
    prep = history.history(g, "prep", "w")["runs"]
    assert [r["run_id"] for r in prep] == ["run-1", "run-2"]
    text = history.render_text(history.history(g, "feat"))
    assert text.splitlines()[0] == "task feat: 2 attempts in 1 runs"
    assert "run-1  feat #1  FAILED  exit 1  2.0s" in text
    assert "succeeded 1/2 finished attempts" in text


def test_upstream_cli_accepts_a_local_results_path(workdir, capsys):
    path = workdir / "results" / "w" / "run-2" / "report" / "1" / "report.md"
    assert main(["lineage", "upstream", str(path), "--workdir", str(workdir), "--format", "json"]) == 0
    up = json.loads(capsys.readouterr().out)
    assert up["artifact"] == REPORT.uri and up["direction"] == "upstream"
    assert "taskrun:run-1:prep:1" in labels(up, "TaskRun")


def test_upstream_text(workdir, capsys):
    assert main(["lineage", "upstream", MODEL.uri, "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"upstream of {MODEL.uri}  (10 B, sha256 abababababab)")
    assert lines[1] == "4 task runs and 3 other artifacts went into it"
    assert lines[2].startswith("  fit #1  run run-1  SUCCEEDED  exit 0  20.0s")
    assert "      image    img:1@sha256:beef" in lines
    assert "      command  python3 fit.py --n 3" in lines
    assert "      params   n=3" in lines
    assert any(line.startswith("      used     feat.csv (10 B)") for line in lines)


def test_downstream_and_history_cli(workdir, capsys):
    assert main(["lineage", "downstream", STATS.uri, "--workdir", str(workdir)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "2 task runs and 2 artifacts came from it"
    assert main(["lineage", "history", "prep", "--workflow", "w", "--workdir", str(workdir), "--format", "json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)["runs"]] == ["run-1", "run-2"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["upstream", "s3://b/none"], "no artifact s3://b/none in the lineage graph"),
        (["downstream", "/etc/hosts"], "/etc/hosts: not an s3:// URI nor a file under"),
        (["history", "nope"], "no task 'nope' in the lineage graph"),
        (["history", "prep", "--workflow", "other"], "no task 'prep' in workflow 'other'"),
    ],
)
def test_bad_targets_are_one_line_exit_2(workdir, argv, message, capsys):
    assert main(["lineage", *argv, "--workdir", str(workdir)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
