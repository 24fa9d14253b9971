"""Unchanged work is never recomputed; failed runs resume (issue 6), through the CLI."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGTRAIL = REPO / ".venv" / "bin" / "dagtrail"

pytestmark = pytest.mark.slow


def dagtrail(cwd: Path, *args: str) -> tuple[int, dict | None, str]:
    proc = subprocess.run([str(DAGTRAIL), *args, "--docker", "never", "--json"], cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    if args[0] != "resume" or proc.returncode != 2:
        assert proc.stdout.strip(), f"no summary (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return proc.returncode, (json.loads(proc.stdout) if proc.stdout.strip() else None), proc.stderr


def spec(tmp_path: Path, marker: Path | None = None, b_cache: bool = True) -> Path:
    path = tmp_path / "wf.yaml"
    check = f"import os, sys; sys.exit(0 if os.path.exists({str(marker)!r}) else 5)" if marker else "pass"
    path.write_text(textwrap.dedent(f"""\
        name: cached
        parameters: {{p: 1, label: x}}
        tasks:
          a:
            image: python:3.11-slim
            # writes the same bytes whatever p is: a change of p reruns a but not its dependants
            command: ["python3", "-c", "import os, sys; open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/a.txt', 'w').write('A')", "{{{{ params.p }}}}"]
          b:
            image: python:3.11-slim
            depends_on: [a]
            cache: {str(b_cache).lower()}
            command: ["python3", "-c", "import os; d = os.environ['DAGTRAIL_INPUT_DIR']; open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/b.txt', 'w').write(open(d + '/a/a.txt').read() + 'B')"]
          c:
            image: python:3.11-slim
            depends_on: [b]
            command: ["python3", "-c", "{check}; import os; open(os.environ['DAGTRAIL_OUTPUT_DIR'] + '/c.txt', 'w').write(os.environ['L'])"]
            env: {{L: "{{{{ params.label }}}}"}}
        """))
    return path


def cached(summary: dict) -> dict[str, bool]:
    return {t["name"]: t["cached"] for t in summary["tasks"]}


def ran_processes(tmp_path: Path, run_id: str) -> set[str]:
    logs = tmp_path / ".dagtrail" / "logs" / run_id
    return {p.name for p in logs.iterdir()} if logs.exists() else set()


def test_a_second_identical_run_is_all_cache_hits_and_starts_no_process(tmp_path):
    wf = spec(tmp_path)
    code, first, err = dagtrail(tmp_path, "run", str(wf))
    assert code == 0, err
    assert cached(first) == {"a": False, "b": False, "c": False}
    code, second, err = dagtrail(tmp_path, "run", str(wf))
    assert code == 0, err
    assert cached(second) == {"a": True, "b": True, "c": True}
    assert ran_processes(tmp_path, second["run_id"]) == set()
    # served outputs are the first run's files, with the same checksums
    assert {(a["task"], a["sha256"], a["uri"]) for a in second["artifacts"]} == {
        (a["task"], a["sha256"], a["uri"]) for a in first["artifacts"]}


def test_changed_inputs_rerun_what_they_change_and_no_more(tmp_path):
    wf = spec(tmp_path)
    assert dagtrail(tmp_path, "run", str(wf))[0] == 0
    # a's command changes, its output bytes do not: b and c are still hits
    _, s, _ = dagtrail(tmp_path, "run", str(wf), "--param", "p=2")
    assert cached(s) == {"a": False, "b": True, "c": True}
    # c's env changes: only c reruns
    _, s, _ = dagtrail(tmp_path, "run", str(wf), "--param", "label=y")
    assert cached(s) == {"a": True, "b": True, "c": False}
    assert Path(next(a["path"] for a in s["artifacts"] if a["name"] == "c.txt")).read_text() == "y"


def test_an_upstream_output_change_invalidates_the_cache_downstream(tmp_path):
    wf = spec(tmp_path)
    assert dagtrail(tmp_path, "run", str(wf))[0] == 0
    text = wf.read_text().replace("write('A')", "write('A2')")
    wf.write_text(text)
    _, s, _ = dagtrail(tmp_path, "run", str(wf))
    assert cached(s) == {"a": False, "b": False, "c": False}  # a.txt changed, so b.txt did, so c reruns
    b_txt = next(a for a in s["artifacts"] if a["name"] == "b.txt")
    assert Path(b_txt["path"]).read_text() == "A2B"


def test_cache_false_and_no_cache_rerun(tmp_path):
    wf = spec(tmp_path, b_cache=False)
    assert dagtrail(tmp_path, "run", str(wf))[0] == 0
    _, s, _ = dagtrail(tmp_path, "run", str(wf))
    assert cached(s) == {"a": True, "b": False, "c": True}
    _, s, _ = dagtrail(tmp_path, "run", str(wf), "--no-cache")
    assert cached(s) == {"a": False, "b": False, "c": False}


def test_resume_runs_only_what_did_not_succeed(tmp_path):
    marker = tmp_path / "fixed"
    wf = spec(tmp_path, marker=marker, b_cache=False)
    code, failed, err = dagtrail(tmp_path, "run", str(wf), "--no-cache")
    assert code == 1 and failed["status"] == "FAILED"
    assert {t["name"]: t["status"] for t in failed["tasks"]} == {"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "FAILED"}
    marker.write_text("")
    code, resumed, err = dagtrail(tmp_path, "resume", failed["run_id"])
    assert code == 0, err
    assert resumed["run_id"] != failed["run_id"]
    assert cached(resumed) == {"a": True, "b": True, "c": False}  # b reused although cache: false
    assert ran_processes(tmp_path, resumed["run_id"]) == {"c"}


def test_resume_of_an_unknown_run_is_one_line(tmp_path):
    proc = subprocess.run([str(DAGTRAIL), "resume", "nope-123"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "nope-123" in proc.stderr
