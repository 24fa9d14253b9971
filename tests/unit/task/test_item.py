"""An array child finds its item (offset + array index) in the item files sweeps.store writes,
and renders it exactly as local mode does."""

import json

import pytest

from dagtrail import aws
from dagtrail.sweeps import store
from dagtrail.sweeps.template import ItemError, item_env, render_item
from dagtrail.task import config, item
from dagtrail.task.errors import TaskConfigError
from dagtrail.task.main import Wrapper

BASE = {"DAGTRAIL_OUTPUT_URI": "s3://res/wf/run/t/2/", "DAGTRAIL_TASK": "t", "DAGTRAIL_ATTEMPT": "2"}
ITEMS = "s3://res/wf/run/t/2/_items/"


def test_a_chunk_child_is_item_offset_plus_its_array_index():
    cfg = config.load(BASE | {"AWS_BATCH_JOB_ARRAY_INDEX": "7", "DAGTRAIL_ITEM_OFFSET": "20000",
                              "DAGTRAIL_ITEMS_URI": ITEMS})
    assert (cfg.item_index, cfg.items_uri, cfg.output_uri) == (20007, ITEMS, "s3://res/wf/run/t/2/20007/")
    # an explicit index (inline item, or a one-item array run as a plain job) wins
    assert config.load(BASE | {"DAGTRAIL_ITEM_INDEX": "10000", "DAGTRAIL_ITEM_OFFSET": "10000",
                               "DAGTRAIL_ITEMS_URI": ITEMS[:-1]}).output_uri.endswith("/2/10000/")
    assert config.load(BASE).item_index is None and config.load(BASE).items_uri is None


@pytest.mark.parametrize(("extra", "message"), [
    ({"AWS_BATCH_JOB_ARRAY_INDEX": "x"}, "AWS_BATCH_JOB_ARRAY_INDEX"),
    ({"AWS_BATCH_JOB_ARRAY_INDEX": "1", "DAGTRAIL_ITEM_OFFSET": "-5"}, "DAGTRAIL_ITEM_OFFSET"),
    ({"DAGTRAIL_ITEM_INDEX": "²"}, "DAGTRAIL_ITEM_INDEX"),
    ({"DAGTRAIL_ITEMS_URI": ITEMS}, "which item"),
    ({"DAGTRAIL_ITEMS_URI": "/tmp/items", "DAGTRAIL_ITEM_INDEX": "1"}, "DAGTRAIL_ITEMS_URI"),
])
def test_bad_item_variables_are_config_errors(extra, message):
    with pytest.raises(TaskConfigError, match=message):
        config.load(BASE | extra)


@pytest.fixture
def results(aws_mock, monkeypatch):
    monkeypatch.delenv("DAGTRAIL_RESULTS_DIR", raising=False)
    aws.client("s3").create_bucket(Bucket="res")
    return aws.client("s3")


def test_the_wrapper_reads_the_item_files_store_writes(results):
    items = [{"seed": i, "tag": f"s{i}"} for i in range(2_345)]
    assert store.write_items("s3://res/wf/run/t/2/", items) == 2_345
    for index in (0, 999, 1_000, 2_344):
        assert item.read_item(results, ITEMS, index) == items[index]
    with pytest.raises(item.ItemNotFound, match="no item at position 345"):
        item.read_item(results, ITEMS, 2_345)
    with pytest.raises(item.ItemNotFound, match="_items/3.json"):
        item.read_item(results, ITEMS, 3_000)


# (item, argv, env): every form foreach makes, scalars as the CLI writes them, mappings as JSON
CASES = [
    (5, ["run", "{{ item }}", "--n={{item}}"], {"N": "{{ item }}"}),
    (0.25, ["{{ item }}"], {}),
    (True, ["{{ item }}"], {"FLAG": "{{ item }}"}),
    (None, ["{{ item }}"], {}),
    ("a b ü", ["echo", "{{ item }}"], {"S": "x{{ item }}y"}),
    ({"angle": 5, "mach": 0.3}, ["{{ item.angle }}", "{{ item.mach }}", "{{ item }}"], {"M": "{{ item.mach }}"}),
    ({"cfg": {"b": 1, "a": [1, 2]}, "ok": False}, ["{{ item.cfg }}", "{{ item.ok }}"], {}),
    ([1, "two"], ["{{ item }}"], {}),
    # non-item expressions and text are left alone
    ({"k": 1}, ["{{ params.x }}", "{{ item.k.deeper }}", "{ item }", "{{item.k}}"], {"P": "{{ params.x }}"}),
]


@pytest.mark.parametrize(("value", "argv", "env"), CASES)
def test_the_wrapper_renders_as_local_mode_does(value, argv, env):
    base_env = {"PATH": "/bin", "DAGTRAIL_TASK": "t"} | env
    rendered, changed = item.render(argv, base_env, value, 42)
    # local mode (dagtrail.local.sweep_runner): every argv item and env value, then item_env
    assert rendered == [render_item(a, value) for a in argv]
    assert base_env | changed == {k: render_item(v, value) for k, v in base_env.items()} | item_env(value, 42)
    assert json.loads(changed["DAGTRAIL_ITEM"]) == value and changed["DAGTRAIL_ITEM_INDEX"] == "42"


def test_a_missing_key_fails_the_item_with_exit_2_in_both():
    with pytest.raises(ItemError):
        render_item("{{ item.speed }}", {"angle": 5})
    with pytest.raises(item.ItemRenderError, match="item 3: .*no key 'speed'") as err:
        item.render(["{{ item.speed }}"], {}, {"angle": 5}, 3)
    assert err.value.exit_code == 2


def test_the_wrapper_runs_its_own_item(results, monkeypatch):
    store.write_items("s3://res/wf/run/t/2/", [{"a": i} for i in range(1_500)])
    monkeypatch.setenv("VAL", "v={{ item.a }}")
    env = BASE | {"AWS_BATCH_JOB_ARRAY_INDEX": "2", "DAGTRAIL_ITEM_OFFSET": "1000", "DAGTRAIL_ITEMS_URI": ITEMS}
    argv, extra = Wrapper(config.load(env), ["echo", "{{ item.a }}"])._item_command()
    assert argv == ["echo", "1002"]
    assert extra["VAL"] == "v=1002" and extra["DAGTRAIL_ITEM_INDEX"] == "1002" and extra["DAGTRAIL_ITEM"] == '{"a":1002}'
    # not a sweep child: the command is left as given
    assert Wrapper(config.load(BASE), ["echo", "{{ item }}"])._item_command() == (["echo", "{{ item }}"], {})
