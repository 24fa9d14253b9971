"""A 1,000-item local sweep of trivial commands: `dagtrail run` against Metaflow's local foreach.

Same shape on both sides: start → a foreach over N items → join → end, every task the
command `true`, both at the same parallelism (the cores). The shapes and runners are
bench/local_overhead.py's fan-out (its 100 items, here N). Back to back in one run;
wall time and peak memory of each whole process tree (summed RSS sampled every 0.1 s);
ratio dagtrail ÷ Metaflow. Each side also says how many items ran: dagtrail's `--json`
summary and Metaflow's one `work` task per item in its local datastore.

    .venv/bin/python bench/sweep_local.py                      # 1,000 items: 5-10 minutes on 2 cores
    .venv/bin/python bench/sweep_local.py --items 20 --out /tmp/sweep_local.json
Writes bench/results/sweep_local.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import RESULTS, machine, run_tree, write_result  # noqa: E402
from local_overhead import (  # noqa: E402
    _clean_env,
    _outcome,
    dagtrail_argv,
    dagtrail_sweep_spec,
    figure,
    metaflow_fanout_flow,
    run_metaflow,
)

ITEMS = 1000


def metaflow_flow(items: int) -> str:
    """local_overhead's fan-out flow, allowed `items` splits: `run` refuses more than 100 by
    default (--max-num-splits), and local_overhead's runner has no way to pass the option."""
    main = "    FanoutFlow()\n"
    source = metaflow_fanout_flow(items)
    assert source.count(main) == 1
    # Click reads `run`'s options from METAFLOW_RUN_*; the per-task `step` commands ignore it.
    return source.replace(main, f"    import os\n    os.environ['METAFLOW_RUN_MAX_NUM_SPLITS'] = '{items}'\n{main}")


def metaflow_items(tmp: Path) -> int:
    """`work` tasks Metaflow's local datastore holds: one per foreach item that ran."""
    steps = list((tmp / "mf-sweep").glob(".metaflow/FanoutFlow/*/work"))
    return sum(1 for s in steps for t in s.iterdir() if t.is_dir() and t.name.isdigit())  # not _meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=ITEMS)
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per side")
    parser.add_argument("--no-metaflow", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "sweep_local.json")
    args = parser.parse_args(argv)
    result: dict = {"items": args.items, "parallel": args.parallel, "command": "true",
                    "machine_start": machine()}
    with tempfile.TemporaryDirectory(prefix="sweep-local-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"dagtrail: {args.items}-item sweep ...", file=sys.stderr, flush=True)
        ours = run_dagtrail_sweep(args.items, tmp, args.parallel, args.timeout)
        theirs = None
        if not args.no_metaflow:
            print(f"metaflow: {args.items}-item foreach ...", file=sys.stderr, flush=True)
            theirs = run_metaflow(metaflow_flow(args.items), "sweep", tmp, args.parallel, args.timeout)
            theirs["items_succeeded"] = metaflow_items(tmp)
            if theirs["ok"] and theirs["items_succeeded"] != args.items:
                theirs |= {"ok": False, "error": f"{theirs['items_succeeded']} of {args.items} work tasks ran"}
    result |= {"dagtrail": ours, "metaflow": theirs, "machine_end": machine()}
    result["figures"] = figures(result)
    write_result(args.out, result)
    for f in result["figures"]:
        print(f"{f['name']}: dagtrail {f['value']} s, Metaflow {f['baseline_value']} s, ratio {f['ratio']}; "
              f"memory {f['memory_mb']} MB vs {f['baseline_memory_mb']} MB{'  (' + f['error'] + ')' if f.get('error') else ''}")
    return 0 if ours.get("ok") and (theirs is None or theirs.get("ok")) else 1


def run_dagtrail_sweep(items: int, tmp: Path, parallel: int, timeout: float) -> dict:
    """local_overhead's run_dagtrail, also reading the sweep's item counts from `--json`."""
    import yaml

    spec = dagtrail_sweep_spec(items)
    path = tmp / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    run = run_tree(dagtrail_argv(path, tmp / "wd-dagtrail", parallel), env=_clean_env(), cwd=tmp, timeout=timeout)
    counts = None
    try:
        summary = json.loads(run["stdout"])
        counts = next(t["items"] for t in summary["tasks"] if t["name"] == "items")
        ok = run["returncode"] == 0 and summary["status"] == "SUCCEEDED" and counts["succeeded"] == items
    except (ValueError, KeyError, TypeError, StopIteration):
        ok = False
    return _outcome(run, ok=ok) | {"items_succeeded": (counts or {}).get("succeeded")}


def figures(r: dict) -> list[dict]:
    """local_overhead's figure (wall time, memory alongside), without its issue-9 target."""
    ours, theirs = r["dagtrail"], r["metaflow"]
    what = (f"{r['items']:,} items of `true`, start → foreach → join → end, {r['parallel']} at once; "
            f"load {r['machine_start']['load_average'][0]} → {r['machine_end']['load_average'][0]}")
    fig = figure(f"{r['items']:,}-item local sweep, wall time", ours, theirs, what, target=None)
    if theirs is None:
        fig["error"] = "Metaflow not run (--no-metaflow)"
    if fig.get("memory_ratio") is not None:
        fig["what"] += f"; peak memory {fig['memory_mb']} MB vs {fig['baseline_memory_mb']} MB ({fig['memory_ratio']}×)"
    return [fig]


if __name__ == "__main__":
    sys.exit(main())
