"""`make bench`: run every bench script, collect their results, write BENCHMARKS.md and all.json.

Each script runs in its own subprocess with a time budget (and the whole under --budget-minutes),
and writes bench/results/<name>.json. A script that is missing is reported "not yet
available"; one that fails or runs out of time is reported with its last error line; a result
file older than this run is never used. Scripts in bench/ that this file does not list run too,
with a default budget.

A script's figures are read from its JSON's `figures` list when it has one:
    {"name", "value", "unit", "baseline_name", "baseline_value", "ratio",
     "target": {"max": x} | {"min": x} | null, "pass": true | false | null, "what", "error"?}
otherwise through an adapter below, or as its top-level `*ratio*` numbers and `meets_targets`.

    .venv/bin/python bench/run_all.py              # everything: BENCHMARKS.md, bench/results/all.json
    .venv/bin/python bench/run_all.py --quick --results-dir /tmp/r --report /tmp/r/BENCHMARKS.md
    .venv/bin/python bench/run_all.py --only cold_start --only handler_throughput
--quick runs small sizes (no Metaflow, no sam build), and only scripts that accept --out, so
it never touches bench/results/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import REPO, RESULTS, last_line, machine  # noqa: E402

BENCH = REPO / "bench"
NOT_BENCHES = {"run_all.py", "plots.py", "first_invocation.py"}  # the last: cold_start runs it
DEFAULT_BUDGET = 300
RESERVE_SECONDS = 30  # for plots and the report once the scripts are done


@dataclass
class Bench:
    name: str
    title: str
    issue: int
    budget: int  # seconds
    quick: list[str] | None = None  # arguments in --quick mode; None: skipped there
    args: list[str] = field(default_factory=list)
    about: str = ""


BENCHES = [
    Bench("local_overhead", "Local orchestration overhead vs Metaflow", 9, 720, ["--quick"],
          about="`dagtrail run` against Metaflow's local runtime (`python flow.py run`), same shapes, "
                "same parallelism (cores), every task the command `true`. Peak memory: summed PSS of the "
                "whole process tree on both sides, sampled every 0.05 s (summed RSS in the runs table)."),
    Bench("sweep_cost", "Step Functions cost per sweep item", 5, 600, None,
          about="State transitions and history events per execution for sweeps of 100 / 10,000 / "
                "1,000,000 items, next to the machine Metaflow compiles for the same foreach "
                "(`step-functions create --only-json` against a moto server); checked against moto's "
                "execution history of local runs at 10, 100, 200 items and a scaled-down Distributed Map."),
    Bench("task_cost", "Step Functions cost per task: a chain, a diamond, a poll loop", 9, 300, ["--no-metaflow"],
          about="State transitions (what Standard workflows bill: $0.025 per 1,000) and history events "
                "per task of one successful run, counted from each machine's structure the same way on "
                "every side: dagtrail's compiled 10-task chain and 5-task diamond (both also run on moto, "
                "whose execution history must agree), the same flows compiled by Metaflow "
                "(`step-functions create --only-json`: a Batch `.sync` task per step), and a "
                "submit-wait-poll loop (SubmitJob, then Wait 30 s → DescribeJobs → Choice) running a "
                "1-hour job. dagtrail's 3 transitions per run beyond one per task are its parameter "
                "states (a Choice and two Pass states that merge the defaults)."),
    Bench("cold_start", "Cold start: handler imports and built sizes", 9, 900, ["--quick"],
          about="Import time of each functions/*/app.py in a fresh interpreter (`-X importtime`, "
                "tracing off) as a ratio to `import boto3` measured the same way (interleaved rounds; "
                "the median of the rounds' ratios), on Python 3.13 "
                "with the layer's requirements alone (.venv-layer, 31 rounds) and, for comparison, .venv's 3.11 (11 rounds), "
                "as Lambda loads them: dagtrail from unchecked-hash bytecode (as the layer ships it), "
                "app.py from source, template.yaml's Globals environment; a floor row (boto3 + pydantic with one model + Powertools); "
                "import + first invocation of each handler on moto (a sample from events/) against "
                "`import boto3` + the clients that call used, so that work moved out of import shows; "
                "`sam build` sizes (function + layer, unzipped) against Lambda's 250 MB limit."),
    Bench("handler_throughput", "Handler throughput: job_events", 9, 900, ["--events", "40"],
          about="job_events over a stream of 10,000 Batch state change events against moto "
                "in-process (as local mode patches it), next to plain moto UpdateItem calls in the "
                "same run."),
    Bench("lineage_writer", "Lineage writes: batched vs one request per record", 4, 420,
          ["--records", "200", "--chain", "20"]),
    Bench("wrapper_stream", "Results streaming: task wrapper vs upload_file", 6, 420, ["--size-mib", "16"]),
    # The full soak (200 back to back, 20 at once) takes far longer than make bench's budget.
    Bench("soak", "Soak: small local workflows back to back and at once", 7, 300, None, ["--quick"],
          about="The --quick soak (10 back to back, 3 at once); the full one is "
                "`.venv/bin/python bench/soak.py` (200 and 20)."),
    # Last: 1,000 items take 10-30 minutes here (Metaflow's side most of it), past make bench's budget.
    Bench("sweep_local", "Local sweep vs Metaflow's local foreach", 5, 600, None, ["--items", "200"],
          about="`dagtrail run` of start → 200 items of `true` → join → end against the same Metaflow "
                "foreach (`python flow.py run`), back to back, same parallelism (cores). The issue's "
                "1,000 items: `.venv/bin/python bench/sweep_local.py` (figures in bench/notes.md)."),
]


def discover() -> list[Bench]:
    """The listed benches, then any other bench/*.py (a soak, a new figure) with a default budget."""
    known = {b.name for b in BENCHES}
    extra = [Bench(p.stem, p.stem.replace("_", " ").capitalize(), 0, DEFAULT_BUDGET)
             for p in sorted(BENCH.glob("*.py"))
             if p.name not in NOT_BENCHES and not p.name.startswith("_") and p.stem not in known]
    return BENCHES + extra


def accepts_out(script: Path) -> bool:
    return '"--out"' in script.read_text()


def run_bench(bench: Bench, results_dir: Path, quick: bool, deadline: float) -> dict:
    script = BENCH / f"{bench.name}.py"
    command = [".venv/bin/python", f"bench/{bench.name}.py", *bench.args]
    entry: dict = {"title": bench.title, "issue": bench.issue, "command": " ".join(command)}
    if not script.exists():
        return entry | {"status": "not yet available", "detail": f"bench/{bench.name}.py does not exist yet"}
    args = list(bench.args)
    out = results_dir / f"{bench.name}.json"
    if quick:
        if bench.quick is None or not accepts_out(script):
            return entry | {"status": "skipped", "detail": "not run in --quick mode"}
        args = list(bench.quick)
    if accepts_out(script):
        args += ["--out", str(out)]
    budget = min(bench.budget, deadline - time.monotonic() - RESERVE_SECONDS)
    if budget < 10:
        return entry | {"status": "skipped", "detail": "no time left in the overall budget"}
    log = results_dir / f"{bench.name}.log"
    started_wall, started = time.time(), time.monotonic()
    print(f"bench: {bench.name} (budget {budget:.0f} s) ...", file=sys.stderr, flush=True)
    try:
        with log.open("w") as fh:
            done = subprocess.run([sys.executable, str(script), *args], cwd=REPO, stdout=fh,
                                  stderr=subprocess.STDOUT, timeout=budget)
        code = done.returncode
    except subprocess.TimeoutExpired:
        code = None
    entry["seconds"] = round(time.monotonic() - started, 1)
    print(f"bench: {bench.name} done in {entry['seconds']} s", file=sys.stderr, flush=True)
    if code is None:
        return entry | {"status": "timed out", "detail": f"over its budget of {budget:.0f} s"}
    if code != 0:
        return entry | {"status": "failed", "detail": f"exit {code}: {last_line(log.read_text(errors='replace'))}"}
    default = RESULTS / f"{bench.name}.json"
    if not out.exists() and default.exists() and default.stat().st_mtime >= started_wall - 1:
        if default.resolve() != out.resolve():
            shutil.copy(default, out)
    if not out.exists() or out.stat().st_mtime < started_wall - 1:
        return entry | {"status": "failed", "detail": f"wrote no bench/results/{bench.name}.json"}
    result = json.loads(out.read_text())
    return entry | {"status": "ok", "result": result, "figures": figures_of(bench.name, result)}


# -- figures from each script's JSON ----------------------------------------------------------

def figures_of(name: str, result: dict) -> list[dict]:
    if isinstance(result.get("figures"), list):
        return result["figures"]
    adapter = ADAPTERS.get(name)
    if adapter:
        try:
            return adapter(result)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            pass  # the script's format moved on: fall back to what can be read generically
    return generic_figures(result)


def _fig(name: str, value, unit: str, baseline_name: str, baseline_value, ratio, target, passed, what="") -> dict:
    return {"name": name, "value": value, "unit": unit, "baseline_name": baseline_name,
            "baseline_value": baseline_value, "ratio": ratio, "target": target, "pass": passed, "what": what}


def wrapper_stream_figures(r: dict) -> list[dict]:
    t = r["targets"]
    return [
        _fig(f"throughput, {r['size_mib']} MiB output", r["wrapper"]["mib_per_s"], "MiB/s", "boto3 upload_file",
             r["upload_file"]["mib_per_s"], r["throughput_ratio"], {"min": t["throughput_ratio_min"]},
             r["meets_targets"]["throughput"], "same file, same moto S3 server, fastest of the runs"),
        _fig("wrapper peak RSS", r["wrapper_peak_rss_mb"], "MB", "RSS budget", t["wrapper_peak_rss_mb_max"],
             round(r["wrapper_peak_rss_mb"] / t["wrapper_peak_rss_mb_max"], 3), {"max": 1.0},
             r["meets_targets"]["rss"], "peak RSS ÷ the 100 MB budget"),
    ]


def sweep_cost_figures(r: dict) -> list[dict]:
    out = []
    sizes = sorted((k for k in r if k.isdigit()), key=int)  # other keys: moto runs, Metaflow's compile
    if not sizes:
        raise KeyError("no sweep sizes")
    for n in sizes:
        ours, theirs = r[n]["dagtrail"], r[n]["metaflow"]
        items = int(n)
        target = {"max": 0.01} if items == 10_000 else None
        out.append(_fig(
            f"transitions per item, N = {items:,} ({ours.get('mode', '?')})", ours["transitions_per_item"],
            "transitions/item", "Metaflow foreach", theirs["transitions_per_item"],
            round(ours["transitions_per_item"] / theirs["transitions_per_item"], 6),
            None, None, "ratio dagtrail ÷ Metaflow; target on the dagtrail value: ≤ 0.01 at N = 10,000"
            if target else "ratio dagtrail ÷ Metaflow"))
        if target:
            out[-1]["pass"] = ours["transitions_per_item"] <= 0.01
            out[-1]["target_on"] = "value"
            out[-1]["target"] = target
        largest = ours["largest_execution_history"]
        fig = _fig(f"largest execution history, N = {items:,}", largest, "events", "history limit", 25_000,
                   round(largest / 25_000, 4), {"max": 1.0} if items == 1_000_000 else None,
                   largest < 25_000 if items == 1_000_000 else None,
                   f"Metaflow: {theirs['largest_execution_history']:,} events")
        out.append(fig)
    return out


def lineage_writer_figures(r: dict) -> list[dict]:
    w, target = r["writer"], r["targets"]["round_trip_ratio_min"]
    rt, met = w["round_trips"], r["meets_targets"]

    def rates(run: dict) -> str:
        b, o = run["batched"], run["one_per_record"]
        return (f"{w['records']:,} records: batched {b['records_per_s']:,.0f} records/s ({b['requests']:,} requests, "
                f"{b['seconds']} s), one per record {o['records_per_s']:,.0f}/s ({o['requests']:,}, {o['seconds']} s)")

    out = [
        _fig("round trips, per-record ÷ batched (gremlite plan)", rt["ratio_gremlite"], "×",
             "one request per record", None, rt["ratio_gremlite"], {"min": target}, met["round_trips_gremlite"],
             f"{rt['one_per_record']:,} requests against {rt['batched_gremlite']:,}"),
        _fig("round trips, per-record ÷ batched (Neptune plan)", rt["ratio_neptune_plan"], "×",
             "one request per record", None, rt["ratio_neptune_plan"], {"min": target},
             met["round_trips_neptune_plan"], f"{rt['one_per_record']:,} requests against {rt['batched_neptune_plan']:,}"),
        _fig("throughput behind a per-request delay, batched ÷ per-record", w["delayed"]["throughput_ratio"], "×",
             "one request per record", None, w["delayed"]["throughput_ratio"], {"min": target},
             met["delayed_throughput"], f"{w['delay_ms']} ms per request; " + rates(w["delayed"])),
    ]
    if isinstance(w.get("undelayed"), dict) and "throughput_ratio" in w["undelayed"]:
        out.append(_fig("throughput undelayed, batched ÷ per-record", w["undelayed"]["throughput_ratio"], "×",
                        "one request per record", None, w["undelayed"]["throughput_ratio"], None, None,
                        "gremlite in-process: no round trip to save; " + rates(w["undelayed"])))
    up = r.get("upstream")
    if up:
        out.append(_fig(f"upstream query, {up['deep']['depth']}-deep chain", up["deep"]["seconds"], "s",
                        f"{up['shallow']['depth']}-deep chain", up["shallow"]["seconds"], up["time_ratio"], None, None,
                        f"depth ratio {up['depth_ratio']}"))
    return out


def generic_figures(r: dict) -> list[dict]:
    out = [_fig(k, v, "", "", None, v, None, None) for k, v in r.items()
           if "ratio" in k and isinstance(v, (int, float))]
    for k, v in (r.get("meets_targets") or {}).items():
        out.append(_fig(f"meets target: {k}", None, "", "", None, None, None, bool(v)))
    return out


def soak_figures(r: dict) -> list[dict]:
    lat, mem = r["handler_latency"]["all"], r["memory"]
    return [
        _fig("failed runs", r["failures"], "runs", "", None, None, {"max": 0}, r["failures"] == 0,
             f"{r['back_to_back']['seconds']} s back to back, {r['at_once']['seconds']} s at once")
        | {"target_on": "value"},
        _fig("handler latency p99", lat.get("p99_ms"), "ms", "p50", lat.get("p50_ms"),
             round(lat["p99_ms"] / lat["p50_ms"], 2) if lat.get("p50_ms") else None, None, None),
        _fig("memory growth over the back-to-back runs", mem["growth_kib"], "KiB", "", None, None, None, None),
    ]


ADAPTERS = {"soak": soak_figures, "wrapper_stream": wrapper_stream_figures, "sweep_cost": sweep_cost_figures,
            "lineage_writer": lineage_writer_figures}


# -- the report ----------------------------------------------------------------------------------

def _num(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 100):
        return f"{int(v):,}"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.1f}"
    return str(v)


def _target(t) -> str:
    if not t:
        return "—"
    return " ".join(f"{'≤' if k == 'max' else '≥'} {_num(v)}" for k, v in t.items())


def _verdict(f: dict) -> str:
    if f.get("error"):
        return f"not measured: {f['error']}"
    return {True: "**pass**", False: "**FAIL**", None: "—"}[f.get("pass")]


def figure_rows(figs: list[dict]) -> list[str]:
    rows = ["| Figure | dagtrail | Baseline | Ratio | Target | Result |", "|---|---|---|---|---|---|"]
    for f in figs:
        unit = f" {f['unit']}" if f.get("unit") and f.get("value") is not None else ""
        base = f.get("baseline_name") or ""
        if f.get("baseline_value") is not None:
            unit_b = f.get("baseline_unit", f.get("unit"))
            base += f": {_num(f['baseline_value'])}{' ' + unit_b if unit_b else ''}"
        target = _target(f.get("target"))
        if f.get("target_on") == "value" and target != "—":
            target += " (value)"
        what = f" <br><sub>{f['what']}</sub>" if f.get("what") else ""
        rows.append(f"| {f['name']}{what} | {_num(f.get('value'))}{unit} | {base or '—'} | "
                    f"{_num(f.get('ratio'))} | {target} | {_verdict(f)} |")
    return rows


def profile_notes(entry: dict) -> list[str]:
    prof = (entry.get("result") or {}).get("profile")
    if not prof or "error" in prof:
        return [f"Profile: {prof['error']}"] if prof else []
    lines = [f"Where `dagtrail run` spends its time ({prof.get('what', 'py-spy')}; "
             f"{prof['cpu_samples']:,} samples of active threads at {prof['rate_hz']} Hz):", "",
             "| Share of samples | Where |", "|---|---|"]
    lines += [f"| {v} % | {k} |" for k, v in prof["categories_percent"].items()]
    lines += ["", "| Share of samples (inclusive) | dagtrail function |", "|---|---|"]
    lines += [f"| {v} % | `{k}` |" for k, v in prof["top_dagtrail_functions_percent"].items()]
    return lines


def runs_table(entry: dict) -> list[str]:
    runs = (entry.get("result") or {}).get("runs")
    if not runs:
        return []
    lines = ["| Run | ok | wall s | CPU s (all processes) | peak tree RSS MB | peak tree PSS MB |",
             "|---|---|---|---|---|---|"]
    for name, r in runs.items():
        lines.append(f"| {name} | {r.get('ok')} | {_num(r.get('seconds'))} | {_num(r.get('cpu_seconds'))} | "
                     f"{_num(r.get('peak_tree_rss_mb'))} | {_num(r.get('peak_tree_pss_mb'))} |")
    return lines


def render(report: dict, plots: dict[str, str], notes: str) -> str:
    m0, m1 = report["machine_start"], report["machine_end"]
    out = [
        "# dagtrail benchmarks", "",
        f"Written by `make bench` (bench/run_all.py{' --quick' if report['quick'] else ''}) on "
        f"{report['started_at'][:16].replace('T', ' ')} UTC, in {report['total_seconds'] / 60:.1f} minutes. "
        "Every figure is a ratio of two measurements taken in this one run on this one machine; raw "
        "numbers are in bench/results/all.json.", "",
        f"**Machine:** {m0['cores']} cores, {m0['memory_gb']} GB, Python {m0['python']}, {m0['platform']}. "
        f"**Load average** (1/5/15 min) at start: {' / '.join(map(str, m0['load_average']))}; "
        f"at end: {' / '.join(map(str, m1['load_average']))}. A load above the core count means other "
        "work shared the machine: wall times and rates are then pessimistic for both sides of a ratio, "
        "not necessarily equally.", "",
        "Reproduce everything with `make bench`; each section gives the command for its own figures.", "",
        "## Summary", "",
        "| Section | Status | Figures passing their target |", "|---|---|---|",
    ]
    for name, e in report["benches"].items():
        figs = e.get("figures") or []
        judged = [f for f in figs if f.get("pass") is not None]
        passed = sum(1 for f in judged if f["pass"])
        score = f"{passed} of {len(judged)}" if judged else "—"
        out.append(f"| [{e['title']}](#{_anchor(e['title'])}) | {e['status']} | {score} |")
    for name, e in report["benches"].items():
        out += ["", f"## {e['title']}", ""]
        bench = next((b for b in discover() if b.name == name), None)
        if bench and bench.about:
            out += [bench.about, ""]
        out += [f"Command: `{e['command']}`" + (f" (issue {e['issue']})" if e.get("issue") else ""), ""]
        if e["status"] != "ok":
            out += [f"**{e['status']}**: {e.get('detail', '')}"]
            continue
        out += [f"Took {e['seconds']} s.", ""]
        out += figure_rows(e["figures"]) if e["figures"] else ["(the script reported no figures)"]
        if runs_table(e):
            out += ["", *runs_table(e)]
        if name in plots:
            out += ["", f"![{e['title']}]({plots[name]})"]
        if profile_notes(e):
            out += ["", *profile_notes(e)]
    if notes.strip():
        out += ["", "## Notes", "", notes.strip()]
    return "\n".join(out) + "\n"


def _anchor(title: str) -> str:
    keep = "".join(c for c in title.lower() if c.isalnum() or c in " -")
    return keep.replace(" ", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, no Metaflow or sam build")
    parser.add_argument("--only", action="append", default=[], help="run only these benches (repeatable)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--report", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--notes", type=Path, default=BENCH / "notes.md",
                        help="hand-written analysis appended to the report")
    # Bootstrapping the venvs on a fresh clone takes a few minutes of the 20.
    parser.add_argument("--budget-minutes", type=float, default=17)
    args = parser.parse_args(argv)
    args.results_dir.mkdir(parents=True, exist_ok=True)

    started, t0 = datetime.now(UTC), time.monotonic()
    deadline = t0 + args.budget_minutes * 60
    report = {"started_at": started.isoformat(), "quick": args.quick, "machine_start": machine(), "benches": {}}
    for bench in discover():
        if args.only and bench.name not in args.only:
            report["benches"][bench.name] = {"title": bench.title, "issue": bench.issue, "status": "skipped",
                                             "command": " ".join([".venv/bin/python", f"bench/{bench.name}.py"]),
                                             "detail": "not selected (--only)"}
            continue
        report["benches"][bench.name] = run_bench(bench, args.results_dir, args.quick, deadline)
    report["machine_end"] = machine()
    report["total_seconds"] = round(time.monotonic() - t0, 1)

    from plots import make_plots

    plots = make_plots(report, args.results_dir, args.report.parent)
    notes = args.notes.read_text() if args.notes.exists() else ""
    (args.results_dir / "all.json").write_text(json.dumps(report, indent=2) + "\n")
    args.report.write_text(render(report, plots, notes))
    print(f"bench: wrote {args.report} and {args.results_dir / 'all.json'} in {report['total_seconds']} s",
          file=sys.stderr)
    failed = [n for n, e in report["benches"].items() if e["status"] in ("failed", "timed out")]
    if failed:
        print(f"bench: {', '.join(failed)} did not complete (see BENCHMARKS.md)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
