"""Lid-driven cavity sweep: Reynolds number × grid resolution, compared with Ghia et al. (1982).

    dagtrail run examples/cfd-sweep/cfd_sweep.py:cavity_sweep --docker never

`simulate.map(product(...))` is one sweep task (`foreach: product`, one state in the state
machine); each case runs as its own item and writes its fields as .npy files under
simulate/<index>/. `summarise` tabulates them against the reference solution and `plot`
draws the streamlines and a grid-convergence chart (PNG). Lineage answers where any plot
came from: plot ← the summary and every case's psi.npy ← the simulate items and their
parameters.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from dagtrail.flow import outputs, product, task, workflow

REYNOLDS = [100.0, 400.0, 1000.0]
GRIDS = [24, 48]
# Ghia, Ghia & Shin (1982), J. Comput. Phys. 48: primary vortex streamfunction and centre.
GHIA = {100.0: (-0.103423, 0.6172, 0.7344), 400.0: (-0.113909, 0.5547, 0.6055),
        1000.0: (-0.117929, 0.5313, 0.5625)}
FIELDS = ("psi", "omega", "u", "v")


@task(image="ghcr.io/example/cavity:1.0", vcpu=1, memory_mib=1024, timeout="15m", retries=1)
def simulate(case: dict, t_end: float, tolerance: float) -> dict:
    import numpy as np

    from cavity import solve

    result = solve(case["reynolds"], case["n"], t_end, tolerance)
    out = outputs()
    for name in FIELDS:
        np.save(out / f"{name}.npy", result[name])
    np.savetxt(out / "history.csv", result["history"], delimiter=",", header="time,max_domega_dt", comments="")
    scalars = {k: v for k, v in result.items() if k not in FIELDS and k != "history"}
    return case | scalars


@task(image="ghcr.io/example/cavity:1.0", timeout="5m")
def summarise(cases: list[dict]) -> dict:
    rows = []
    for case in sorted(cases, key=lambda c: (c["reynolds"], c["n"])):
        ref_psi, ref_x, ref_y = GHIA[case["reynolds"]]
        rows.append({
            "reynolds": case["reynolds"], "n": case["n"], "steps": case["steps"], "converged": case["converged"],
            "psi_min": round(case["psi_min"], 6), "psi_ref": ref_psi,
            "psi_error_pct": round(100 * abs(case["psi_min"] - ref_psi) / abs(ref_psi), 2),
            "vortex_x": round(case["vortex_x"], 4), "vortex_y": round(case["vortex_y"], 4),
            "vortex_offset": round(((case["vortex_x"] - ref_x) ** 2 + (case["vortex_y"] - ref_y) ** 2) ** 0.5, 4),
        })
    out = outputs()
    with (out / "summary.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    finest = max(r["n"] for r in rows)
    summary = {"cases": rows, "worst_error_pct_finest_grid": max(r["psi_error_pct"] for r in rows if r["n"] == finest)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


@task(image="ghcr.io/example/cavity:1.0", timeout="5m")
def plot(summary: dict, cases: list[dict], fields: list[Path]) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    reynolds = sorted({c["reynolds"] for c in cases})
    grids = sorted({c["n"] for c in cases})
    fig, axes = plt.subplots(len(grids), len(reynolds), figsize=(3.2 * len(reynolds), 3.2 * len(grids)),
                             squeeze=False, constrained_layout=True)
    for case, directory in zip(cases, fields, strict=True):
        ax = axes[grids.index(case["n"])][reynolds.index(case["reynolds"])]
        psi = np.load(directory / "psi.npy")
        xs = np.linspace(0, 1, psi.shape[0])
        levels = np.concatenate([np.linspace(psi.min(), 0, 14)[:-1], np.geomspace(1e-5, max(psi.max(), 2e-5), 5)])
        ax.contour(xs, xs, psi, levels=np.unique(levels), colors="k", linewidths=0.6)
        ax.plot(case["vortex_x"], case["vortex_y"], "r+", ms=9)
        ax.set_title(f"Re={case['reynolds']:g}, {case['n']}×{case['n']}", fontsize=9)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Lid-driven cavity: streamlines (red + primary vortex)")
    out = outputs()
    fig.savefig(out / "streamlines.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.6), constrained_layout=True)
    rows = summary["cases"]
    for n in grids:
        pts = sorted((r["reynolds"], r["psi_min"]) for r in rows if r["n"] == n)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{n}×{n}")
    ref = sorted({(r["reynolds"], r["psi_ref"]) for r in rows})
    ax.plot([p[0] for p in ref], [p[1] for p in ref], "k*", ms=10, label="Ghia et al. 1982")
    ax.set_xscale("log")
    ax.set_xlabel("Reynolds number")
    ax.set_ylabel("ψ at the primary vortex")
    ax.legend()
    ax.set_title("Grid convergence of the vortex strength")
    fig.savefig(out / "convergence.png", dpi=110)
    plt.close(fig)
    return {"plots": ["streamlines.png", "convergence.png"]}


@workflow(name="cfd-sweep")
def cavity_sweep(t_end: float = 60.0, tolerance: float = 1e-5):
    """Lid-driven cavity: a Reynolds × grid sweep, summary against Ghia et al., plots."""
    cases = simulate.map(product(reynolds=REYNOLDS, n=GRIDS), t_end, tolerance)
    summary = summarise(cases)
    plot(summary, cases, cases.dir)
