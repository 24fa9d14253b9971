"""template.yaml as a security reviewer and a platform engineer would check it.

- IAM (always runs): every policy statement in the template — and, with the SAM tool venv,
  in the SAM-transformed template — is walked: no Action "*", no wildcard actions, and
  Resource "*" only for actions on an allow-list of APIs without resource-level permissions,
  each next to a `# Resource "*": <why>` comment in the template.
- Tools (need `make sam-tools`, which `make test` runs): `sam validate --lint`, cfn-lint with
  no errors or warnings, checkov with no failed checks (skips carry comments), `sam build`.
  Each tool runs once per session.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dagtrail.events.routing import load_template
from tests.sam_tools import SAM_BIN, python313, sam_env

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
CHECKOV_BIN = REPO / ".venv-checkov" / "bin"

# Actions allowed on Resource "*", each because the API has no resource-level permissions
# (checked against the IAM reference policy_sentry ships, when the checkov venv exists).
STAR_RESOURCE_ACTIONS = {
    "states:SendTaskSuccess": "takes a task token, not an ARN",
    "states:SendTaskFailure": "takes a task token, not an ARN",
    "batch:DescribeJobs": "no resource-level permissions",
    "batch:DescribeJobDefinitions": "no resource-level permissions",
    "ecs:RegisterTaskDefinition": "no resource-level permissions",
    "ecs:DescribeTaskDefinition": "no resource-level permissions",
    "xray:PutTraceSegments": "no resource-level permissions",
    "xray:PutTelemetryRecords": "no resource-level permissions",
    "xray:GetSamplingRules": "no resource-level permissions",
    "xray:GetSamplingTargets": "no resource-level permissions",
    "logs:CreateLogDelivery": "vended log delivery, no resource-level permissions",
    "logs:GetLogDelivery": "vended log delivery, no resource-level permissions",
    "logs:UpdateLogDelivery": "vended log delivery, no resource-level permissions",
    "logs:DeleteLogDelivery": "vended log delivery, no resource-level permissions",
    "logs:ListLogDeliveries": "vended log delivery, no resource-level permissions",
    "logs:PutResourcePolicy": "no resource-level permissions",
    "logs:DescribeResourcePolicies": "no resource-level permissions",
    "logs:DescribeLogGroups": "no resource-level permissions",
}
# AWS managed policies attached by the template (or by SAM for Tracing / VpcConfig).
MANAGED_POLICIES = {
    "AmazonEC2ContainerServiceforEC2Role": "the Batch EC2 instance role AWS documents",
    "AmazonECSTaskExecutionRolePolicy": "image pulls and awslogs for task containers",
    "AWSLambdaBasicExecutionRole": "SAM default: the function's own logs",
    "AWSXrayWriteOnlyAccess": "SAM adds it for Tracing: Active",
    "AWSLambdaVPCAccessExecutionRole": "SAM adds it for VpcConfig (ENI management)",
    "AWSLambdaSQSQueueExecutionRole": "SAM adds it for SQS event sources",
}


# ── walking policies ──

def _branches(value: Any) -> Iterator[Any]:
    """Both sides of Fn::If, without AWS::NoValue."""
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        for side in value["Fn::If"][1:]:
            yield from _branches(side)
    elif isinstance(value, dict) and value.get("Ref") == "AWS::NoValue":
        return
    else:
        yield value


def _statements(doc: Any) -> Iterator[dict]:
    for d in _branches(doc):
        if isinstance(d, dict):
            stmts = d.get("Statement", [])
            for s in stmts if isinstance(stmts, list) else [stmts]:
                yield from (x for x in _branches(s) if isinstance(x, dict))


def policies(template: dict) -> Iterator[tuple[str, dict]]:
    """(where, statement) for every IAM statement, plus ("managed", {"arn": ...}) entries."""
    for lid, res in template["Resources"].items():
        kind, props = res.get("Type"), res.get("Properties") or {}
        if kind == "AWS::IAM::Role":
            for p in props.get("Policies") or []:
                for s in _statements(p.get("PolicyDocument")):
                    yield f"{lid}/{p.get('PolicyName')}", s
            for arn in props.get("ManagedPolicyArns") or []:
                yield f"{lid}/managed", {"managed": arn}
            for s in _statements(props.get("AssumeRolePolicyDocument")):
                yield f"{lid}/trust", s
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::S3::BucketPolicy",
                      "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            for s in _statements(props.get("PolicyDocument")):
                yield lid, s
        elif kind in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            items = props.get("Policies") or []
            for item in items if isinstance(items, list) else [items]:
                if isinstance(item, str):
                    yield f"{lid}/managed", {"managed": item}
                elif isinstance(item, dict) and "Statement" in item:
                    for s in _statements(item):
                        yield lid, s
                else:
                    yield f"{lid}/sam-policy-template", {"sam_template": item}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _managed_name(arn: Any) -> str:
    text = json.dumps(arn) if not isinstance(arn, str) else arn
    return re.split(r"[/:]", text.rstrip('"}'))[-1]


def problems(template: dict) -> list[str]:
    out = []
    for where, s in policies(template):
        if "managed" in s:
            if _managed_name(s["managed"]) not in MANAGED_POLICIES:
                out.append(f"{where}: managed policy {s['managed']} is not on the reviewed list")
            continue
        if "sam_template" in s:
            out.append(f"{where}: SAM policy template {s['sam_template']} (write explicit statements)")
            continue
        if s.get("Effect") != "Allow":
            continue  # Deny statements (TLS-only) are meant to be broad
        if "NotAction" in s or "NotResource" in s:
            out.append(f"{where}: NotAction/NotResource in an Allow statement")
        actions = [a for a in _as_list(s.get("Action", [])) if isinstance(a, str)]
        for a in actions:
            if a == "*" or "*" in a:
                out.append(f"{where}: wildcard action {a!r}")
        if any(r == "*" for r in _as_list(s.get("Resource", []))):
            if "Principal" in s:
                continue  # trust and resource policies name a principal, not a resource
            for a in actions:
                if a not in STAR_RESOURCE_ACTIONS:
                    out.append(f"{where}: {a} on Resource \"*\" (it has resource-level permissions)")
    return out


def test_template_iam_is_least_privilege():
    assert problems(load_template(TEMPLATE)) == []


def test_every_star_resource_has_a_comment_saying_why():
    lines = TEMPLATE.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.search(r'Resource:\s*"\*"', line):
            before = lines[max(0, i - 12):i]
            assert any('# Resource "*":' in b for b in before), f"template.yaml:{i + 1}: Resource \"*\" without a why-comment"


def test_the_walker_catches_what_it_should():
    bad = {"Resources": {
        "R": {"Type": "AWS::IAM::Role", "Properties": {
            "ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"],
            "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b"},
                {"Fn::If": ["C", {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"},
                            {"Ref": "AWS::NoValue"}]},
            ]}}]}},
        "F": {"Type": "AWS::Serverless::Function", "Properties": {"Policies": [
            {"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "batch:DescribeJobs"], "Resource": "*"}]},
            {"S3ReadPolicy": {"BucketName": "b"}}]}},
        "Q": {"Type": "AWS::SQS::QueuePolicy", "Properties": {"PolicyDocument": {"Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": "*"}]}}},
    }}
    found = problems(bad)
    assert any("AdministratorAccess" in p for p in found)
    assert any("wildcard action '*'" in p for p in found)
    assert any("wildcard action 's3:*'" in p for p in found)
    assert any("s3:GetObject on Resource" in p for p in found)
    assert not any("batch:DescribeJobs" in p for p in found)
    assert any("S3ReadPolicy" in p for p in found)
    assert not any(p.startswith("Q") for p in found)


# ── tools ──

def _tool_env() -> dict[str, str]:
    return sam_env(BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false")


def _need(binary: Path) -> Path:
    if not binary.exists():
        pytest.skip(f"{binary.relative_to(REPO)} missing: run `make sam-tools` (make test does)")
    return binary


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env=_tool_env(), timeout=600, **kwargs)


@pytest.fixture(scope="session")
def sam_validate():
    return _run([str(_need(SAM_BIN / "sam")), "validate", "--lint", "--template-file", str(TEMPLATE)])


@pytest.fixture(scope="session")
def cfn_lint():
    return _run([str(_need(SAM_BIN / "cfn-lint")), "--format", "parseable", str(TEMPLATE)])


@pytest.fixture(scope="session")
def checkov():
    done = _run([str(_need(CHECKOV_BIN / "checkov")), "-f", str(TEMPLATE), "--framework", "cloudformation",
                 "--skip-download", "-o", "json"])
    return done, json.loads(done.stdout)


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory):
    sam = _need(SAM_BIN / "sam")
    out = tmp_path_factory.mktemp("sam-build")
    done = _run([str(sam), "build", "--template-file", str(TEMPLATE), "--build-dir", str(out / "build"),
                 "--cached", "--cache-dir", str(REPO / ".aws-sam" / "test-cache")])
    return done, out / "build"


@pytest.fixture(scope="session")
def transformed():
    """The template after the SAM transform, as CloudFormation will see it."""
    python = _need(SAM_BIN / "python")
    script = (
        "import json, sys\n"
        "from samtranslator.translator.transform import transform\n"
        "from samtranslator.public.translator import ManagedPolicyLoader\n"
        "from samtranslator.yaml_helper import yaml_parse\n"
        "class Offline(ManagedPolicyLoader):\n"
        "    def __init__(self): pass\n"
        "    def load(self): return {}\n"
        "doc = yaml_parse(open(sys.argv[1]).read())\n"
        "for r in doc['Resources'].values():\n"  # sam package would upload these
        "    p = r.get('Properties', {})\n"
        "    for k in ('CodeUri', 'ContentUri'):\n"
        "        if k in p: p[k] = 's3://bucket/' + k\n"
        "    if 'DefinitionUri' in p: p['DefinitionUri'] = {'Bucket': 'bucket', 'Key': 'asl.json'}\n"
        "params = {'VpcId': 'vpc-0123456789abcdef0', 'PrivateSubnetIds': 'subnet-0123456789abcdef0,subnet-0fedcba9876543210'}\n"
        "print(json.dumps(transform(doc, params, Offline())))\n"
    )
    done = _run([str(python), "-c", script, str(TEMPLATE)])
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.timeout(900)
def test_sam_validate_lint(sam_validate):
    assert sam_validate.returncode == 0, sam_validate.stdout + sam_validate.stderr
    assert "is a valid SAM Template" in sam_validate.stdout + sam_validate.stderr


def test_cfn_lint_has_no_errors_or_warnings(cfn_lint):
    assert cfn_lint.returncode == 0 and cfn_lint.stdout.strip() == "", cfn_lint.stdout + cfn_lint.stderr


def test_checkov_has_no_failed_checks(checkov):
    done, report = checkov
    results = report["results"]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in results["failed_checks"]]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0
    assert "Failed to run check" not in done.stderr, done.stderr[-2000:]   # a crashed check hides a gap
    assert results["passed_checks"], "checkov evaluated nothing"


def test_every_checkov_skip_is_justified():
    template = load_template(TEMPLATE)
    for lid, res in template["Resources"].items():
        for skip in ((res.get("Metadata") or {}).get("checkov") or {}).get("skip") or []:
            assert len(str(skip.get("comment", ""))) > 20, f"{lid}: checkov skip {skip.get('id')} needs a reason"


@pytest.mark.timeout(900)
def test_sam_build_builds_every_function_and_the_layer(sam_build):
    done, build = sam_build
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    template = load_template(TEMPLATE)
    functions = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    for lid in functions:
        assert (build / lid / "app.py").is_file(), f"{lid}: no app.py in the build"
    layer = build / "DagtrailLayer" / "python"
    assert (layer / "dagtrail" / "__init__.py").is_file()
    assert list((layer / "pydantic_core").glob("*aarch64*.so")), "layer wheels are not arm64"
    assert (layer / "gremlin_python").is_dir() and (layer / "aws_lambda_powertools").is_dir()


def _pyc(source: Path) -> Path:
    return source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"


@pytest.mark.timeout(900)
def test_built_layer_ships_python313_bytecode_lambda_never_rechecks(sam_build):
    """/opt is read-only: without bytecode in the layer every cold start compiles it from source.
    A pyc header is magic, flags (bit 0: hash-based, bit 1: check the source), then the source
    hash; unchecked-hash (flags 1) because a zip's timestamps cannot be trusted."""
    done, build = sam_build
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    layer = build / "DagtrailLayer" / "python"
    sources = sorted((layer / "dagtrail").rglob("*.py")) + [
        layer / "pydantic" / "main.py", layer / "pydantic" / "_internal" / "_generate_schema.py",
        layer / "aws_lambda_powertools" / "logging" / "logger.py", layer / "boto3" / "session.py"]
    assert len(sources) > 20
    assert [str(s.relative_to(layer)) for s in sources if not _pyc(s).is_file()] == []
    runtime = python313()
    assert runtime is not None  # sam build needed it
    expected = json.loads(subprocess.run(
        [str(runtime), "-c", "import importlib.util, json, sys\n"
         "print(json.dumps([importlib.util.MAGIC_NUMBER.hex()]"
         " + [importlib.util.source_hash(open(p, 'rb').read()).hex() for p in sys.argv[1:]]))",
         *map(str, sources)], capture_output=True, text=True, check=True).stdout)
    magic, hashes = expected[0], expected[1:]
    for source, source_hash in zip(sources, hashes, strict=True):
        header = _pyc(source).read_bytes()[:16]
        where = source.relative_to(layer)
        assert header[:4].hex() == magic, f"{where}: not python3.13 bytecode"
        assert int.from_bytes(header[4:8], "little") == 0b01, f"{where}: not unchecked-hash"
        assert header[8:].hex() == source_hash, f"{where}: bytecode of another source"
    # The same pins a python3.13 build installed, and the same arm64 wheels.
    pins = [line.split("==") for line in (REPO / "layers/dagtrail/requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    installed = {p.name.lower() for p in layer.glob("*.dist-info")}
    assert [n for n, v in pins if f"{n.lower().replace('-', '_')}-{v}.dist-info" not in installed] == []


def test_transformed_template_iam_is_least_privilege(transformed):
    assert problems(transformed) == []


def test_star_resource_actions_really_lack_resource_level_permissions():
    python = _need(CHECKOV_BIN / "python")
    script = (
        "import json, sys\n"
        "from policy_sentry.querying.actions import get_action_data\n"
        "out = {}\n"
        "for a in json.loads(sys.argv[1]):\n"
        "    svc, name = a.split(':')\n"
        "    rows = (get_action_data(svc, name) or {}).get(svc, [])\n"
        "    out[a] = sorted({r.get('resource_arn_format') for r in rows})\n"
        "print(json.dumps(out))\n"
    )
    done = _run([str(python), "-c", script, json.dumps(sorted(STAR_RESOURCE_ACTIONS))])
    assert done.returncode == 0, done.stderr[-2000:]
    formats = json.loads(done.stdout)
    assert {a: f for a, f in formats.items() if f != ["*"]} == {}


# ── configuration files ──

def test_samconfig_has_dev_and_prod_with_known_parameters():
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    parameters = set(load_template(TEMPLATE)["Parameters"])
    for env, stack in (("dev", "dagtrail-dev"), ("prod", "dagtrail-prod")):
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["stack_name"] == stack
        names = {item.split("=", 1)[0] for item in deploy["parameter_overrides"]}
        assert names <= parameters, names - parameters
        assert f"Environment={env}" in deploy["parameter_overrides"]


def test_layer_requirements_match_pyproject_runtime_pins():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    layer = [line.strip() for line in (REPO / "layers/dagtrail/requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert sorted(layer) == sorted(pyproject["project"]["dependencies"])
    assert all("==" in line for line in layer)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
