"""Inputs come from the dependency's manifest, verified by sha256, nothing else."""

import hashlib
import os

import pytest

from dagtrail import aws
from dagtrail.results.manifest import Manifest, ManifestEntry
from dagtrail.task.errors import StagingError
from dagtrail.task.staging import stage_inputs

BUCKET = "results"
PREFIX = f"s3://{BUCKET}/wf/run/prep/1/"


@pytest.fixture
def s3(aws_mock):
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def publish(s3, files, *, lie_about=None):
    entries = []
    for name, data in files.items():
        s3.put_object(Bucket=BUCKET, Key=f"wf/run/prep/1/{name}", Body=data)
        digest = hashlib.sha256(b"tampered" if name == lie_about else data).hexdigest()
        entries.append(ManifestEntry(name=name, size=len(data), sha256=digest))
    manifest = Manifest(task="prep", attempt=1, prefix=PREFIX, artifacts=entries)
    s3.put_object(Bucket=BUCKET, Key="wf/run/prep/1/manifest.json", Body=manifest.model_dump_json())


def test_listed_artifacts_are_staged_under_the_dependency(s3, tmp_path):
    big = os.urandom(3 << 20)
    publish(s3, {"a.txt": b"alpha", "deep/b.bin": big})
    s3.put_object(Bucket=BUCKET, Key="wf/run/prep/1/aborted-leftover.bin", Body=b"not listed")
    assert stage_inputs(s3, {"prep": PREFIX}, str(tmp_path)) == 2
    assert (tmp_path / "prep" / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "prep" / "deep" / "b.bin").read_bytes() == big
    assert not (tmp_path / "prep" / "aborted-leftover.bin").exists()


def test_a_checksum_mismatch_fails_and_leaves_no_file(s3, tmp_path):
    publish(s3, {"a.txt": b"alpha"}, lie_about="a.txt")
    with pytest.raises(StagingError, match="input 'prep': a.txt does not match its manifest"):
        stage_inputs(s3, {"prep": PREFIX}, str(tmp_path))
    assert os.listdir(tmp_path / "prep") == []


def test_a_dependency_without_a_manifest_fails(s3, tmp_path):
    with pytest.raises(StagingError, match="no manifest.json at"):
        stage_inputs(s3, {"prep": PREFIX}, str(tmp_path))


def test_names_that_leave_the_directory_are_refused(s3, tmp_path):
    publish(s3, {"../escape.txt": b"x"})
    with pytest.raises(StagingError, match="would leave its directory"):
        stage_inputs(s3, {"prep": PREFIX}, str(tmp_path))
    assert not (tmp_path / "escape.txt").exists()


def test_a_dependency_with_no_outputs_gets_an_empty_directory(s3, tmp_path):
    publish(s3, {})
    assert stage_inputs(s3, {"prep": PREFIX}, str(tmp_path)) == 0
    assert (tmp_path / "prep").is_dir()
