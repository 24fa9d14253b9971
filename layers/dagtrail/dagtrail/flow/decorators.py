"""`@task` and `@workflow`: Python functions that build the same WorkflowSpec the YAML loader does.

A workflow function runs once, at build time, with a lazy handle for each parameter. Each
task call inside it adds a node and returns a handle to the task's result; passing a handle
to another task is a dependency. A Python task becomes the command
`python3 -m dagtrail.flow.entry module:function ARGS_JSON name={{ params.name }}...`.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagtrail.errors import DagtrailError, SpecError
from dagtrail.flow import args as argcodec
from dagtrail.flow.builder import Builder, Node, activate, current, deactivate
from dagtrail.flow.callsite import caller, user_frame_of
from dagtrail.flow.handles import ITEM, FileRef, Param, Result
from dagtrail.flow.mapping import MapError, foreach_of
from dagtrail.flow.project import CODE_DIR_ENV, code_dir_value, project_root

if TYPE_CHECKING:
    from pydantic import ValidationError

    from dagtrail.spec.models import WorkflowSpec

ENTRY = "dagtrail.flow.entry"
PYTHON = "python3"  # the first python3 on PATH; `dagtrail run` puts its own interpreter's first
DEFAULT_IMAGE = "python:3.11-slim"
_OPTION_NAMES = ("image", "command", "env", "retries", "timeout", "compute", "vcpu", "memory_mib", "gpu",
                 "max_parallel")
_MISSING = object()
# Set by dagtrail.flow.entry: a task process imports the user's module only to call one task
# function. The workflow was checked when it was built, so the decorators skip the checks and
# the process never imports pydantic or the spec models (a quarter of a second per task).
_in_task_process = False


def in_task_process() -> None:
    global _in_task_process
    _in_task_process = True


def _models():
    from dagtrail.spec import models

    return models


def _pydantic_error(exc: ValidationError) -> tuple[str | None, str | None, str]:
    """(task, field, message) of the first error, with fields named as @task's arguments."""
    error = exc.errors()[0]
    loc = [str(p) for p in error["loc"]]
    task = None
    if len(loc) >= 2 and loc[0] == "tasks":
        task, loc = loc[1], loc[2:]
    loc = [p for p in loc if p != "resources"]
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"])
    else:
        message = str(error["msg"]).replace("Input should be", "must be")
        if "input" in error and error["type"] != "missing":
            message += f", got {error['input']!r}"
    return task, ".".join(loc) or None, message


def _static_spec(options: dict[str, Any], command: Sequence[str]) -> dict[str, Any]:
    return {
        "image": options["image"], "command": list(command), "env": dict(options["env"] or {}),
        "retries": options["retries"], "timeout": options["timeout"], "compute": options["compute"],
        "resources": {"vcpu": options["vcpu"], "memory_mib": options["memory_mib"], "gpu": options["gpu"]},
    }


def _module_of(fn: Callable) -> tuple[str, str]:
    """(importable module name, directory to put on sys.path) for a task function."""
    name = fn.__module__
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if file is None:
        raise SpecError(f"task {fn.__name__!r} is not defined in a Python file the task process can import")
    path = Path(file).resolve()
    if name == "__main__":  # `python flow.py`: the task process imports it as `flow`
        return path.stem, str(path.parent)
    root = path.parent
    depth = name.count(".") + (1 if path.name == "__init__.py" else 0)
    for _ in range(depth):
        root = root.parent
    return name, str(root)


class Task:
    """A Python function (or a container command) that runs as one task of a workflow."""

    def __init__(self, fn: Callable, name: str, options: dict[str, Any], file: str, line: int,
                 after: tuple[Result | FileRef, ...] = ()) -> None:
        self.fn = fn
        self.name = name
        self.options_ = options
        self.file, self.line = file, line
        self._after = after
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.__qualname__ = fn.__qualname__
        self.__module__ = fn.__module__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<dagtrail task {self.name}>"

    # -- variants ------------------------------------------------------------------------
    def options(self, *, name: str | None = None, after: Iterable[Result | FileRef] = (),
                **overrides: Any) -> Task:
        """This task with another name, extra ordering dependencies or other @task options."""
        file, line = caller()
        unknown = sorted(set(overrides) - set(_OPTION_NAMES))
        if unknown:
            raise SpecError(f"unknown option {unknown[0]!r}; options: name, after, {', '.join(_OPTION_NAMES)}",
                            file=file, line=line, task=self.name)
        after = tuple(after)
        for item in after:
            if not isinstance(item, (Result, FileRef)):
                raise SpecError(f"after= takes results of other tasks, got {item!r}", file=file, line=line,
                                task=self.name, field="after")
        options = self.options_ | overrides
        new_name = self.name if name is None else name
        _check_options(new_name, options, file, line)
        return Task(self.fn, new_name, options, file, line, self._after + after)

    def map(self, items: Any, *args: Any, **kwargs: Any) -> Result:
        """Run the task once per item, as ONE sweep task (`foreach`): the item is the first
        argument, the other arguments are shared. Items: a list, a `range` or `product(...)`
        (dagtrail.flow.mapping). The handle returned stands for the list of the items' results
        in item order; `.file(name)` / `.dir` for the list of their files."""
        file, line = caller()
        try:
            foreach = foreach_of(items)
        except MapError as exc:
            raise SpecError(str(exc), file=file, line=line, task=self.name,
                            field=None if exc.where == "items" else exc.where) from None
        call_args = args if self.options_["command"] is not None else (ITEM, *args)
        return self._add(call_args, kwargs, file, line, foreach)

    # -- a call inside a workflow ---------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Result:
        file, line = caller()
        return self._add(args, kwargs, file, line, None)

    def _add(self, args: tuple, kwargs: dict, file: str, line: int, foreach: dict[str, Any] | None) -> Result:
        builder = current()
        if builder is None:
            raise SpecError(
                f"task {self.name!r} called outside a @workflow function; inside one a call adds a task "
                f"to the workflow, and {self.fn.__name__}.fn(...) calls the plain function",
                file=file, line=line, task=self.name,
            )
        if foreach is None and self.options_.get("max_parallel") is not None:
            raise SpecError("max_parallel bounds the items of a map: use it with .map(...)", file=file, line=line,
                            task=self.name, field="max_parallel")
        encoded = (self._command_args(args, kwargs, file, line) if self.options_["command"] is not None
                   else self._python_args(args, kwargs, file, line))
        if encoded.item and foreach is None:
            raise SpecError("the item placeholder only has a value in a task run by .map(...)", file=file,
                            line=line, task=self.name)
        deps = set(encoded.tasks) | {h.task for h in self._after}
        builder.check_known(deps, file=file, line=line, task=self.name)
        for param in sorted(encoded.params):
            if param not in builder.params:
                raise SpecError(f"parameter {param!r} is not a parameter of workflow {builder.workflow!r}",
                                file=file, line=line, task=self.name)
        if self.options_["command"] is not None:
            command = list(self.options_["command"])
            env = dict(self.options_["env"] or {})
        else:
            module, code_dir = _module_of(self.fn)
            command = [PYTHON, "-m", ENTRY, f"{module}:{self.fn.__qualname__}", argcodec.dumps(encoded.value)]
            command += ["%s={{ params.%s }}" % (p, p) for p in sorted(encoded.params)]
            env = dict(self.options_["env"] or {}) | {CODE_DIR_ENV: code_dir_value(Path(code_dir), builder.root)}
        spec = _static_spec(self.options_, command) | {"env": env, "depends_on": sorted(deps)}
        if foreach is not None:
            spec["foreach"] = foreach
            if self.options_.get("max_parallel") is not None:
                spec["max_parallel"] = self.options_["max_parallel"]
        from pydantic import ValidationError

        try:
            _models().TaskSpec.model_validate(spec)
        except ValidationError as exc:
            _, field, message = _pydantic_error(exc)
            raise SpecError(message, file=file, line=line, task=self.name, field=field) from None
        builder.add(Node(self.name, spec, file, line))
        return Result(self.name, mapped=foreach is not None)

    def _python_args(self, args: tuple, kwargs: dict, file: str, line: int) -> argcodec.Encoded:
        try:
            bound = inspect.signature(self.fn).bind(*args, **kwargs)
        except TypeError as exc:
            raise SpecError(f"{self.fn.__name__}(): {exc}", file=file, line=line, task=self.name) from None
        names = list(bound.signature.parameters)
        where = [names[min(i, len(names) - 1)] for i in range(len(args))]
        try:
            enc_args = [argcodec.encode(a, w) for a, w in zip(args, where, strict=True)]
            enc_kwargs = {k: argcodec.encode(v, k) for k, v in kwargs.items()}
        except argcodec.NotSerialisable as exc:
            raise SpecError(str(exc), file=file, line=line, task=self.name,
                            field=exc.where) from None
        out = argcodec.Encoded({"args": [e.value for e in enc_args],
                                "kwargs": {k: e.value for k, e in sorted(enc_kwargs.items())}})
        for e in [*enc_args, *enc_kwargs.values()]:
            out.tasks |= e.tasks
            out.params |= e.params
        return out

    def _command_args(self, args: tuple, kwargs: dict, file: str, line: int) -> argcodec.Encoded:
        out = argcodec.Encoded(None)
        for value in [*args, *kwargs.values()]:
            if not isinstance(value, (Result, FileRef)):
                raise SpecError(
                    f"a command task takes only results of other tasks (its inputs), got {value!r}; "
                    "put parameters in its command as {{ params.name }}",
                    file=file, line=line, task=self.name)
            out.tasks.add(value.task)
        return out


def _check_options(name: Any, options: dict[str, Any], file: str, line: int) -> None:
    from pydantic import ValidationError

    models = _models()
    if not isinstance(name, str) or not models.TASK_NAME.match(name):
        raise SpecError(f"{name!r} is not a task name: lowercase letters, digits, '_' and '-', starting "
                        "with a letter or digit, at most 63 characters", file=file, line=line, field="name")
    command = options["command"]
    if command is not None and (isinstance(command, str) or not all(isinstance(c, str) for c in command)):
        raise SpecError(f'command must be an argv list like ["sh", "-c", "..."], got {command!r}',
                        file=file, line=line, task=name, field="command")
    try:
        models.TaskSpec.model_validate(_static_spec(options, command if command is not None else ["placeholder"]))
    except ValidationError as exc:
        _, field, message = _pydantic_error(exc)
        raise SpecError(message, file=file, line=line, task=name, field=field) from None


def task(fn: Callable | None = None, /, *, name: str | None = None, image: str = DEFAULT_IMAGE,
         command: Sequence[str] | None = None, vcpu: float = 1, memory_mib: int = 2048, gpu: int = 0,
         retries: int = 0, timeout: int | str = 3600, compute: str = "batch",
         env: dict[str, str] | None = None) -> Any:
    """Make a function a task. `@task` or `@task(image=..., vcpu=..., memory_mib=..., gpu=...,
    retries=..., timeout="30m", compute="batch"|"ecs", env={...})`; with `command=[...]` the
    task is that container command and the function body is never run."""
    file, line = caller()
    options = {"image": image, "command": list(command) if command is not None and not isinstance(command, str)
               else command, "env": env, "retries": retries, "timeout": timeout, "compute": compute,
               "vcpu": vcpu, "memory_mib": memory_mib, "gpu": gpu}

    def wrap(f: Callable) -> Task:
        if not callable(f) or isinstance(f, (Task, Workflow)):
            raise SpecError(f"@task decorates a function, got {f!r}", file=file, line=line)
        task_name = name if name is not None else f.__name__
        if "<locals>" in f.__qualname__ and options["command"] is None:
            raise SpecError(f"task {f.__name__!r} must be defined at the top level of a module, so the task "
                            "process can import it", file=file, line=line)
        if not _in_task_process:
            _check_options(task_name, options, file, line)
        return Task(f, task_name, options, file, line)

    return wrap(fn) if fn is not None else wrap


class Workflow:
    """A function whose task calls describe a workflow; `.build()` gives its WorkflowSpec."""

    def __init__(self, fn: Callable, name: str, parameters: dict[str, Any], description: str,
                 file: str, line: int) -> None:
        self.fn, self.name, self.parameters, self.description = fn, name, parameters, description
        self.file, self.line = file, line
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.__module__ = fn.__module__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<dagtrail workflow {self.name}>"

    @property
    def project_dir(self) -> Path:
        """The project this workflow's file belongs to (dagtrail.flow.project.project_root)."""
        source = getattr(sys.modules.get(self.fn.__module__), "__file__", None)
        return project_root(Path(source).parent if source else Path.cwd())

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        file, line = caller()
        raise SpecError(f"workflow {self.name!r} is not called directly: run it with "
                        f"`dagtrail run module:{self.fn.__name__}`, or get its spec with .build()",
                        file=file, line=line)

    def build(self) -> WorkflowSpec:
        if current() is not None:
            file, line = caller()
            raise SpecError(f"workflow {self.name!r} built inside another workflow", file=file, line=line)
        builder = Builder(self.name, self.file, self.line, params=dict(self.parameters), root=self.project_dir)
        handles = {p: Param(p, v) for p, v in self.parameters.items()}
        takes = [p for p in inspect.signature(self.fn).parameters]
        token = activate(builder)
        try:
            self.fn(**{p: handles[p] for p in takes})
        except DagtrailError:
            raise
        except Exception as exc:  # the user's own bug while building: point at their line
            file, line = user_frame_of(exc.__traceback__) or (self.file, self.line)
            raise SpecError(f"{type(exc).__name__}: {exc}", file=file, line=line) from None
        finally:
            deactivate(token)
        if not builder.nodes:
            raise SpecError(f"workflow {self.name!r} calls no task", file=self.file, line=self.line)
        data = {"name": self.name, "description": self.description, "parameters": self.parameters,
                "tasks": {n.name: n.spec for n in builder.nodes.values()}}
        from pydantic import ValidationError

        try:
            return _models().WorkflowSpec.model_validate(data)
        except ValidationError as exc:
            task_name, field, message = _pydantic_error(exc)
        except SpecError as exc:
            task_name, field, message = exc.task, exc.field, exc.message
        node = builder.nodes.get(task_name or "")
        file, line = (node.file, node.line) if node else (self.file, self.line)
        raise SpecError(message, file=file, line=line, task=task_name, field=field)


def workflow(fn: Callable | None = None, /, *, name: str | None = None,
             parameters: dict[str, Any] | None = None, description: str | None = None) -> Any:
    """Make a function a workflow. Its parameters are `parameters=` and its own arguments with
    defaults (`def sweep(steps: int = 400)`); each arrives as a handle to pass to tasks."""
    file, line = caller()

    def wrap(f: Callable) -> Workflow:
        if not callable(f) or isinstance(f, (Task, Workflow)):
            raise SpecError(f"@workflow decorates a function, got {f!r}", file=file, line=line)
        wf_name = name if name is not None else f.__name__.replace("_", "-")
        if _in_task_process:
            return Workflow(f, wf_name, dict(parameters or {}), "", file, line)
        models = _models()
        if not isinstance(wf_name, str) or not models.WORKFLOW_NAME.match(wf_name):
            raise SpecError(f"{wf_name!r} is not a workflow name: lowercase letters, digits and '-', at most "
                            "40 characters, not starting or ending with '-'", file=file, line=line, field="name")
        params = dict(parameters or {})
        for p in inspect.signature(f).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise SpecError(f"workflow parameters are named; *{p.name} cannot be one", file=file, line=line)
            if p.default is not inspect.Parameter.empty:
                if p.name in params and params[p.name] != p.default:
                    raise SpecError(f"parameter {p.name!r} has two defaults: {params[p.name]!r} in parameters= "
                                    f"and {p.default!r} in the signature", file=file, line=line)
                params[p.name] = p.default
            elif p.name not in params:
                raise SpecError(f"parameter {p.name!r} needs a default (in the signature or parameters=)",
                                file=file, line=line, field=p.name)
        for key, value in params.items():
            if not isinstance(key, str) or not models.PARAM_NAME.match(key):
                raise SpecError(f"{key!r} is not a parameter name ([A-Za-z_][A-Za-z0-9_]*)", file=file, line=line)
            if isinstance(value, bool) or type(value) in (int, float, str):
                if isinstance(value, float) and value != value:
                    raise SpecError(f"parameter {key!r}: NaN is not a default", file=file, line=line, field=key)
                continue
            raise SpecError(f"parameter {key!r} must default to a string, number or boolean, got {value!r}",
                            file=file, line=line, field=key)
        doc = description if description is not None else (inspect.getdoc(f) or "").split("\n\n")[0]
        return Workflow(f, wf_name, params, " ".join(doc.split()), file, line)

    return wrap(fn) if fn is not None else wrap
