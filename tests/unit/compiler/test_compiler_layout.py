"""Parallel layout: exact for series-parallel DAGs, correct (and documented) for any DAG."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dagtrail.compiler import compile_workflow
from dagtrail.compiler.layout import Parallel, Series, Task, extra_waits, layout
from dagtrail.spec import TaskSpec, WorkflowSpec
from dagtrail.spec.graph import ancestors

from .asl_sim import body_of, finished_before


def make_spec(deps: dict[str, list[str]], name: str = "wf") -> WorkflowSpec:
    return WorkflowSpec(
        name=name,
        tasks={t: TaskSpec(image="img", command=["run", t], depends_on=tuple(ds)) for t, ds in deps.items()},
    )


def top_level(asl) -> list[tuple[str, str]]:
    """The top-level chain as (state name, type)."""
    asl = body_of(asl)
    out, name = [], asl["StartAt"]
    while name:
        state = asl["States"][name]
        out.append((name, state["Type"]))
        name = state.get("Next")
    return out


def test_chain_is_a_plain_sequence():
    asl = compile_workflow(make_spec({"a": [], "b": ["a"], "c": ["b"]}))
    assert top_level(asl) == [("a", "Task"), ("b", "Task"), ("c", "Task")]
    assert asl["States"]["c"]["End"] is True


def test_diamond_fans_out_and_joins():
    asl = compile_workflow(make_spec({"prepare": [], "left": ["prepare"], "right": ["prepare"], "report": ["left", "right"]}))
    assert top_level(asl) == [("prepare", "Task"), ("parallel left+right", "Parallel"), ("report", "Task")]
    branches = asl["States"]["parallel left+right"]["Branches"]
    assert [b["StartAt"] for b in branches] == ["left", "right"]
    assert asl["States"]["parallel left+right"]["ResultPath"] is None


def test_fan_out_without_join_ends_in_the_parallel():
    asl = compile_workflow(make_spec({"a": [], "b": ["a"], "c": ["a"], "d": ["a"]}))
    assert top_level(asl) == [("a", "Task"), ("parallel b+c+d", "Parallel")]
    assert asl["States"]["parallel b+c+d"]["End"] is True


def test_independent_chains_are_parallel_branches():
    block = layout({"a1": [], "a2": ["a1"], "b1": [], "b2": ["b1"]})
    assert block == Parallel((Series((Task("a1"), Task("a2"))), Series((Task("b1"), Task("b2")))))


def test_nested_series_parallel():
    # a -> (b -> c, d) -> e: the left branch is itself a chain.
    deps = {"a": [], "b": ["a"], "c": ["b"], "d": ["a"], "e": ["c", "d"]}
    assert layout(deps) == Series(
        (Task("a"), Parallel((Series((Task("b"), Task("c"))), Task("d"))), Task("e"))
    )
    assert all(not waits for waits in extra_waits(layout(deps), deps).values())


def test_non_series_parallel_n_splits_at_the_first_level():
    # a -> c, b -> c, b -> d: no clean split; d also waits for a (documented cost).
    deps = {"a": [], "b": [], "c": ["a", "b"], "d": ["b"]}
    block = layout(deps)
    assert block == Series((Parallel((Task("a"), Task("b"))), Parallel((Task("c"), Task("d")))))
    assert extra_waits(block, deps) == {"a": frozenset(), "b": frozenset(), "c": frozenset(), "d": frozenset({"a"})}
    before = finished_before(compile_workflow(make_spec(deps)))
    assert before["d"] == {"a", "b"} and before["c"] == {"a", "b"}


def test_single_task():
    asl = compile_workflow(make_spec({"only": []}))
    assert top_level(asl) == [("only", "Task")]


def test_long_chain_needs_no_deep_recursion():
    deps = {f"t{i:04d}": [f"t{i - 1:04d}"] if i else [] for i in range(2000)}
    block = layout(deps)
    assert isinstance(block, Series) and len(block.steps) == 2000


def test_long_parallel_names_are_truncated_uniquely_and_deterministically():
    long = "x" * 60
    deps = {"root": []} | {f"{long}{i}": ["root"] for i in range(3)} | {f"{long}{i}b": [f"{long}{i}"] for i in range(3)}
    asl = compile_workflow(make_spec(deps))
    (name, kind) = top_level(asl)[1]
    assert kind == "Parallel" and len(name) == 80 and name.startswith("parallel xxx")
    assert compile_workflow(make_spec(deps)) == asl
    finished_before(asl)  # asserts uniqueness and length of every name


# --- properties over random DAGs ---------------------------------------------------------

NAMES = [f"{w}{i}" for w in ("prep", "sim", "fit", "plot", "x") for i in range(4)]


@st.composite
def dags(draw, max_tasks=12):
    n = draw(st.integers(1, max_tasks))
    names = draw(st.permutations(NAMES))[:n]  # random names: layout must not rely on name order
    deps = {}
    for j, task in enumerate(names):
        deps[task] = [names[i] for i in range(j) if draw(st.booleans())]
    return deps


@st.composite
def series_parallel_dags(draw, max_tasks=12):
    """Built by series (every sink of A feeds every source of B) and parallel composition."""
    pool = iter(draw(st.permutations(NAMES)))

    def build(budget: int) -> dict[str, list[str]]:
        if budget == 1 or draw(st.integers(0, 3)) == 0:
            return {next(pool): []}
        left_size = draw(st.integers(1, budget - 1))
        a, b = build(left_size), build(budget - left_size)
        if draw(st.booleans()):
            return a | b
        sinks = [t for t in a if not any(t in ds for ds in a.values())]
        sources = [t for t, ds in b.items() if not ds]
        return a | {t: ds + (sinks if t in sources else []) for t, ds in b.items()}

    return build(draw(st.integers(1, max_tasks)))


@settings(max_examples=300, deadline=None)
@given(dags())
def test_no_task_starts_before_its_dependencies_succeeded(deps):
    asl = compile_workflow(make_spec(deps))
    before = finished_before(asl)
    assert set(before) == set(deps), "every task has exactly one Task state"
    for task, ds in deps.items():
        assert set(ds) <= before[task], f"{task} may start before {set(ds) - before[task]}"
    # The layout's own account of the concurrency it costs matches the machine.
    anc = ancestors(deps)
    assert {t: before[t] - anc[t] for t in deps} == extra_waits(layout(deps), deps)


@settings(max_examples=300, deadline=None)
@given(series_parallel_dags())
def test_series_parallel_dags_lose_no_concurrency(deps):
    before = finished_before(compile_workflow(make_spec(deps)))
    anc = ancestors(deps)
    assert before == {t: anc[t] for t in deps}
