"""Lay a task DAG out as nested series and parallel blocks, the shapes ASL can express.

Step Functions has no "start when these N states are done" join: a state machine is a
chain of states, and concurrency comes from Parallel states whose branches are chains.
So the DAG is decomposed recursively:

* a set of tasks that falls apart into weakly connected components runs them as the
  branches of one Parallel block (there are no edges between components);
* a connected set is split into a series of bands of topological levels (level =
  longest dependency path within the set). It is cut after every *clean* level prefix
  S: one where every task outside S has every task of S as an ancestor, so making the
  later bands wait for all of S adds no wait that the DAG did not already imply. Each
  band is laid out the same way.

Every series-parallel DAG has a clean split at each step (a series composition A;B puts
every node of B above every node of A, so A is exactly a level prefix), and then the
layout is exact: each task starts as soon as its own ancestors have finished.

A DAG that is not series-parallel (the smallest is the "N": a->c, b->c, b->d) has no clean
cut somewhere. The compiler then cuts after the first level S anyway and looks again at
the rest. That is still correct — a level prefix holds every dependency of its own
tasks, and the rest starts only after all of S — but tasks of the rest also wait for
tasks of S they do not depend on (in the N, d waits for a). The cost is concurrency,
never correctness. `extra_waits` lists exactly which waits a layout adds;
docs/compiler.md discusses it.

Correctness invariant of `_Layout.block(nodes)`: when the block for `nodes` starts, every
dependency of a task in `nodes` that lies outside `nodes` has already succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dagtrail.spec.graph import ancestors, topological_order


@dataclass(frozen=True)
class Task:
    name: str


@dataclass(frozen=True)
class Series:
    steps: tuple[Block, ...]  # two or more; never a Series inside a Series


@dataclass(frozen=True)
class Parallel:
    branches: tuple[Block, ...]  # two or more; each a Task or a Series

    def members(self) -> list[str]:
        return sorted(tasks_in(self))


Block = Task | Series | Parallel


def tasks_in(block: Block) -> list[str]:
    if isinstance(block, Task):
        return [block.name]
    children = block.steps if isinstance(block, Series) else block.branches
    return [name for child in children for name in tasks_in(child)]


def steps_of(block: Block) -> tuple[Block, ...]:
    """The chain of states a block becomes: a Series is its steps, anything else one state."""
    return block.steps if isinstance(block, Series) else (block,)


def layout(deps: Mapping[str, Iterable[str]]) -> Block:
    deps = {task: tuple(ds) for task, ds in deps.items()}
    return _Layout(deps).block(frozenset(deps))


class _Layout:
    def __init__(self, deps: Mapping[str, tuple[str, ...]]) -> None:
        self.deps = deps
        self.order = {task: i for i, task in enumerate(topological_order(deps))}
        # Paths between two tasks of a block never leave the block (see the invariant), so
        # global ancestors restricted to the block are the block's own ancestors.
        self.ancestors = ancestors(deps)
        self.neighbours: dict[str, set[str]] = {task: set(ds) for task, ds in deps.items()}
        for task, ds in deps.items():
            for dep in ds:
                self.neighbours[dep].add(task)

    def block(self, nodes: frozenset[str]) -> Block:
        components = self.components(nodes)
        if len(components) > 1:
            return Parallel(tuple(self.block(c) for c in components))
        # Connected. Cut at every clean level boundary at once (all of them are clean in
        # this set, so the bands can run in series without extra waits); with none, peel
        # off the first level and look again. A loop, so a long chain costs no recursion.
        steps: list[Block] = []
        rest = nodes
        while True:
            if len(rest) == 1:
                steps.append(Task(next(iter(rest))))
                break
            components = self.components(rest)
            if len(components) > 1:
                steps.append(Parallel(tuple(self.block(c) for c in components)))
                break
            bands = self.clean_bands(rest)
            if len(bands) > 1:
                for band in bands:
                    steps.extend(steps_of(self.block(band)))
                break
            first = frozenset(self.levels(rest)[0])
            steps.extend(steps_of(self.block(first)))
            rest = rest - first
        return steps[0] if len(steps) == 1 else Series(tuple(steps))

    def components(self, nodes: frozenset[str]) -> list[frozenset[str]]:
        """Weakly connected components, ordered by their first task in topological order."""
        seen: set[str] = set()
        result = []
        for start in sorted(nodes, key=self.order.__getitem__):
            if start in seen:
                continue
            component, todo = {start}, [start]
            while todo:
                for other in self.neighbours[todo.pop()]:
                    if other in nodes and other not in component:
                        component.add(other)
                        todo.append(other)
            seen |= component
            result.append(frozenset(component))
        return result

    def levels(self, nodes: frozenset[str]) -> list[list[str]]:
        """Tasks by level: the longest dependency path to them within `nodes`."""
        level: dict[str, int] = {}
        by_level: list[list[str]] = []
        for task in sorted(nodes, key=self.order.__getitem__):
            inside = [level[d] for d in self.deps[task] if d in nodes]
            level[task] = 1 + max(inside) if inside else 0
            if level[task] == len(by_level):
                by_level.append([])
            by_level[level[task]].append(task)
        return by_level

    def clean_bands(self, nodes: frozenset[str]) -> list[frozenset[str]]:
        """`nodes` cut at every clean level prefix (a prefix every later task descends from
        entirely). One band when there is none."""
        by_level = self.levels(nodes)
        bands: list[frozenset[str]] = []
        prefix: set[str] = set()
        band: set[str] = set()
        for k in range(1, len(by_level)):
            prefix |= set(by_level[k - 1])
            band |= set(by_level[k - 1])
            # Every task above level k has a level-k ancestor (its longest path runs through
            # one), so checking the tasks at level k checks all of them.
            if all(prefix <= self.ancestors[task] for task in by_level[k]):
                bands.append(frozenset(band))
                band = set()
        bands.append(frozenset(band | set(by_level[-1])))
        return bands


def extra_waits(block: Block, deps: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """For each task, the tasks it waits for in this layout although it does not depend on
    them (directly or transitively). Empty sets everywhere for series-parallel DAGs."""
    deps = {task: tuple(ds) for task, ds in deps.items()}
    anc = ancestors(deps)
    waits = guaranteed_before(block)
    return {task: frozenset(waits[task] - anc[task]) for task in waits}


def guaranteed_before(block: Block) -> dict[str, frozenset[str]]:
    """For each task, the tasks that have finished whenever it starts."""
    result: dict[str, frozenset[str]] = {}

    def walk(b: Block, done: frozenset[str]) -> frozenset[str]:
        if isinstance(b, Task):
            result[b.name] = done
            return done | {b.name}
        if isinstance(b, Series):
            for step in b.steps:
                done = walk(step, done)
            return done
        finished = done
        for branch in b.branches:
            finished |= walk(branch, done)
        return finished

    walk(block, frozenset())
    return result
