"""Local orchestration overhead: `dagtrail run` against Metaflow's local runtime, same machine, same run.

Shapes, every task the trivial command `true`, both tools at the same parallelism (cores):
- fan-out/fan-in: start → 100 items → join → end. dagtrail: a `foreach` sweep; Metaflow: a
  `foreach` step. Optionally dagtrail with the 100 items as 100 separate tasks (compared with
  the same Metaflow foreach).
- chain: 10 tasks in a row (Metaflow: start, 8 steps, end).
dagtrail runs each shape twice a round: served by the warm server (the default; the figure
with the target: the server's process tree is sampled with the client's, and the run's CPU is
read from the server's log) and in a process of its own (DAGTRAIL_SERVER=off, as a run takes
when no server is up; reported without a target).
After an untimed warm-up run of each tool (the warm server started, bytecode written, files
cached; dagtrail keeps its parse of the chain's state machine in the user's cache, as any
earlier run of a workflow does: moto_patches.cached_parses), each shape runs
`--repeat` times on each side (default 3), the tools alternating within a round; the figure
is the ratio of the medians, with each round's own ratio beside it (one round's ratio moved
by a third between runs on this shared machine). Wall time and peak memory of the whole
process tree on both sides (every descendant,
sampled from /proc every 0.05 s): summed PSS, which splits a shared page between the
processes that map it, so Metaflow's many interpreters and dagtrail's one process are
counted alike (summed RSS too, which counts a shared page once per process). Ratio
dagtrail / Metaflow (target: wall time ≤ 0.3×). Metaflow runs from .venv-bench
(`make bench` installs it there). Where the target is missed, `dagtrail run` of the chain is
profiled with py-spy (samples of every active thread) on a 20-item fan-out, and the top
findings go in the result. `--tasks-variant` adds the fan-out as separate tasks.

    .venv/bin/python bench/local_overhead.py            # full, 3 rounds: about 3 minutes on 2 cores
    .venv/bin/python bench/local_overhead.py --quick    # small shapes, no Metaflow
Writes bench/results/local_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import REPO, RESULTS, last_line, machine, run_tree, write_result  # noqa: E402

TARGET_MAX = 0.3
SAMPLE_SECONDS = 0.05  # Metaflow's task processes live about half a second each
PROFILE_ITEMS = 20
BENCH_VENV = REPO / ".venv-bench" / "bin"
IMAGE = "python:3.11-slim"  # unused with --docker never; the spec requires one

FLOW_HEADER = '''import subprocess
from metaflow import FlowSpec, step


class {name}(FlowSpec):
'''
STEP = '''
    @step
    def {name}(self{args}):
        subprocess.run(["true"], check=True)
{body}        self.next({next})
'''
END = '''
    @step
    def end(self):
        subprocess.run(["true"], check=True)


if __name__ == "__main__":
    {name}()
'''


def dagtrail_sweep_spec(items: int) -> dict:
    task = {"image": IMAGE, "command": ["true"]}
    return {"name": "bench-fanout", "tasks": {
        "start": task,
        "items": task | {"depends_on": ["start"], "foreach": {"range": {"start": 0, "stop": items}}},
        "join": task | {"depends_on": ["items"]},
        "end": task | {"depends_on": ["join"]},
    }}


def dagtrail_tasks_spec(items: int) -> dict:
    task = {"image": IMAGE, "command": ["true"]}
    names = [f"item-{i:03d}" for i in range(items)]
    tasks = {"start": task} | {n: task | {"depends_on": ["start"]} for n in names}
    tasks |= {"join": task | {"depends_on": names}, "end": task | {"depends_on": ["join"]}}
    return {"name": "bench-fanout-tasks", "tasks": tasks}


def dagtrail_chain_spec(stages: int) -> dict:
    tasks = {}
    for i in range(stages):
        tasks[f"s{i}"] = {"image": IMAGE, "command": ["true"]} | ({"depends_on": [f"s{i - 1}"]} if i else {})
    return {"name": "bench-chain", "tasks": tasks}


def metaflow_fanout_flow(items: int) -> str:
    src = FLOW_HEADER.format(name="FanoutFlow")
    src += STEP.format(name="start", args="", body=f"        self.items = list(range({items}))\n",
                       next='self.work, foreach="items"')
    src += STEP.format(name="work", args="", body="", next="self.join")
    src += STEP.format(name="join", args=", inputs", body="", next="self.end")
    return src + END.format(name="FanoutFlow")


def metaflow_chain_flow(stages: int) -> str:
    names = ["start"] + [f"s{i}" for i in range(1, stages - 1)] + ["end"]
    src = FLOW_HEADER.format(name="ChainFlow")
    for here, after in zip(names[:-1], names[1:]):
        src += STEP.format(name=here, args="", body="", next=f"self.{after}")
    return src + END.format(name="ChainFlow")


def _clean_env() -> dict:
    # Both tools as installed and used: Python keeps the bytecode it compiles. A caller's
    # PYTHONDONTWRITEBYTECODE (set on the machines these ran on) made every `dagtrail run`
    # compile dagtrail's editable sources again, while Metaflow's pip-installed ones were compiled.
    # DAGTRAIL_CACHE_DIR says where, not how: the test suite keeps its runs' parses apart with it.
    env = {k: v for k, v in os.environ.items()
           if k == "DAGTRAIL_CACHE_DIR"
           or not (k.startswith(("AWS_", "DAGTRAIL_", "METAFLOW_")) or k == "PYTHONDONTWRITEBYTECODE")}
    # Local mode sets its own; these only make sure nothing could ever reach a real account.
    # Each run in a process of its own unless a bench serves it (run_dagtrail): a served run is
    # not in the process tree run_tree measures, and its server would outlive the bench.
    return env | {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                  "DAGTRAIL_SERVER": "off"}


def dagtrail_argv(spec: Path, workdir: Path, parallel: int) -> list[str]:
    exe = Path(sys.executable).with_name("dagtrail")
    return [str(exe), "run", str(spec), "--docker", "never", "--json", "--workdir", str(workdir),
            "--max-parallel", str(parallel)]


def run_dagtrail(spec: dict, tmp: Path, parallel: int, timeout: float, server_dir: Path, served: bool = True) -> dict:
    """Served (the default: forked from the warm server, whose memory and the run's CPU are
    counted) or, with DAGTRAIL_SERVER=off, in a process of its own, as every first run is."""
    import yaml

    path = tmp / f"{spec['name']}{'' if served else '-own'}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    env = _clean_env() | {"DAGTRAIL_SERVER_DIR": str(server_dir), "DAGTRAIL_SERVER": "on" if served else "off"}
    logged = _server_log(server_dir)
    from dagtrail.local.warm_client import server_pids

    server = (lambda: server_pids(str(server_dir))) if served else None
    run = run_tree(dagtrail_argv(path, tmp / f"wd-{path.stem}", parallel), env=env, cwd=tmp,
                   timeout=timeout, interval=SAMPLE_SECONDS, also=server)
    if served:  # the run's process was the server's child, not the client's
        run["cpu_seconds"] = round(run["cpu_seconds"] + sum(
            float(m) for m in re.findall(r"ended: exit \d+, cpu ([\d.]+) s", _server_log(server_dir)[len(logged):])), 2)
    status = None
    try:
        status = json.loads(run["stdout"])["status"]
    except (ValueError, KeyError, TypeError):
        pass
    return _outcome(run, ok=run["returncode"] == 0 and status == "SUCCEEDED")


def _server_log(server_dir: Path) -> str:
    return "".join(p.read_text() for p in sorted(server_dir.glob("*.log")))


def run_metaflow(source: str, name: str, tmp: Path, parallel: int, timeout: float) -> dict:
    python = BENCH_VENV / "python"
    if not python.exists():
        return {"ok": False, "error": "Metaflow not installed: .venv-bench missing (run `make bench`)"}
    flow_dir = tmp / f"mf-{name}"
    flow_dir.mkdir()
    (flow_dir / "flow.py").write_text(source)
    env = _clean_env() | {
        "USERNAME": "bench", "METAFLOW_HOME": str(flow_dir / "home"),
        "METAFLOW_DEFAULT_DATASTORE": "local", "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(flow_dir),
    }
    argv = [str(python), "flow.py", "--no-pylint", "run", "--max-workers", str(parallel)]
    return _outcome(run_tree(argv, env=env, cwd=flow_dir, timeout=timeout, interval=SAMPLE_SECONDS), ok=None)


def _outcome(run: dict, ok: bool | None) -> dict:
    ok = run["returncode"] == 0 if ok is None else ok
    out = {"ok": ok, "seconds": round(run["seconds"], 2), "cpu_seconds": run["cpu_seconds"],
           "peak_tree_rss_mb": run["peak_tree_rss_mb"], "peak_tree_pss_mb": run["peak_tree_pss_mb"]}
    if not ok:
        out["error"] = last_line(run["stderr"]) or last_line(run["stdout"]) or f"exit {run['returncode']}"
    return out


def median_run(samples: list[dict]) -> dict:
    """The run with the median wall time (the lower middle one of an even count), with every
    sample's wall time; not ok if any sample failed."""
    failed = [r for r in samples if not r.get("ok")]
    if failed:
        return failed[0] | {"samples_s": [r.get("seconds") for r in samples]}
    ordered = sorted(samples, key=lambda r: r["seconds"])
    return ordered[(len(ordered) - 1) // 2] | {"samples_s": [r["seconds"] for r in samples]}


def figure(name: str, ours: dict, theirs: dict | None, what: str, target: float | None = TARGET_MAX) -> dict:
    rounds = len(ours.get("samples_s") or [None])
    if theirs and theirs.get("ok") and ours.get("ok") and rounds > 1:
        each = [round(a / b, 3) for a, b in zip(ours["samples_s"], theirs["samples_s"], strict=True)]
        what += f"; median of {rounds} rounds, round ratios {min(each)}–{max(each)}"
    fig = {"name": name, "unit": "s", "target": {"max": target} if target else None, "baseline_name": "Metaflow local",
           "value": ours.get("seconds"), "baseline_value": theirs.get("seconds") if theirs else None,
           "ratio": None, "pass": None, "what": what,
           "memory_mb": ours.get("peak_tree_pss_mb"), "memory_what": "peak summed PSS of the process tree",
           "baseline_memory_mb": theirs.get("peak_tree_pss_mb") if theirs else None, "memory_ratio": None,
           "rss_mb": ours.get("peak_tree_rss_mb"),
           "baseline_rss_mb": theirs.get("peak_tree_rss_mb") if theirs else None}
    if not ours.get("ok"):
        fig["error"] = "dagtrail: " + ours.get("error", "failed")
    elif theirs is None:
        fig["error"] = "Metaflow not run (--quick or --no-metaflow)"
    elif not theirs.get("ok"):
        fig["error"] = "Metaflow: " + theirs.get("error", "failed")
    else:
        fig["ratio"] = round(ours["seconds"] / theirs["seconds"], 3)
        fig["pass"] = fig["ratio"] <= target if target else None
        if ours["peak_tree_pss_mb"] and theirs["peak_tree_pss_mb"]:
            fig["memory_ratio"] = round(ours["peak_tree_pss_mb"] / theirs["peak_tree_pss_mb"], 3)
    return fig


def memory_figure(wall: dict) -> dict | None:
    """Peak memory beside a wall-time figure: the issue asks for both as ratios (no target)."""
    if wall.get("memory_mb") is None or wall.get("baseline_memory_mb") is None:
        return None
    return {"name": f"peak memory, {wall['name']}", "unit": "MB", "value": wall["memory_mb"],
            "baseline_name": "Metaflow local", "baseline_value": wall["baseline_memory_mb"],
            "ratio": wall["memory_ratio"], "target": None, "pass": None,
            "what": f"peak summed PSS of the process tree, dagtrail / Metaflow (summed RSS: "
                    f"{wall['rss_mb']} MB / {wall['baseline_rss_mb']} MB)"}


def profile_run(spec: dict, tmp: Path, parallel: int, timeout: float) -> dict:
    """Where `dagtrail run` spends its CPU: py-spy samples of every thread, summarised."""
    pyspy = BENCH_VENV / "py-spy"
    if not pyspy.exists():
        return {"error": "py-spy not installed in .venv-bench"}
    import yaml

    path = tmp / "profile.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    raw = tmp / "profile.raw"
    argv = [str(pyspy), "record", "--format", "raw", "--rate", "100", "--nonblocking", "-o", str(raw), "--",
            *dagtrail_argv(path, tmp / "wd-profile", parallel)]
    proc = subprocess.run(argv, env=_clean_env(), cwd=tmp, capture_output=True, timeout=timeout)
    if not raw.exists():
        return {"error": "py-spy failed: " + last_line(proc.stderr.decode(errors="replace"))}
    return summarise_profile(raw.read_text())


# A sample belongs to the first category with a marker in its stack.
CATEGORIES = [
    ("importing modules", ("_find_and_load",)),
    ("botocore loading service models", ("botocore/loaders.py",)),
    ("lineage_writer handler into gremlite (lineage.db)", ("lineage/writer.py", "gremlite/")),
    ("other handlers (job_events, submit_task, ...) in-process", ("HandlerRegistry.invoke",)),
    ("moto: Step Functions interpreter threads", ("moto/stepfunctions/parser",)),
    ("task threads: spawn, wait, manifests, events", ("local/processes.py", "local/sweep_runner.py")),
    ("engine loop: polling, routing, progress", ("local/engine.py",)),
    ("moto: other emulated calls", ("moto/",)),
    ("botocore request path", ("botocore/",)),
]


def summarise_profile(raw: str) -> dict:
    total = 0
    by_category: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        if not stack.strip():
            by_category["native code, no Python frame (forks, sqlite, C extensions)"] += n
            continue
        by_category[next((name for name, markers in CATEGORIES if any(m in stack for m in markers)), "other")] += n
        # Per function (not per line), counted once per sample however deep it recurses.
        for frame in {re.sub(r":\d+\)$", ")", f) for f in stack.split(";")}:
            if "dagtrail/" in frame and "cli/main.py" not in frame and "run_cmd.py" not in frame:
                inclusive[frame] += n
    share = lambda n: round(100 * n / total, 1) if total else 0.0  # noqa: E731
    return {
        "cpu_samples": total, "rate_hz": 100,
        "categories_percent": {name: share(n) for name, n in by_category.most_common()},
        "top_dagtrail_functions_percent": {frame: share(n) for frame, n in inclusive.most_common(10)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--stages", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="2 items, 2 stages, no Metaflow, no profile")
    parser.add_argument("--no-metaflow", action="store_true")
    parser.add_argument("--tasks-variant", action="store_true",
                        help="also the fan-out as separate tasks (about 3 more minutes)")
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the figure is the ratio of medians")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per run")
    parser.add_argument("--out", type=Path, default=RESULTS / "local_overhead.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.stages, args.no_metaflow, args.tasks_variant, args.repeat = 2, 2, True, False, 1

    result: dict = {"machine": machine(), "items": args.items, "stages": args.stages, "parallel": args.parallel,
                    "repeat": args.repeat, "runs": {}}
    samples: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="dagtrail-bench-local-") as name:
        server_dir = Path(name) / "srv"
        server_dir.mkdir(mode=0o700)
        try:
            figures = result["figures"] = _measure(args, Path(name), server_dir, samples, result)
        finally:
            from dagtrail.local.warm_client import stop_servers

            stop_servers(str(server_dir))
        if not args.quick and any(f["pass"] is False or f.get("error") for f in figures):
            result["profile"] = profile_run(dagtrail_sweep_spec(PROFILE_ITEMS), Path(name), args.parallel, args.timeout)
            result["profile"]["what"] = f"dagtrail run of the fan-out at {PROFILE_ITEMS} items, under py-spy"
    write_result(args.out, result)
    print(json.dumps(result, indent=2))
    return 0


def _measure(args: argparse.Namespace, root: Path, server_dir: Path, samples: dict, result: dict) -> list[dict]:
    def ours(key: str, spec: dict, tmp: Path) -> None:
        samples.setdefault(key, []).append(run_dagtrail(spec, tmp, args.parallel, args.timeout, server_dir))
        samples.setdefault(f"{key}_own_process", []).append(
            run_dagtrail(spec, tmp, args.parallel, args.timeout, server_dir, served=False))

    warm = root / "warm-up"  # untimed: bytecode written, files in the page cache, the server started
    warm.mkdir()
    run_dagtrail(dagtrail_chain_spec(args.stages), warm, args.parallel, args.timeout, server_dir)
    run_dagtrail(dagtrail_chain_spec(args.stages), warm, args.parallel, args.timeout, server_dir, served=False)
    if not args.no_metaflow:
        run_metaflow(metaflow_chain_flow(args.stages), "chain", warm, args.parallel, args.timeout)
    for n in range(args.repeat):
        tmp = root / f"round-{n}"
        tmp.mkdir()
        # Alternate the tools so a change in machine load falls on both.
        ours("dagtrail_chain", dagtrail_chain_spec(args.stages), tmp)
        if not args.no_metaflow:
            samples.setdefault("metaflow_chain", []).append(
                run_metaflow(metaflow_chain_flow(args.stages), "chain", tmp, args.parallel, args.timeout))
            samples.setdefault("metaflow_fanout", []).append(
                run_metaflow(metaflow_fanout_flow(args.items), "fanout", tmp, args.parallel, args.timeout))
        ours("dagtrail_fanout", dagtrail_sweep_spec(args.items), tmp)
        if args.tasks_variant:
            samples.setdefault("dagtrail_fanout_tasks", []).append(
                run_dagtrail(dagtrail_tasks_spec(args.items), tmp, args.parallel, args.timeout, server_dir))
    runs = result["runs"] = {key: median_run(value) for key, value in samples.items()}
    own = "in a process of its own (DAGTRAIL_SERVER=off: what every first run after an install or upgrade takes)"
    figures = [
        figure(f"fan-out/fan-in, {args.items} items (foreach)", runs["dagtrail_fanout"],
               runs.get("metaflow_fanout"), "wall time, dagtrail sweep (served by the warm server) / Metaflow foreach"),
        figure(f"{args.stages}-stage chain", runs["dagtrail_chain"], runs.get("metaflow_chain"),
               "wall time, dagtrail (served by the warm server) / Metaflow"),
        figure(f"fan-out/fan-in, {args.items} items, {own}", runs["dagtrail_fanout_own_process"],
               runs.get("metaflow_fanout"), "wall time, dagtrail sweep / Metaflow foreach", target=None),
        figure(f"{args.stages}-stage chain, {own}", runs["dagtrail_chain_own_process"], runs.get("metaflow_chain"),
               "wall time, dagtrail / Metaflow", target=None),
    ]
    if "dagtrail_fanout_tasks" in runs:
        figures.insert(1, figure(f"fan-out/fan-in, {args.items} separate tasks", runs["dagtrail_fanout_tasks"],
                                 runs.get("metaflow_fanout"), "wall time, dagtrail 100 tasks / Metaflow foreach"))
    return figures + [m for m in map(memory_figure, figures) if m]


if __name__ == "__main__":
    raise SystemExit(main())
