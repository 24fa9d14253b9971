"""Workflows run one after another in one process (a notebook, a test suite, bench/soak.py)
leave nothing behind: each run's botocore session and the service models loaded into it are
collected when the run ends (LocalRun's reclaim_memory), and moto's ended accounts are not
kept alive (moto_patches.regions_per_service, tested with the patches)."""

from __future__ import annotations

import gc

import pytest

from dagtrail.local.engine import LocalRun
from dagtrail.spec.loader import load_spec_text

pytestmark = pytest.mark.slow

SPEC = """
name: memory
tasks:
  only: {image: python:3.13-slim, command: ["true"]}
"""


def _sessions() -> int:
    """botocore sessions in memory, garbage not yet collected included: each run makes its own
    and loads its services' models into it (most of what a run leaves behind)."""
    from botocore.session import Session

    return sum(isinstance(o, Session) for o in gc.get_objects())


@pytest.mark.parametrize("reclaim", [True, False])
def test_each_run_leaves_its_clients_and_emulated_account_collected(tmp_path, reclaim):
    spec = load_spec_text(SPEC)
    gc.collect()
    before = _sessions()
    for n in range(3):
        run = LocalRun(spec, {}, tmp_path / f"w{n}", docker=False, reclaim_memory=reclaim)
        assert run.execute().status == "SUCCEEDED"
    if reclaim:
        assert _sessions() == before
    else:  # the CLI's choice: each run's set-up froze the previous run's garbage with its own
        assert _sessions() >= before + 2
    gc.collect()
    assert _sessions() == before  # garbage, not kept alive
