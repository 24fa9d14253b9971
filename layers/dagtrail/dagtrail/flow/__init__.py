"""Python workflows: `@task` functions called from a `@workflow` function build a WorkflowSpec.

    from dagtrail.flow import outputs, task, workflow

    @task(vcpu=2, memory_mib=4096)
    def solve(reynolds: float, steps: int) -> dict: ...

    @workflow(name="cavity")
    def cavity(steps: int = 2000):
        cases = solve.map([100.0, 400.0], steps)     # solve_0, solve_1
        summarise(cases)                             # depends on both

`dagtrail run module:cavity` and `dagtrail compile module:cavity` take it like a YAML spec.
"""

from dagtrail.flow.decorators import Task, Workflow, task, workflow
from dagtrail.flow.handles import FileRef, Param, Result
from dagtrail.flow.outputs import outputs

__all__ = ["FileRef", "Param", "Result", "Task", "Workflow", "outputs", "task", "workflow"]
