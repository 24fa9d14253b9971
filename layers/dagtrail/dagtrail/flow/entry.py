"""Run one Python task: `python3 -m dagtrail.flow.entry module:function ARGS_JSON [name=value ...]`.

Imports the user's module (from $DAGTRAIL_CODE_DIR, relative to the project, when that
directory exists here, else from the image's own path), resolves the arguments — literals,
parameters given as name=value after ARGS_JSON, a mapped task's item from $DAGTRAIL_ITEM,
upstream results from $DAGTRAIL_INPUT_DIR/<task>/result.json (a mapped upstream's from
<task>/<index>/result.json, as a list) and upstream files — calls the function and writes its return value to
$DAGTRAIL_OUTPUT_DIR/result.json. A failure prints the traceback to the task's log and
exits 1, so the attempt fails (and is retried) like any container's.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dagtrail.flow import args as argcodec
from dagtrail.flow.decorators import in_task_process
from dagtrail.flow.project import CODE_DIR_ENV, resolve_code_dir

EXIT_FAILED = 1
EXIT_USAGE = 2


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays, Paths and sets: what scientific functions commonly return."""
    if callable(getattr(value, "tolist", None)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"a {type(value).__name__} is not JSON-serialisable")


def load_function(ref: str) -> Any:
    in_task_process()
    module_name, _, qualname = ref.partition(":")
    value = os.environ.get(CODE_DIR_ENV)
    code_dir = str(resolve_code_dir(value)) if value else None
    if code_dir and Path(code_dir).is_dir() and code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return getattr(obj, "fn", obj)  # the @task wrapper holds the plain function


def write_result(out_dir: Path, value: Any) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(value, default=_jsonable, indent=1, sort_keys=True)
    target = out_dir / argcodec.RESULT_FILE
    tmp = out_dir / f".{argcodec.RESULT_FILE}.tmp"
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or ":" not in argv[0]:
        print("usage: python -m dagtrail.flow.entry module:function ARGS_JSON [name=value ...]", file=sys.stderr)
        return EXIT_USAGE
    ref, payload, rest = argv[0], json.loads(argv[1]), argv[2:]
    params = dict(item.partition("=")[::2] for item in rest)
    out_dir = Path(os.environ.get("DAGTRAIL_OUTPUT_DIR", "."))
    input_dir = Path(os.environ.get("DAGTRAIL_INPUT_DIR", "."))
    try:
        fn = load_function(ref)
        call_args = argcodec.decode(payload.get("args", []), params=params, input_dir=input_dir)
        call_kwargs = argcodec.decode(payload.get("kwargs", {}), params=params, input_dir=input_dir)
        result = fn(*call_args, **call_kwargs)
        write_result(out_dir, result)
    except Exception:
        traceback.print_exc()
        print(f"dagtrail: task function {ref} failed", file=sys.stderr)
        return EXIT_FAILED
    print(f"dagtrail: {ref} returned; result in {argcodec.RESULT_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
