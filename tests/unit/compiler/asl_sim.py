"""Read a compiled machine the way Step Functions runs it, independently of the compiler's
own layout code: which tasks are certainly finished whenever a given task starts."""

from __future__ import annotations

from typing import Any


PROLOGUE = ("Parameters", "Use defaults", "Merge defaults", "Apply params")


def body_of(asl: dict[str, Any]) -> dict[str, Any]:
    """The machine after its parameter-defaults prologue, which runs before any task."""
    states = asl["States"]
    assert asl["StartAt"] == "Parameters" and states["Parameters"]["Type"] == "Choice"
    first = states["Apply params"]["Next"]
    assert states["Use defaults"]["Next"] == first and states["Merge defaults"]["Next"] == "Apply params"
    assert states["Parameters"]["Choices"][0]["Next"] == "Merge defaults"
    assert states["Parameters"]["Default"] == "Use defaults"
    return {"StartAt": first, "States": {k: v for k, v in states.items() if k not in PROLOGUE}}


def finished_before(asl: dict[str, Any]) -> dict[str, frozenset[str]]:
    """task -> tasks that have succeeded whenever that task's state is entered.

    A chain runs its states one after another (Next / End); a Parallel state starts every
    branch with what was finished before it and ends when all branches have ended; a
    task's failure goes to its Catch target, which must be a Fail state (so nothing after
    it runs). Anything else is an error: the compiler emits nothing else.
    """
    before: dict[str, frozenset[str]] = {}
    names: list[str] = []

    def chain(machine: dict[str, Any], done: frozenset[str]) -> frozenset[str]:
        states = machine["States"]
        names.extend(states)
        reached: set[str] = set()
        name = machine["StartAt"]
        while True:
            assert name not in reached, f"loop at {name}"
            reached.add(name)
            state = states[name]
            if state["Type"] == "Task":
                task = state["Parameters"]["Payload"]["task"]
                assert task == name, "task states are named after their task"
                assert task not in before, f"{task} appears twice"
                before[task] = done
                (catch,) = state["Catch"]
                assert catch["ErrorEquals"] == ["States.ALL"]
                assert states[catch["Next"]]["Type"] == "Fail"
                reached.add(catch["Next"])
                done = done | {task}
            elif state["Type"] == "Parallel":
                assert len(state["Branches"]) >= 2
                ends = [chain(branch, done) for branch in state["Branches"]]
                done = frozenset().union(*ends)
            else:
                raise AssertionError(f"unexpected {state['Type']} state {name}")
            if state.get("End"):
                assert "Next" not in state
                break
            name = state["Next"]
        assert reached == set(states), f"unreachable states: {set(states) - reached}"
        return done

    chain(body_of(asl), frozenset())
    assert len(names) == len(set(names)), "state names must be unique across the machine"
    assert all(len(n) <= 80 for n in names), "state names are at most 80 characters"
    return before
