"""Sweeps through the real local pipeline (moto Step Functions, handlers, local processes).

Sizes are small to keep the suite fast; the array and Distributed Map shapes are reached
by lowering the inline threshold for the test (dagtrail.sweeps.sizing)."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from dagtrail.local.engine import LocalRun
from dagtrail.local.summary import RunSummary
from dagtrail.spec import load_spec_text
from dagtrail.sweeps import sizing

SPEC = """
name: sweep-e2e
parameters: {scale: 10}
tasks:
  cases:
    image: x
    command: [sh, -c, 'echo "[{\\"a\\": 1}, {\\"a\\": 2}, {\\"a\\": 3}]" > $DAGTRAIL_OUTPUT_DIR/items.json']
  listed:
    image: x
    depends_on: [cases]
    foreach: {from: cases/items.json}
    command: [sh, -c, 'echo "a=$1 item=$DAGTRAIL_ITEM" > $DAGTRAIL_OUTPUT_DIR/out.txt', sh, "{{ item.a }}"]
  small:
    image: x
    foreach: {values: [x, y]}
    command: [sh, -c, 'echo "$1 $DAGTRAIL_ITEM_INDEX" > $DAGTRAIL_OUTPUT_DIR/out.txt', sh, "{{ item }}"]
  grid:
    image: x
    foreach: {product: {p: [1, 2], q: [a, b]}}
    env: {P: "{{ item.p }}", SCALE: "{{ params.scale }}"}
    command: [sh, -c, 'echo "$P $1 $SCALE" > $DAGTRAIL_OUTPUT_DIR/out.txt', sh, "{{ item.q }}"]
  seeds:
    image: x
    foreach: {range: {start: 100, stop: 112}}
    command: [sh, -c, 'echo $1 > $DAGTRAIL_OUTPUT_DIR/out.txt', sh, "{{ item }}"]
  collect:
    image: x
    depends_on: [listed, small, grid, seeds]
    command: [sh, -c, 'cat $DAGTRAIL_INPUT_DIR/seeds/*/out.txt | sort -n | tr "\\n" " " > $DAGTRAIL_OUTPUT_DIR/seeds.txt;
              cp $DAGTRAIL_INPUT_DIR/seeds/sweep.json $DAGTRAIL_OUTPUT_DIR/seeds-sweep.json']
"""


@pytest.fixture
def small_inline(monkeypatch):
    monkeypatch.setattr(sizing, "INLINE_MAX_ITEMS", 4)  # grid (4) inline, seeds (12) an array job


def run(spec_text: str, workdir: Path, **kw):
    """One local run in a forked process: the handlers' loggers are set up once per process,
    and the test's threshold patch carries over."""
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()

    def target() -> None:
        summary = LocalRun(load_spec_text(spec_text), {"scale": 10} if "scale" in spec_text else {}, workdir,
                           docker=False, retry_sleep_factor=0.0, **kw).execute()
        results.put(summary.model_dump_json())

    proc = ctx.Process(target=target)
    proc.start()
    text = results.get(timeout=300)
    proc.join()
    summary = RunSummary.model_validate_json(text)
    return summary, {t.name: t for t in summary.tasks}


def test_every_foreach_form_runs_with_per_item_outputs(small_inline, tmp_path):
    summary, tasks = run(SPEC, tmp_path, max_parallel=4)
    assert summary.status == "SUCCEEDED", (summary.error, summary.cause)
    for name, total in (("listed", 3), ("small", 2), ("grid", 4), ("seeds", 12)):
        assert tasks[name].items.model_dump() == {"total": total, "succeeded": total, "failed": 0}, name
    results = tmp_path / "results" / "sweep-e2e" / summary.run_id

    def out(task: str, index: int) -> str:
        return next((results / task).glob(f"*/{index}/out.txt")).read_text().strip()

    assert [out("listed", i) for i in range(3)] == [f'a={i} item={{"a":{i}}}' for i in (1, 2, 3)]
    assert [out("small", i) for i in range(2)] == ["x 0", "y 1"]
    assert [out("grid", i) for i in range(4)] == ["1 a 10", "1 b 10", "2 a 10", "2 b 10"]
    assert [out("seeds", i) for i in range(12)] == [str(100 + i) for i in range(12)]
    collect = next((results / "collect").glob("*/"))
    assert (collect / "seeds.txt").read_text().split() == [str(100 + i) for i in range(12)]
    sweep = json.loads((collect / "seeds-sweep.json").read_text())
    assert sweep["count"] == 12 and [o["artifacts"] for o in sweep["outputs"]] == [["out.txt"]] * 12
    names = {a.name for a in summary.artifacts if a.task == "seeds"}
    assert {f"{i}/out.txt" for i in range(12)} | {"sweep.json"} <= names


def test_item_task_runs_reach_the_lineage_graph(small_inline, tmp_path):
    import sqlite3

    summary, _ = run(SPEC, tmp_path)
    assert summary.status == "SUCCEEDED"
    db = sqlite3.connect(tmp_path / "lineage.db")
    text = "\n".join(str(row) for table in [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
                     for row in db.execute(f"select * from '{table}'"))
    for task, total in (("seeds", 12), ("grid", 4), ("listed", 3)):
        for index in range(total):
            assert f"taskrun:{summary.run_id}:{task}:1:{index}:1" in text, (task, index)


PARTIAL = """
name: sweep-partial
tasks:
  flaky:
    image: x
    retries: 1
    foreach: {range: {stop: %d}}
    command: [sh, -c, 'echo "$1" >> "$RUNS/$1"; n=$(wc -l < "$RUNS/$1");
              if [ "$1" = 2 ]; then exit 3; fi; if [ "$1" = 4 ] && [ "$n" = 1 ]; then exit 1; fi;
              echo ok > $DAGTRAIL_OUTPUT_DIR/out.txt', sh, "{{ item }}"]
    env: {RUNS: "%s"}
"""


@pytest.mark.parametrize("count", [6, 8], ids=["inline-map", "array-job"])
def test_a_partially_failed_sweep_retries_only_failed_items(monkeypatch, tmp_path, count):
    monkeypatch.setattr(sizing, "INLINE_MAX_ITEMS", 6)
    runs = tmp_path / "runs"
    runs.mkdir()
    summary, tasks = run(PARTIAL % (count, runs), tmp_path / "work", max_parallel=1 if count == 6 else 3)
    assert summary.status == "FAILED"
    flaky = tasks["flaky"]
    assert flaky.status == "FAILED" and flaky.items.failed == 1
    tries = {int(p.name): len(p.read_text().split()) for p in runs.iterdir()}
    assert tries[2] == 2  # the failing item: once, then its one retry
    if count == 8:  # an array job runs every item; Batch retries only the failed ones
        assert flaky.items.succeeded == 7
        assert tries == {i: 2 if i in (2, 4) else 1 for i in range(8)}
        assert "item 2" in flaky.reason
    else:  # an inline Map stops at the failed item; none that succeeded ran twice
        assert all(n == 1 for i, n in tries.items() if i not in (2, 4))


THOUSAND = """
name: sweep-thousand
tasks:
  squares:
    image: x
    foreach: {range: {start: 0, stop: 1000}}
    command: [sh, -c, 'echo $(( $1 * 7 )) > "$DAGTRAIL_OUTPUT_DIR/out.txt"', sh, "{{ item }}"]
  total:
    image: x
    depends_on: [squares]
    command: [sh, -c, 'cat "$DAGTRAIL_INPUT_DIR"/squares/*/out.txt | awk "{s += \\$1} END {print s}" > "$DAGTRAIL_OUTPUT_DIR/total.txt"']
"""


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_thousand_item_sweep_runs_locally_with_every_output_and_task_run(tmp_path):
    """Issue 5's "done when": 1,000 items through the CLI (an array job), each item's output
    where a dependant finds it, and a TaskRun per item in the lineage graph."""
    import subprocess

    from dagtrail.lineage import graph, queries

    (tmp_path / "thousand.yaml").write_text(THOUSAND)
    dagtrail = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "dagtrail"
    done = subprocess.run([str(dagtrail), "run", "thousand.yaml", "--json", "--docker", "never"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=1700)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = RunSummary.model_validate_json(done.stdout)
    tasks = {t.name: t for t in summary.tasks}
    assert summary.status == "SUCCEEDED"
    assert tasks["squares"].items.model_dump() == {"total": 1000, "succeeded": 1000, "failed": 0}

    [attempt] = (tmp_path / ".dagtrail" / "results" / "sweep-thousand" / summary.run_id / "squares").iterdir()
    outputs = sorted(attempt.glob("*/out.txt"), key=lambda p: int(p.parent.name))
    assert [int(p.parent.name) for p in outputs] == list(range(1000))
    for index in (0, 1, 2, 357, 998, 999):
        assert outputs[index].read_text() == f"{index * 7}\n"
    sweep = json.loads((attempt / "sweep.json").read_text())
    assert sweep["count"] == 1000 and len(sweep["outputs"]) == 1000
    [total] = (tmp_path / ".dagtrail" / "results" / "sweep-thousand" / summary.run_id / "total").glob("*/total.txt")
    assert int(total.read_text()) == 7 * sum(range(1000))

    g = graph.open_graph(f"gremlite://{tmp_path / '.dagtrail' / 'lineage.db'}")
    try:
        shown = queries.show_run(g, summary.run_id)
    finally:
        graph.close(g)
    runs = [v["props"] for v in shown["vertices"] if v["label"] == "TaskRun" and v["props"]["task"] == "squares"]
    items = sorted(p["item_index"] for p in runs if "item_index" in p)
    assert items == list(range(1000))
    assert all(p["status"] == "SUCCEEDED" for p in runs if "item_index" in p)
    produced = {(e["out"], e["in"]) for e in shown["edges"] if e["label"] == "wasGeneratedBy"}
    assert sum(1 for _artifact, run in produced if run.startswith(f"taskrun:{summary.run_id}:squares:")) >= 1000
