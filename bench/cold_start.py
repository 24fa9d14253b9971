"""Cold start: handler import time against `import boto3`, and built sizes against Lambda's limit.

Import time: each functions/<name>/app.py imported in a fresh interpreter under
`python -X importtime` (the cumulative time of its `app` line), with the environment
Powertools reads at import; `import boto3` measured the same way, interleaved, in the same
run. One untimed import first (bytecode caches), then the median of --repeat runs. Target:
every handler ≤ 1.5× boto3, except lineage_writer (it loads gremlinpython on purpose).
Measured with this interpreter (.venv, CPython 3.11); Lambda runs 3.13.

Size: `sam build` of template.yaml into a temporary directory (aws-sam-cli from .venv-sam,
python3.13 from pyenv or PATH); each function's unzipped code plus the dagtrail layer,
against Lambda's 250 MB unzipped limit for a function and all its layers.

    .venv/bin/python bench/cold_start.py             # about 2 minutes
    .venv/bin/python bench/cold_start.py --quick     # job_events once, no sam build
Writes bench/results/cold_start.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import REPO, RESULTS, last_line, machine, median, write_result  # noqa: E402

RATIO_MAX = 1.5
EXEMPT = {"lineage_writer"}
LIMIT_MB = 250.0
FUNCTIONS = REPO / "functions"
SAM = REPO / ".venv-sam" / "bin" / "sam"


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DAGTRAIL_", "POWERTOOLS_"))}
    return env | {
        "POWERTOOLS_SERVICE_NAME": "bench", "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "dagtrail", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "PYTHONPATH": str(REPO / "layers" / "dagtrail"),
    }


def import_us(module: str, path: Path | None) -> tuple[int, list[tuple[int, str]]]:
    """Cumulative import time of `module` in microseconds, and its heaviest direct imports."""
    code = f"import sys; sys.path.insert(0, {str(path)!r}); import {module}" if path else f"import {module}"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=_env(), capture_output=True,
                          text=True, timeout=120, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise RuntimeError(f"import {module} from {path} failed: {last_line(done.stderr)}")
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:") and "|" in line]
    parsed = []
    for line in lines[1:]:  # the first is the header
        _self, cumulative, name = line.removeprefix("import time:").split("|", 2)
        parsed.append((int(cumulative), name))
    at = max(i for i, (_c, name) in enumerate(parsed) if name == " " + module)
    # Its direct imports: one level deeper, listed between it and the top-level line before it.
    direct = []
    for cumulative, name in reversed(parsed[:at]):
        if not name.startswith("  "):
            break
        if not name.startswith("    "):
            direct.append((cumulative, name.strip()))
    return parsed[at][0], sorted(direct, reverse=True)[:3]


def import_times(repeat: int, only: list[str] | None = None, warm: bool = True) -> dict:
    handlers = sorted(p.name for p in FUNCTIONS.iterdir() if (p / "app.py").exists() and (not only or p.name in only))
    samples: dict[str, list[int]] = {name: [] for name in [*handlers, "boto3"]}
    heaviest: dict[str, list] = {}
    for name in samples if warm else ():  # warm bytecode caches, untimed
        import_us("boto3", None) if name == "boto3" else import_us("app", FUNCTIONS / name)
    for _ in range(repeat):
        for name in samples:  # interleaved, so load changes fall on every module alike
            if name == "boto3":
                us, top = import_us("boto3", None)
            else:
                us, top = import_us("app", FUNCTIONS / name)
            samples[name].append(us)
            heaviest[name] = top
    base = median(samples["boto3"])
    out = {"boto3_ms": round(base / 1000, 1), "boto3_samples_ms": [round(s / 1000, 1) for s in samples["boto3"]],
           "handlers": {}}
    for name in handlers:
        ms = median(samples[name]) / 1000
        out["handlers"][name] = {
            "median_ms": round(ms, 1), "samples_ms": [round(s / 1000, 1) for s in samples[name]],
            "ratio_to_boto3": round(ms * 1000 / base, 3), "exempt": name in EXEMPT,
            "heaviest_direct_imports_ms": {n: round(c / 1000, 1) for c, n in heaviest[name]},
        }
    return out


def python313() -> Path | None:
    """sam build needs the functions' runtime on PATH; pyenv's shim alone is not enough."""
    if shutil.which("pyenv"):
        done = subprocess.run(["pyenv", "which", "python3.13"], capture_output=True, text=True,
                              env={**os.environ, "PYENV_VERSION": "3.13.0"})
        if done.returncode == 0 and done.stdout.strip():
            return Path(done.stdout.strip())
    found = shutil.which("python3.13")
    return Path(found) if found else None


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def built_sizes(timeout: float) -> dict:
    if not SAM.exists():
        return {"error": ".venv-sam missing: run `make sam-tools`"}
    py = python313()
    if py is None:
        return {"error": "python3.13 not found (pyenv or PATH): sam build needs the functions' runtime"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env |= {"PATH": f"{py.parent}{os.pathsep}{env.get('PATH', '')}", "SAM_CLI_TELEMETRY": "0",
            "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    with tempfile.TemporaryDirectory(prefix="dagtrail-bench-sam-") as tmp:
        build = Path(tmp, "build")
        done = subprocess.run([str(SAM), "build", "--template-file", str(REPO / "template.yaml"), "--build-dir",
                               str(build)], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            return {"error": "sam build failed: " + (last_line(done.stderr) or last_line(done.stdout))}
        template = json.loads(subprocess.run(
            [sys.executable, "-c", "import json, sys, yaml\n"
             "class L(yaml.SafeLoader): pass\n"
             "L.add_multi_constructor('!', lambda l, s, n: None)\n"
             "print(json.dumps(yaml.load(open(sys.argv[1]), Loader=L)['Resources'], default=str))",
             str(build / "template.yaml")], capture_output=True, text=True, check=True).stdout)
        layers = {lid: _size(build / lid) for lid, r in template.items()
                  if r.get("Type") == "AWS::Serverless::LayerVersion" and (build / lid).is_dir()}
        functions = {lid: _size(build / lid) for lid, r in template.items()
                     if r.get("Type") == "AWS::Serverless::Function" and (build / lid).is_dir()}
    layer_bytes = sum(layers.values())  # every function uses the one dagtrail layer
    return {
        "layers_mb": {k: round(v / 1e6, 2) for k, v in layers.items()},
        "functions": {k: {"code_mb": round(v / 1e6, 3), "with_layers_mb": round((v + layer_bytes) / 1e6, 2),
                          "ratio_to_limit": round((v + layer_bytes) / 1e6 / LIMIT_MB, 3)}
                      for k, v in sorted(functions.items())},
        "limit_mb": LIMIT_MB,
    }


def figures(imports: dict, sizes: dict) -> list[dict]:
    out = []
    for name, h in imports["handlers"].items():
        out.append({
            "name": f"import {name}/app.py", "unit": "ms", "value": h["median_ms"],
            "baseline_name": "import boto3", "baseline_value": imports["boto3_ms"], "ratio": h["ratio_to_boto3"],
            "target": None if h["exempt"] else {"max": RATIO_MAX},
            "pass": None if h["exempt"] else h["ratio_to_boto3"] <= RATIO_MAX,
            "what": "exempt: loads gremlinpython to write the graph" if h["exempt"] else "median import time",
        })
    if "error" in sizes:
        out.append({"name": "built function + layer size", "error": sizes["error"], "target": {"max": 1.0},
                    "pass": None, "ratio": None})
    else:
        for name, f in sizes["functions"].items():
            out.append({
                "name": f"{name} + layer, unzipped", "unit": "MB", "value": f["with_layers_mb"],
                "baseline_name": "Lambda limit", "baseline_value": LIMIT_MB, "ratio": f["ratio_to_limit"],
                "target": {"max": 1.0}, "pass": f["ratio_to_limit"] <= 1.0, "what": f"code {f['code_mb']} MB",
            })
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="job_events only, 1 run, no warm-up, no sam build")
    parser.add_argument("--handler", action="append", default=[], help="only these (repeatable)")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--build-timeout", type=float, default=600)
    parser.add_argument("--out", type=Path, default=RESULTS / "cold_start.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.no_build, args.handler = 1, True, args.handler or ["job_events"]
    result = {"machine": machine(), "repeat": args.repeat}
    result["imports"] = import_times(args.repeat, args.handler, warm=not args.quick)
    result["sizes"] = {"error": "skipped (--quick or --no-build)"} if args.no_build else built_sizes(args.build_timeout)
    result["figures"] = figures(result["imports"], result["sizes"])
    write_result(args.out, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
