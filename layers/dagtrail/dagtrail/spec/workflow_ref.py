"""What `dagtrail run` and `dagtrail compile` accept: a YAML spec or a Python workflow.

    examples/heat-diffusion/workflow.yaml     a YAML file (load_spec)
    package.module:function                   a @workflow in an importable module
    path/to/file.py:function                  a @workflow in a file
    path/to/file.py                           the one @workflow that file defines
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

from dagtrail.errors import SpecError
from dagtrail.spec.loader import load_spec
from dagtrail.spec.models import WorkflowSpec

_MODULE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")


def is_python_ref(ref: str) -> bool:
    if ref.lower().endswith((".yaml", ".yml")):
        return False
    target = ref.rpartition(":")[0] if ":" in ref else ref
    return target.endswith(".py") or (":" in ref and bool(_MODULE.match(target)))


def load_workflow(ref: str) -> WorkflowSpec:
    if not is_python_ref(ref):
        return load_spec(ref)
    return python_workflow(ref).build()


def python_workflow(ref: str):
    """The @workflow object a Python reference names (imported once; later calls reuse it)."""
    target, _, attr = ref.rpartition(":") if ":" in ref else (ref, "", "")
    module = _import_file(target) if target.endswith(".py") else _import_module(target, ref)
    return _workflow_in(module, attr, ref)


def _workflow_in(module: ModuleType, attr: str, ref: str):
    from dagtrail.flow import Workflow

    file = getattr(module, "__file__", ref)
    if not attr:
        found = [v for v in vars(module).values() if isinstance(v, Workflow) and v.__module__ == module.__name__]
        if len(found) != 1:
            names = ", ".join(sorted(w.fn.__name__ for w in found)) or "none"
            raise SpecError(f"name the workflow as {ref}:FUNCTION (@workflow functions here: {names})", file=file)
        return found[0]
    obj = getattr(module, attr, None)
    if obj is None:
        raise SpecError(f"no {attr!r} in module {module.__name__}", file=file)
    if not isinstance(obj, Workflow):
        raise SpecError(f"{attr!r} is not a @workflow function", file=file)
    return obj


def _import_file(path: str) -> ModuleType:
    file = Path(path)
    if not file.is_file():
        raise SpecError("no such file", file=path)
    name = file.stem
    if not _MODULE.match(name):
        raise SpecError(f"{file.name!r}: the file name must be a Python module name", file=path)
    # The task process imports the module by this name from the file's directory (DAGTRAIL_CODE_DIR).
    directory = str(file.resolve().parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    existing = sys.modules.get(name)
    if existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() == file.resolve():
        return existing
    if existing is not None:
        raise SpecError(f"module name {name!r} is already taken by {getattr(existing, '__file__', existing)}; "
                        "rename the file", file=path)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        raise _import_error(exc, path) from None
    return module


def _import_module(name: str, ref: str) -> ModuleType:
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # like `python -m`: modules under the working directory
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise SpecError(f"cannot import module {name!r}: {exc}", file=ref) from None
        raise _import_error(exc, ref) from None
    except BaseException as exc:
        raise _import_error(exc, ref) from None


def _import_error(exc: BaseException, ref: str) -> Exception:
    from dagtrail.errors import DagtrailError
    from dagtrail.flow.callsite import user_frame_of

    if isinstance(exc, DagtrailError):
        return exc
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return exc  # type: ignore[return-value]
    if isinstance(exc, SyntaxError) and exc.filename:
        from dagtrail.flow.callsite import shown

        return SpecError(f"SyntaxError: {exc.msg}", file=shown(exc.filename), line=exc.lineno)
    file, line = user_frame_of(exc.__traceback__) or (ref, None)
    return SpecError(f"{type(exc).__name__}: {exc}", file=file, line=line)
