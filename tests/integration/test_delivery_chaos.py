"""Delivery chaos (issue 7): the event streams of real local runs, delivered again to the real
handlers duplicated, reordered and delayed, end in exactly the state an in-order delivery
gives: the same run, task, job and sweep-item records, one SendTaskSuccess/Failure per
token with the same output, and the same lineage graph with no duplicate vertex or edge.

chaos_replay.py records the runs (LocalRun's event_log) and does the replaying.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagtrail.spec.loader import load_spec_text
from dagtrail.sweeps import sizing

from .chaos_replay import Recording, record, replay

WRITE = "import os; open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/{name}.txt', 'w').write('{name}')"
READ_ALL = ("import os; d = os.environ['DAGTRAIL_INPUT_DIR']; "
            "open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/{name}.txt', 'w').write("
            "','.join(sorted(os.listdir(d))))")
FLAKY = ("import os, sys; a = os.environ['DAGTRAIL_ATTEMPT']; "
         "open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/{name}.txt', 'w').write(a); sys.exit(0 if a == '2' else 5)")


def _task(name: str, code: str, deps: list[str] = (), retries: int = 0) -> str:
    command = code.format(name=name).replace('"', '\\"')
    return (f"  {name}:\n    image: python:3.13-slim\n    command: [\"python3\", \"-c\", \"{command}\"]\n"
            f"    depends_on: [{', '.join(deps)}]\n    retries: {retries}\n")


SHAPES = {
    "chain": "name: chain\ntasks:\n" + _task("a", WRITE) + _task("b", READ_ALL, ["a"]) + _task("c", READ_ALL, ["b"]),
    # A diamond whose right branch fails once and is retried: two TaskRuns, two tokens.
    "diamond-retry": "name: diamond-retry\ntasks:\n" + _task("top", WRITE) + _task("left", READ_ALL, ["top"])
    + _task("right", FLAKY, ["top"], retries=1) + _task("bottom", READ_ALL, ["left", "right"]),
    "fan-out": "name: fan-out\ntasks:\n" + _task("src", WRITE)
    + "".join(_task(f"w{i}", READ_ALL, ["src"]) for i in range(3)) + _task("sink", READ_ALL, [f"w{i}" for i in range(3)]),
}
# Four items as one array job (the inline threshold is lowered while recording): item 1 fails
# its first try and Batch retries that child alone (retries: 1); a dependant reads them all.
SWEEP_ITEMS = """  items:
    image: python:3.13-slim
    command: ["sh", "-c", "m=$MARKS/$1; if [ $1 = b ] && [ ! -e $m ]; then touch $m; exit 4; fi; echo $1 > $DAGTRAIL_OUTPUT_DIR/out.txt", "sh", "{{ item }}"]
    env: {MARKS: "<marks>"}
    depends_on: [src]
    retries: 1
    foreach: {values: [a, b, c, d]}
"""
SHAPES["sweep"] = "name: sweep\ntasks:\n" + _task("src", WRITE) + SWEEP_ITEMS + _task("sink", READ_ALL, ["items"])
# (tokens answered: successes, failures; TaskRun vertices) of each shape's real run.
EXPECTED = {"chain": (3, 0, 3), "diamond-retry": (4, 1, 5), "fan-out": (5, 0, 5),
            # src, the array job, sink; one per item try (item 1 has two).
            "sweep": (3, 0, 3 + 5)}

_recordings: dict[str, Recording] = {}
_clean: dict[str, object] = {}


@pytest.fixture
def recorded(tmp_path_factory):
    """One real local run per shape, recorded once per session."""
    def get(shape: str) -> Recording:
        if shape not in _recordings:
            workdir = tmp_path_factory.mktemp(f"run-{shape}")
            (workdir / "marks").mkdir()
            spec = load_spec_text(SHAPES[shape].replace("<marks>", str(workdir / "marks")))
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(sizing, "INLINE_MAX_ITEMS", 2)
                rec = record(spec, workdir)
            assert rec.status == "SUCCEEDED"
            _recordings[shape] = rec
        return _recordings[shape]
    return get


def _clean_replay(shape, rec, registry, tmp_path_factory, snapshot_graph):
    if shape not in _clean:
        _clean[shape] = replay(rec, registry, tmp_path_factory.mktemp("clean") / "g.db", snapshot_graph)
    return _clean[shape]


def _assert_no_duplicates(shot) -> None:
    uids = [dict(props)["uid"] for _label, props in shot.graph["vertices"]]
    assert len(uids) == len(set(uids)), Counter(uids).most_common(3)
    assert len(shot.graph["edges"]) == len(set(shot.graph["edges"]))


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_clean_replay_reproduces_the_real_run(shape, recorded, registry, tmp_path_factory, snapshot_graph):
    """The harness itself: replaying in order gives the real run's lineage graph, answers
    every token once, and the right number of them (a retried task answers two)."""
    from dagtrail.lineage import graph

    rec = recorded(shape)
    clean = _clean_replay(shape, rec, registry, tmp_path_factory, snapshot_graph)
    g = graph.open_graph(f"gremlite://{rec.workdir / 'lineage.db'}")
    try:
        assert clean.graph == snapshot_graph(g)
    finally:
        graph.close(g)
    successes, failures, task_runs = EXPECTED[shape]
    assert all(len(calls) == 1 for calls in clean.sfn.values())
    kinds = Counter(calls[0][0] for calls in clean.sfn.values())
    assert kinds == {"success": successes, **({"failure": failures} if failures else {})}
    run = next(item for item in clean.table if item["sk"] == "RUN")
    assert run["status"] == "SUCCEEDED"
    labels = Counter(label for label, _ in clean.graph["vertices"])
    assert labels["TaskRun"] == task_runs
    _assert_no_duplicates(clean)


@pytest.mark.parametrize("shape", sorted(SHAPES))
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False))
def test_chaotic_delivery_ends_where_in_order_delivery_does(shape, rng, recorded, registry, tmp_path_factory,
                                                            snapshot_graph):
    rec = recorded(shape)
    clean = _clean_replay(shape, rec, registry, tmp_path_factory, snapshot_graph)
    chaos = replay(rec, registry, tmp_path_factory.mktemp("chaos") / "g.db", snapshot_graph,
                   rng=random.Random(rng.random()))
    assert chaos.table == clean.table
    # Exactly one SendTask* per token, with the same output; duplicate submits start no job.
    assert all(len(calls) == 1 for calls in chaos.sfn.values()), chaos.sfn
    assert chaos.sfn == clean.sfn
    assert sorted(chaos.submitted) == sorted(clean.submitted)
    assert chaos.graph == clean.graph
    _assert_no_duplicates(chaos)
