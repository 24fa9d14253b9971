"""The wrapper's environment contract."""

import pytest

from dagtrail.results import layout
from dagtrail.task import config
from dagtrail.task.errors import TaskConfigError

BASE = {"DAGTRAIL_OUTPUT_URI": "s3://res/wf/run/t/2/", "DAGTRAIL_TASK": "t", "DAGTRAIL_ATTEMPT": "2"}


def test_defaults_and_identity():
    cfg = config.load(BASE)
    assert (cfg.task, cfg.attempt, cfg.bucket, cfg.key("a/b.txt")) == ("t", 2, "res", "wf/run/t/2/a/b.txt")
    assert cfg.inputs == {} and cfg.output_dir is None
    assert (cfg.part_size, cfg.concurrency) == (8 << 20, 10)


def test_input_uris_in_submit_tasks_encoding_and_as_json():
    submitted = "a=s3://res/wf/run/a/1/,b=s3://res/wf/run/b/3"
    as_json = '{"a": "s3://res/wf/run/a/1/", "b": "s3://res/wf/run/b/3"}'
    expected = {"a": "s3://res/wf/run/a/1/", "b": "s3://res/wf/run/b/3/"}
    assert config.parse_inputs(submitted) == expected
    assert config.parse_inputs(as_json) == expected


def test_array_child_writes_under_its_index():
    assert config.load(BASE | {"AWS_BATCH_JOB_ARRAY_INDEX": "7"}).output_uri == "s3://res/wf/run/t/2/7/"
    assert config.load(BASE | {"DAGTRAIL_ITEM_INDEX": "0"}).output_uri == "s3://res/wf/run/t/2/0/"


@pytest.mark.parametrize("env, message", [
    ({"DAGTRAIL_TASK": ""}, "DAGTRAIL_TASK is not set"),
    ({"DAGTRAIL_ATTEMPT": "two"}, "DAGTRAIL_ATTEMPT: expected an integer"),
    ({"DAGTRAIL_OUTPUT_URI": "/tmp/out"}, "DAGTRAIL_OUTPUT_URI: expected an s3:// URI"),
    ({"DAGTRAIL_PART_SIZE_MIB": "1"}, "DAGTRAIL_PART_SIZE_MIB: 1 is outside"),
    ({"DAGTRAIL_INPUT_URIS": "a=s3://x/y,oops"}, "expected dep=s3://"),
    ({"DAGTRAIL_INPUT_URIS": "../x=s3://x/y"}, "is not a dependency name"),
    ({"DAGTRAIL_INPUT_URIS": "{bad"}, "invalid JSON"),
])
def test_bad_variables_are_one_line_errors(env, message):
    with pytest.raises(TaskConfigError, match=message.replace("(", r"\(")) as info:
        config.load(BASE | env)
    assert "\n" not in str(info.value) and info.value.exit_code == 2


def test_layout_constants_match_the_results_package():
    # dagtrail.task keeps its own copy so it never imports pydantic; they must not drift.
    assert config.MANIFEST == layout.MANIFEST
    for uri in ("s3://b/k/x/", "s3://bucket/a"):
        assert config.split_uri(uri) == layout.split_uri(uri)
