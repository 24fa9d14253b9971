"""bench/cold_start.py imports the handlers as Lambda loads them: dagtrail from unchecked-hash
bytecode (as layers/dagtrail/Makefile ships it), app.py from source that nothing caches, and
template.yaml's Globals environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cold_start():
    sys.path.insert(0, str(REPO / "bench"))
    import cold_start as module

    yield module
    sys.path.remove(str(REPO / "bench"))


def test_dagtrail_is_loaded_from_its_bytecode_without_reading_the_source(cold_start, tmp_path):
    code = cold_start.compiled_code(Path(sys.executable), tmp_path)
    sources = sorted((code.layer / "dagtrail").rglob("*.py"))
    assert len(sources) > 20
    tag = sys.implementation.cache_tag
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01, f"{pyc}: not unchecked-hash"
    # A changed source under an unchecked pyc is never looked at: the import runs the bytecode.
    (code.layer / "dagtrail" / "tracing.py").write_text("raise SystemExit('the source was compiled')\n")
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import app, dagtrail.tracing",
         str(code.functions / "job_events")],
        env=cold_start._env(code.layer), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    # app.py as sam builds a function: source, compiled on every import, never cached.
    assert sorted(p.name for p in (code.functions / "job_events").iterdir()) == ["app.py"]
    assert (code.functions / "job_events" / "app.py").read_text() == (
        REPO / "functions" / "job_events" / "app.py").read_text()


def test_handlers_get_the_templates_globals_environment(cold_start, tmp_path):
    template = cold_start.template_environment()
    assert template["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    assert not [k for k in template if k.startswith("DAGTRAIL_")]  # the account's, not the template's
    env = cold_start._env(tmp_path)
    assert env["PYDANTIC_DISABLE_PLUGINS"] == "__all__" and env["PYTHONPATH"] == str(tmp_path)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
