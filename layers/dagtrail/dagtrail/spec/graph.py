"""The task dependency graph: validation (names, unknown/self dependencies, cycles) and the
orderings the compiler builds on. Every function is deterministic in its input."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dagtrail.errors import SpecError
from dagtrail.spec.models import TASK_NAME

Deps = Mapping[str, Iterable[str]]


def check_task_names(tasks: Iterable[str]) -> None:
    for name in tasks:
        if not TASK_NAME.match(name):
            raise SpecError(
                f"{name!r} is not a task name: lowercase letters, digits, '_' and '-', "
                "starting with a letter or digit, at most 63 characters",
                task=name,
            )


def check_graph(deps: Deps) -> None:
    """Reject duplicate, unknown and self dependencies, then cycles (named a -> b -> a)."""
    for task in sorted(deps):
        seen: set[str] = set()
        for i, dep in enumerate(deps[task]):
            field = f"depends_on[{i}]"
            if dep == task:
                raise SpecError("task depends on itself", task=task, field=field)
            if dep not in deps:
                known = ", ".join(sorted(deps))
                raise SpecError(f"unknown dependency {dep!r} (tasks: {known})", task=task, field=field)
            if dep in seen:
                raise SpecError(f"{dep!r} is listed twice", task=task, field=field)
            seen.add(dep)
    cycle = find_cycle(deps)
    if cycle:
        first, second = cycle[0], cycle[1]
        index = list(deps[first]).index(second)
        raise SpecError(
            f"dependency cycle: {' -> '.join(cycle)} (each task depends on the next)",
            task=first,
            field=f"depends_on[{index}]",
        )


def find_cycle(deps: Deps) -> list[str] | None:
    """A cycle as [a, b, ..., a] where each depends on the next, rotated to start at its
    smallest name; None for a DAG. Iterative DFS: specs can be long chains."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(deps, WHITE)
    for root in sorted(deps):
        if colour[root] != WHITE:
            continue
        colour[root] = GREY
        stack: list[tuple[str, list[str]]] = [(root, list(deps[root]))]
        while stack:
            node, todo = stack[-1]
            if not todo:
                colour[node] = BLACK
                stack.pop()
                continue
            nxt = todo.pop(0)
            if colour.get(nxt) == GREY:
                path = [n for n, _ in stack]
                cycle = path[path.index(nxt):]
                start = cycle.index(min(cycle))
                cycle = cycle[start:] + cycle[:start]
                return cycle + [cycle[0]]
            if colour.get(nxt) == WHITE:
                colour[nxt] = GREY
                stack.append((nxt, list(deps[nxt])))
    return None


def topological_order(deps: Deps) -> list[str]:
    """Dependencies first; ties broken by name (Kahn's algorithm over a sorted frontier)."""
    import heapq

    waiting = {task: len(set(ds)) for task, ds in deps.items()}
    dependants: dict[str, list[str]] = {task: [] for task in deps}
    for task, ds in deps.items():
        for dep in set(ds):
            dependants[dep].append(task)
    ready = [task for task, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        task = heapq.heappop(ready)
        order.append(task)
        for child in dependants[task]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, child)
    if len(order) != len(deps):
        raise ValueError("dependency graph has a cycle")
    return order


def ancestors(deps: Deps) -> dict[str, frozenset[str]]:
    """Every task's transitive dependencies."""
    result: dict[str, frozenset[str]] = {}
    for task in topological_order(deps):
        acc: set[str] = set()
        for dep in deps[task]:
            acc.add(dep)
            acc |= result[dep]
        result[task] = frozenset(acc)
    return result
