"""Step Functions cost of a sweep by size: state transitions and history events per execution.

    .venv/bin/python bench/sweep_cost.py                 # writes bench/results/sweep_cost.json
    .venv/bin/python bench/sweep_cost.py --measure 10 --no-metaflow --out /tmp/s.json   # quick

The same sweep on both sides: start → a foreach over N items running `echo <item>` → join →
end (Metaflow needs the start, join and end steps; dagtrail gets the same tasks).
- dagtrail: the machine compiled by dagtrail.compiler, counted by bench/_asl_cost.py; and,
  where N is small enough to run, the same machine executed by local mode on moto, counted
  from GetExecutionHistory (bench/_moto_history.py). Measured: N = 10 and 100 (inline Map),
  200 (one array job) and a Distributed Map sweep scaled down (arrays and chunks of
  --chunk items instead of 10,000) so that it runs here.
- Metaflow 2.19.39: `step-functions create --only-json` against a moto server
  (bench/_metaflow_sfn.py), inline Map (its default) and `--use-distributed-map`, counted by
  the same walk. Its foreach items are a DynamoDB number set read into the state payload;
  Metaflow's own client writes them to the moto server to find where that breaks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _asl_cost  # noqa: E402
from _util import RESULTS, machine, write_result  # noqa: E402

from dagtrail.compiler import compile_workflow  # noqa: E402
from dagtrail.spec import load_spec_text  # noqa: E402
from dagtrail.sweeps import sizing  # noqa: E402

SIZES = (100, 10_000, 1_000_000)
MEASURE = (10, 100, 200)
SCALED_ITEMS, SCALED_CHUNK = 30, 10
COMMAND = ["echo", "{{ item }}"]
HISTORY_LIMIT = 25_000


def spec(n: int, form: str = "range"):
    foreach = f"{{range: {{stop: {n}}}}}" if form == "range" else "{from: start/items.json}"
    start = (f'[python3, -c, "import json, os; json.dump(list(range({n})), '
             f"open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/items.json', 'w'))\"]") if form == "from" else "[echo, start]"
    return load_spec_text(f"""name: bench
tasks:
  start: {{image: x, command: {start}}}
  sweep:
    image: x
    depends_on: [start]
    command: [echo, "{{{{ item }}}}"]
    foreach: {foreach}
  join: {{image: x, command: [echo, join], depends_on: [sweep]}}
  end: {{image: x, command: [echo, end], depends_on: [join]}}
""")


def dagtrail_cost(n: int) -> dict[str, Any]:
    asl = compile_workflow(spec(n))
    mode = sizing.sweep_mode(n, "batch")

    def iterations(name: str, state: dict) -> int:
        distributed = state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        return len(sizing.chunks(n)) if distributed else n

    cost = _asl_cost.execution_cost(asl, iterations, _asl_cost.DAGTRAIL_CHOICES)
    return {"mode": mode, "states": sorted(asl["States"])} | _asl_cost.summary(cost, n)


def metaflow_iterations(n: int):
    def iterations(name: str, state: dict) -> int:
        # The Distributed Map variant re-reads the first result file with MaxItems 1.
        return ((state.get("ItemReader") or {}).get("ReaderConfig") or {}).get("MaxItems") or n
    return iterations


def metaflow_cost(compiled: dict, n: int, variant: str) -> dict[str, Any]:
    machine_json = compiled["machines"][f"{variant}/{n}"]
    cost = _asl_cost.execution_cost(machine_json, metaflow_iterations(n))
    out = {"source": f"compiled by Metaflow (step-functions create --only-json{' --use-distributed-map' * (variant == 'distributed')})",
           "variant": variant, "states": sorted(machine_json["States"])} | _asl_cost.summary(cost, n)
    card = compiled["cardinality"]
    fails = []
    if n > card["largest_put"]:
        fails.append(f"the start step's PutItem of {n:,} foreach indices is refused (DynamoDB 400 KB item limit; "
                     f"largest that fits: {card['largest_put']:,})")
    if n > card["largest_within_payload"]:
        fails.append(f"the Map's items exceed the 256 KiB state payload (largest that fits: "
                     f"{card['largest_within_payload']:,})")
    if out["largest_execution_history"] >= HISTORY_LIMIT:
        fails.append(f"{out['largest_execution_history']:,} events in one execution (limit {HISTORY_LIMIT:,})")
    return out | {"runs_on_aws": not fails, "fails_because": fails}


def largest_within_history(compiled: dict, variant: str, n: int) -> int | None:
    """Metaflow's largest foreach under the history limit: events grow linearly with items."""
    machine_json = compiled["machines"][f"{variant}/{n}"]
    at = {k: _asl_cost.execution_cost(machine_json, metaflow_iterations(k)).largest_history() for k in (1, 2)}
    per_item = at[2] - at[1]
    return None if per_item == 0 else (HISTORY_LIMIT - 1 - at[1]) // per_item + 1


def structural_vs_moto(n: int, measured: dict, scaled_chunk: int | None = None) -> dict[str, Any]:
    """The structural count for the run moto executed, next to what moto recorded."""
    from _moto_history import scaled_distributed

    if scaled_chunk:
        with scaled_distributed(scaled_chunk):
            expected = dagtrail_cost(n)
            chunks = len(sizing.chunks(n))
    else:
        expected, chunks = dagtrail_cost(n), 0
    out = {"items": n, "mode": expected["mode"], "moto": measured,
           "structural": {k: expected[k] for k in ("transitions", "parent_history", "largest_execution_history",
                                                   "history_events_total", "executions")}}
    agree = {"parent_history": measured["parent_history"] == expected["parent_history"]}
    if chunks:
        # moto keeps the children's state events but not their ExecutionStarted/Succeeded.
        child_total = measured.get("children_state_events", 0) + chunks * _asl_cost.EXECUTION_EVENTS
        agree["children_history"] = child_total == expected["history_events_total"] - expected["parent_history"]
        agree["transitions"] = (measured["parent_transitions"] + measured.get("children_transitions", 0)
                                == expected["transitions"])
        out |= {"chunks": chunks, "scaled_chunk_items": scaled_chunk,
                "note": "moto records child state events without each child's 2 execution events; added back"}
    else:
        agree["transitions"] = measured["parent_transitions"] == expected["transitions"]
    return out | {"agree": agree}


def measure_on_moto(sizes: list[int], scaled: bool) -> list[dict[str, Any]]:
    from _moto_history import measure, scaled_distributed

    out = []
    for n in sizes:
        print(f"moto: running N={n} locally ...", file=sys.stderr, flush=True)
        out.append(structural_vs_moto(n, measure(spec(n))))
    if scaled:
        print(f"moto: running a distributed sweep of {SCALED_ITEMS} items in chunks of {SCALED_CHUNK} ...",
              file=sys.stderr, flush=True)
        with scaled_distributed(SCALED_CHUNK):
            measured = measure(spec(SCALED_ITEMS))
        out.append(structural_vs_moto(SCALED_ITEMS, measured, SCALED_CHUNK))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", type=int, action="append",
                        help=f"run the sweep of this many items on moto (repeatable; default {MEASURE})")
    parser.add_argument("--no-scaled", action="store_true", help="skip the scaled-down Distributed Map run")
    parser.add_argument("--no-metaflow", action="store_true", help="skip compiling Metaflow's flow")
    parser.add_argument("--out", type=Path, default=RESULTS / "sweep_cost.json")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {str(n): {"dagtrail": dagtrail_cost(n)} for n in SIZES}
    compiled = None
    if not args.no_metaflow:
        from _metaflow_sfn import compile_flows

        print("metaflow: compiling the foreach flow against a moto server ...", file=sys.stderr, flush=True)
        compiled = compile_flows(list(SIZES), ["echo", "x"])
        for n in SIZES:
            results[str(n)]["metaflow"] = metaflow_cost(compiled, n, "inline")
            results[str(n)]["metaflow_distributed"] = metaflow_cost(compiled, n, "distributed")
        results["metaflow_compile"] = {
            "offline": compiled["offline"], "cardinality": compiled["cardinality"],
            "largest_inline_foreach_under_history_limit": largest_within_history(compiled, "inline", SIZES[0]),
            "same_machine_for_every_size": all(
                compiled["machines"][f"{v}/{n}"]["States"].keys() == compiled["machines"][f"{v}/{SIZES[0]}"]["States"].keys()
                for v in ("inline", "distributed") for n in SIZES),
        }
    results["measured_on_moto"] = measure_on_moto(args.measure or list(MEASURE), not args.no_scaled)
    results["machine"] = machine()
    write_result(args.out, results)
    for n in SIZES:
        d, m = results[str(n)]["dagtrail"], results[str(n)].get("metaflow")
        line = (f"N={n:>9}: dagtrail {d['mode']:<11} {d['transitions_per_item']:.6f} transitions/item, "
                f"largest history {d['largest_execution_history']:>7}")
        if m:
            line += (f" | metaflow {m['transitions_per_item']:.3f}/item, history {m['largest_execution_history']:,}"
                     f"{'' if m['runs_on_aws'] else ' (fails: ' + '; '.join(m['fails_because']) + ')'}")
        print(line)
    for r in results["measured_on_moto"]:
        print(f"moto N={r['items']} ({r['mode']}): parent history {r['moto']['parent_history']} "
              f"(structure {r['structural']['parent_history']}), agree {r['agree']}")
    return 0 if all(all(r["agree"].values()) for r in results["measured_on_moto"]) else 1


if __name__ == "__main__":
    sys.exit(main())
