"""`dagtrail invoke`: every sample in events/ runs through the function template.yaml routes
it to, in-process on moto, without an exception; results and exit codes as documented."""

from __future__ import annotations

import functools
import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from dagtrail.events.routing import route
from dagtrail.local.invoke import HandlerFailed, invoke, resolve_function

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
SAMPLES = sorted((REPO / "events").rglob("*.json"))


@functools.cache
def _session():
    import boto3

    return boto3.session.Session()


@pytest.fixture(autouse=True)
def _shared_session(monkeypatch):
    """One botocore session for every client (each fresh one parses its model again)."""
    from dagtrail import aws

    @functools.cache
    def client(service, region=None):
        return _session().client(service, region_name=region, config=aws._CONFIG)

    monkeypatch.setattr(aws, "client", client)


def _targets(path: Path) -> list[str]:
    return route(json.loads(path.read_text()), TEMPLATE)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: str(p.relative_to(REPO / "events")))
def test_every_sample_is_handled_by_the_function_it_routes_to(sample, tmp_path):
    targets = _targets(sample)
    assert targets, f"{sample.name} reaches no function"
    for logical_id in targets:
        if not logical_id.endswith("Function"):
            continue  # a state machine target: nothing to invoke
        try:
            outcome = invoke(logical_id, json.loads(sample.read_text()), tmp_path, TEMPLATE)
        except HandlerFailed as exc:
            pytest.fail(f"{logical_id} raised on {sample.name}: {exc}")
        json.dumps(outcome.result)  # what the CLI prints


def test_the_upload_sample_starts_a_run_named_for_the_object(tmp_path):
    sample = REPO / "events/StartFromUploadFunction/s3-input-created.json"
    [result] = invoke("StartFromUploadFunction", json.loads(sample.read_text()), tmp_path).result["results"]
    assert result["status"] == "started"
    assert result["state_machine_arn"].endswith(":stateMachine:dagtrail-dev-heat-diffusion")
    assert result["execution_name"].startswith("heat-diffusion-params-nx-128-")


def test_the_manifest_sample_records_artifacts_in_the_workdir_graph(tmp_path):
    from dagtrail.lineage import graph

    sample = json.loads((REPO / "events/ArtifactEventsFunction/s3-result-manifest-created.json").read_text())
    key = sample["detail"]["object"]["key"]
    manifest = tmp_path / "results" / key
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"task": "simulate", "attempt": 1, "prefix": "s3://dagtrail-results/"
                                    + key.removesuffix("manifest.json"), "artifacts": [
                                        {"name": "run.json", "size": 10, "sha256": "a" * 64}]}))
    outcome = invoke("ArtifactEventsFunction", sample, tmp_path)
    assert outcome.result["results"][0]["status"] == "recorded" and outcome.lineage_records == 2
    g = graph.open_graph(f"gremlite://{tmp_path / 'lineage.db'}")
    try:
        assert g.V().has_label("Artifact").values("name").to_list() == ["run.json"]
    finally:
        graph.close(g)


@pytest.mark.parametrize("logical_id", ["StartFromUploadFunction", "ArtifactEventsFunction", "AlarmEventsFunction"])
def test_events_a_trigger_does_not_own_are_ignored(logical_id, tmp_path):
    other = json.loads((REPO / "events/JobEventsFunction/batch-job-running.json").read_text())
    assert "not" in invoke(logical_id, other, tmp_path).result["ignored"]


def test_the_handler_comes_from_codeuri_and_handler(tmp_path):
    ref = resolve_function(TEMPLATE, "StartFromUploadFunction")
    assert (ref.code_dir, ref.module, ref.attribute) == (REPO / "functions/start_from_upload", "app", "handler")
    assert ref.environment["POWERTOOLS_SERVICE_NAME"] == "start_from_upload"
    assert resolve_function(TEMPLATE, "SubmitTaskFunction").services >= {"batch", "ecs"}


# ------------------------------------------------------------------ through the CLI



def test_globals_fill_in_what_the_function_leaves_out():
    submit, upload = resolve_function(TEMPLATE, "SubmitTaskFunction"), resolve_function(TEMPLATE, "StartFromUploadFunction")
    assert (submit.timeout_seconds, submit.memory_mb, upload.timeout_seconds) == (30, 512, 60)
    assert upload.environment["PYDANTIC_DISABLE_PLUGINS"] == "__all__"  # Globals'
    assert upload.environment["POWERTOOLS_SERVICE_NAME"] == "start_from_upload"  # its own


def test_the_handler_sees_the_templates_environment_memory_and_timeout(tmp_path):
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(textwrap.dedent("""
        import os
        def handler(event, context):
            return {"both": os.environ["BOTH"], "globals": os.environ["ONLY_GLOBALS"],
                    "memory": context.memory_limit_in_mb, "ms": context.get_remaining_time_in_millis()}
    """))
    template = tmp_path / "template.yaml"
    template.write_text(textwrap.dedent("""
        Transform: AWS::Serverless-2016-10-31
        Globals:
          Function:
            Handler: app.handler
            Timeout: 7
            Environment: {Variables: {BOTH: from-globals, ONLY_GLOBALS: "1"}}
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: fn/, MemorySize: 256, Environment: {Variables: {BOTH: from-function}}}
    """))
    result = invoke("Fn", {}, tmp_path / "w", template).result
    assert {k: result[k] for k in ("both", "globals", "memory")} == {"both": "from-function", "globals": "1", "memory": 256}
    assert 6000 < result["ms"] <= 7000


@pytest.fixture
def cli(capsys):
    """`dagtrail invoke ...` in-process: (exit code, stdout, stderr)."""
    from dagtrail.cli.main import main

    def run(*args):
        code = main(["invoke", *map(str, args)])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)
    return run


def _broken_template(tmp_path: Path) -> Path:
    code = tmp_path / "fn"
    code.mkdir()
    (code / "main.py").write_text(textwrap.dedent("""
        def go(event, context):
            if event.get("fail"):
                raise ValueError("bad thing\\nsecond line")
            return {"echo": event, "function": context.function_name}
    """))
    template = tmp_path / "template.yaml"
    template.write_text(textwrap.dedent("""
        Transform: AWS::Serverless-2016-10-31
        Globals:
          Function: {Handler: app.handler}
        Resources:
          EchoFunction:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: fn/, Handler: main.go}
          Bucket:
            Type: AWS::S3::Bucket
    """))
    return template


def test_cli_prints_the_result_and_exits_0(cli, tmp_path):
    template = _broken_template(tmp_path)
    (tmp_path / "ok.json").write_text('{"a": 1}')
    done = cli("EchoFunction", "--event", tmp_path / "ok.json", "--workdir", tmp_path / "w", "--template", template)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"echo": {"a": 1}, "function": "EchoFunction"}


def test_cli_exits_1_with_one_line_when_the_handler_raises(cli, tmp_path):
    template = _broken_template(tmp_path)
    (tmp_path / "bad.json").write_text('{"fail": true}')
    done = cli("EchoFunction", "--event", tmp_path / "bad.json", "--workdir", tmp_path / "w", "--template", template)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == "dagtrail: error: EchoFunction raised ValueError: bad thing\n"


@pytest.mark.parametrize("args, message", [
    (["NoSuchFunction"], "no AWS::Serverless::Function 'NoSuchFunction'"),
    (["Bucket"], "no AWS::Serverless::Function 'Bucket'"),
])
def test_cli_exits_2_for_an_unknown_function(cli, tmp_path, args, message):
    (tmp_path / "e.json").write_text("{}")
    done = cli(*args, "--event", tmp_path / "e.json", "--template", _broken_template(tmp_path))
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.splitlines()) == 1


def test_cli_exits_2_for_a_bad_event_file(cli, tmp_path):
    (tmp_path / "e.json").write_text("{nope")
    for event in (tmp_path / "missing.json", tmp_path / "e.json"):
        done = cli("StartFromUploadFunction", "--event", event, "--workdir", tmp_path / "w")
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr


def test_cli_reads_the_event_from_stdin(cli, tmp_path, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO('{"detail-type": "Scheduled Event", "source": "aws.events"}'))
    done = cli("AlarmEventsFunction", "--event", "-", "--workdir", tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "ignored"
