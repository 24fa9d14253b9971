"""Task images restricted to configured registries (DAGTRAIL_ALLOWED_REGISTRIES, issue 7)."""

import json

import pytest

from dagtrail import compute
from dagtrail.compute.registries import ImageNotAllowed, allowed, check_image, registry_of
from dagtrail.runs.models import SubmitTaskInput
from dagtrail.runs.submit import submit_task

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.mark.parametrize(("image", "expected"), [
    ("python:3.13-slim", ("docker.io", "library/python:3.13-slim")),
    ("acme/tool:1", ("docker.io", "acme/tool:1")),
    (f"{ECR}/sim:2", (ECR, "sim:2")),
    ("localhost:5000/x", ("localhost:5000", "x")),
    ("GHCR.io/acme/x@sha256:ab", ("ghcr.io", "acme/x@sha256:ab")),
])
def test_registry_of_an_image(image, expected):
    assert registry_of(image) == expected


@pytest.mark.parametrize(("image", "registries", "ok"), [
    ("python:3.13-slim", (), True),  # empty list: any registry
    ("python:3.13-slim", (ECR,), False),
    ("python:3.13-slim", ("docker.io",), True),
    (f"{ECR}/sim:2", (ECR,), True),
    (f"{ECR}.evil.com/sim:2", (ECR,), False),  # a host that only starts like an allowed one
    ("ghcr.io/acme/x:1", ("ghcr.io/acme",), True),
    ("ghcr.io/acme-evil/x:1", ("ghcr.io/acme",), False),  # path prefixes match whole segments
    ("ghcr.io/other/x:1", ("ghcr.io/acme/", ECR), False),
])
def test_allowed(image, registries, ok):
    assert allowed(image, registries) is ok


def test_the_error_names_task_image_and_the_setting():
    with pytest.raises(ImageNotAllowed) as info:
        check_image("evil.io/miner:1", (ECR,), task="train")
    message = str(info.value)
    assert "'train'" in message and "evil.io/miner:1" in message and "DAGTRAIL_ALLOWED_REGISTRIES" in message
    assert "\n" not in message
    assert type(info.value).__name__ == "dagtrail.ImageNotAllowed"  # the error the run shows


class NeverSubmit:
    name = "local"
    submitted: list = []

    def submit(self, request):
        self.submitted.append(request)
        return "job-1"


def test_submit_task_refuses_before_starting_anything(runs_table, monkeypatch):
    monkeypatch.setenv("DAGTRAIL_ALLOWED_REGISTRIES", f"{ECR},ghcr.io/acme")
    monkeypatch.setenv("DAGTRAIL_LINEAGE_QUEUE_URL", "")
    monkeypatch.delenv("DAGTRAIL_GRAPH_URL", raising=False)
    backend = NeverSubmit()
    compute.use_local(backend)
    try:
        definition = {"image": "docker.io/attacker/x:1", "command": ["true"], "depends_on": []}
        payload = SubmitTaskInput(token="t", execution_arn="arn:x", run_id="r", workflow="w", task="a",
                                  definition=json.dumps(definition))
        with pytest.raises(ImageNotAllowed, match="docker.io/attacker/x:1"):
            submit_task(payload, runs_table)
        assert backend.submitted == [] and runs_table.get_task("r", "a").jobs == {}
        definition["image"] = "ghcr.io/acme/sim:3"
        ok = SubmitTaskInput(token="t2", execution_arn="arn:x", run_id="r", workflow="w", task="b",
                             definition=json.dumps(definition))
        assert submit_task(ok, runs_table)["job_id"] == "job-1"
    finally:
        compute.use_local(None)
