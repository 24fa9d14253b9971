"""Python workflows: `@task` functions called from a `@workflow` function build a WorkflowSpec.

    from dagtrail.flow import outputs, product, task, workflow

    @task(vcpu=2, memory_mib=4096)
    def solve(case: dict, steps: int) -> dict: ...

    @workflow(name="cavity")
    def cavity(steps: int = 2000):
        cases = solve.map(product(reynolds=[100.0, 400.0], n=[32, 64]), steps)   # one sweep task
        summarise(cases, cases.file("psi.npy"))      # the four results and files, in item order

`dagtrail run module:cavity` and `dagtrail compile module:cavity` take it like a YAML spec.
"""

from dagtrail.flow.decorators import Task, Workflow, task, workflow
from dagtrail.flow.handles import ITEM, FileRef, Param, Result
from dagtrail.flow.mapping import product
from dagtrail.flow.outputs import outputs

__all__ = ["ITEM", "FileRef", "Param", "Result", "Task", "Workflow", "outputs", "product", "task", "workflow"]
