"""Helpers shared by the bench scripts: machine facts, timed process trees, result files.

Standard library only: the scripts run under .venv's interpreter, and the tree monitor
must not import anything that would itself show up in what it measures.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PAGE = os.sysconf("SC_PAGE_SIZE")


def machine() -> dict:
    """What a reader needs to judge a figure: cores, load when it was taken, interpreter."""
    load1, load5, load15 = os.getloadavg()
    return {
        "cores": os.cpu_count(),
        "load_average": [round(load1, 2), round(load5, 2), round(load15, 2)],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "memory_gb": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 1e9, 1),
    }


def write_result(out: Path, result: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")


def median(values: list[float]) -> float:
    return statistics.median(values)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def _tree_rss(root: int) -> tuple[int, int]:
    """Summed resident memory (RSS) and proportional set size (PSS) of `root` and every
    descendant, from one scan of /proc. RSS counts a page shared by N processes N times (a
    tree of forked interpreters looks N times its size); PSS counts 1/N of it in each."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue  # exited between listing and reading
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        fields = stat[stat.rfind(b")") + 2:].split()
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * PAGE
    total, pss, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        pss += _pss(pid)
        todo.extend(children.get(pid, ()))
    return total, pss


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass  # exited, or a kernel without smaps_rollup
    return 0


def run_tree(argv: list[str], *, env: dict | None = None, cwd: Path | None = None,
             timeout: float | None = None, interval: float = 0.1, also=None) -> dict:
    """Run argv; its wall time and the peaks of summed RSS and PSS of its whole process tree,
    and of the trees of the pids `also()` returns at each sample (a server doing argv's work).

    The tree is sampled every `interval` seconds, so a peak shorter than that can be missed;
    both sides of every comparison are sampled the same way. RSS counts shared pages once per
    process, so its sum overstates what a tree of many interpreters holds; PSS does not.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = peak_pss = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_pss
        while not done.is_set():
            trees = [_tree_rss(pid) for pid in [proc.pid, *(also() if also else ())]]
            rss, pss = sum(t[0] for t in trees), sum(t[1] for t in trees)
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        done.set()
        raise TimeoutError(f"{argv[:3]} did not finish in {timeout:.0f} s") from None
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # every descendant that was waited for
    return {
        "seconds": seconds,
        "cpu_seconds": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
        "peak_tree_rss_mb": round(peak / 1e6, 1),
        "peak_tree_pss_mb": round(peak_pss / 1e6, 1),
        "returncode": proc.returncode,
        "stdout": stdout.decode(errors="replace"),
        "stderr": stderr.decode(errors="replace"),
    }


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
