"""Plots for BENCHMARKS.md where a curve says more than a table (matplotlib, Agg, PNG).

    .venv/bin/python bench/plots.py     # from bench/results/all.json, next to it
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import RESULTS  # noqa: E402

HISTORY_LIMIT = 25_000


def make_plots(report: dict, results_dir: Path, report_dir: Path) -> dict[str, str]:
    """{bench name: PNG path relative to report_dir} for each plot that could be drawn."""
    out: dict[str, str] = {}
    sweep = report["benches"].get("sweep_cost", {})
    if sweep.get("status") == "ok":
        try:
            png = sweep_cost_plot(sweep["result"], results_dir / "sweep_cost.png")
        except (KeyError, TypeError, ValueError) as exc:  # the result's format moved on
            print(f"plots: sweep_cost not drawn ({exc!r})", file=sys.stderr)
        else:
            out["sweep_cost"] = os.path.relpath(png, report_dir)
    return out


def sweep_cost_plot(result: dict, png: Path) -> Path:
    """Cost vs sweep size: transitions per item, and the largest execution history."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(int(n) for n in result if n.isdigit())
    series = {tool: ([result[str(n)][tool]["transitions_per_item"] for n in sizes],
                     [result[str(n)][tool]["largest_execution_history"] for n in sizes])
              for tool in ("dagtrail", "metaflow")}
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for tool, style in (("dagtrail", "o-"), ("metaflow", "s--")):
        label = "dagtrail" if tool == "dagtrail" else "Metaflow foreach"
        left.plot(sizes, series[tool][0], style, label=label)
        right.plot(sizes, series[tool][1], style, label=label)
    left.axhline(0.01, color="grey", linewidth=0.8, linestyle=":", label="target at 10,000: 0.01")
    right.axhline(HISTORY_LIMIT, color="crimson", linewidth=0.8, linestyle=":", label="history limit 25,000")
    for ax, title, ylabel in ((left, "Step Functions transitions per item", "transitions / item"),
                              (right, "Largest execution history", "events in one execution")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("sweep size (items)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, metadata={"Software": None})  # no version stamp: same data, same bytes
    plt.close(fig)
    return png


if __name__ == "__main__":
    report = json.loads((RESULTS / "all.json").read_text())
    print(make_plots(report, RESULTS, RESULTS.parents[1]))
