"""The four foreach forms, item templates and the spec checks of sweep tasks."""

from __future__ import annotations

import itertools
import json

import pytest

from dagtrail.errors import SpecError
from dagtrail.spec import load_spec_text
from dagtrail.spec.params import render
from dagtrail.sweeps.foreach import Foreach, RangeSpec
from dagtrail.sweeps.template import ItemError, item_env, render_item


def spec(foreach: str, command: str = '[echo, "{{ item }}"]', extra: str = "") -> str:
    return f"""name: sw
tasks:
  prep:
    image: x
    command: [echo]
  run:
    image: x
    depends_on: [prep]
    command: {command}
    foreach: {foreach}
{extra}"""


def test_values():
    f = load_spec_text(spec("{values: [0, 5, 10]}")).tasks["run"].foreach
    assert f.kind == "values" and f.count() == 3 and list(f.items()) == [0, 5, 10]


@pytest.mark.parametrize("start,stop,step", [(0, 10, 1), (0, 10, 3), (10, 0, -3), (5, 5, 1), (0, 10**6, 7)])
def test_range_counts_like_python(start, stop, step):
    r = RangeSpec(start=start, stop=stop, step=step)
    assert r.count() == len(range(start, stop, step))


def test_range_items_and_huge_ranges_are_not_materialised():
    f = Foreach.model_validate({"range": {"start": 3, "stop": 2_000_003, "step": 2}})
    assert f.count() == 1_000_000 and f.item_at(0) == 3 and f.item_at(999_999) == 2_000_001


def test_product_order_last_key_fastest():
    f = Foreach.model_validate({"product": {"angle": [0, 5], "mach": [0.3, 0.5, 0.7]}})
    expected = [{"angle": a, "mach": m} for a, m in itertools.product([0, 5], [0.3, 0.5, 0.7])]
    assert f.count() == 6 and list(f.items()) == expected
    with pytest.raises(IndexError):
        f.item_at(6)


def test_product_order_is_by_key_name_whatever_order_the_keys_were_written_in():
    import json

    written = Foreach.model_validate({"product": {"reynolds": [100, 400], "n": [24, 48, 96]}})
    # What submit_task sees: the task definition is sorted JSON.
    submitted = Foreach.model_validate(json.loads(json.dumps(written.model_dump(mode="json"), sort_keys=True)))
    expected = [{"n": n, "reynolds": r} for n, r in itertools.product([24, 48, 96], [100, 400])]
    assert list(written.items()) == list(submitted.items()) == expected


def test_from_names_an_upstream_file_and_has_no_static_size():
    f = load_spec_text(spec("{from: prep/out/items.json}")).tasks["run"].foreach
    assert (f.kind, f.source_task, f.source_path, f.count(), f.keys()) == ("from", "prep", "out/items.json", None, None)
    assert f.model_dump(mode="json", exclude_none=True) == {"from": "prep/out/items.json"}


def test_definition_round_trips_and_plain_tasks_are_unchanged():
    s = load_spec_text(spec("{from: prep/items.json}", extra="    max_parallel: 7\n"))
    definition = s.tasks["run"].definition()
    assert definition["foreach"] == {"from": "prep/items.json"} and definition["max_parallel"] == 7
    assert "foreach" not in s.tasks["prep"].definition() and "max_parallel" not in s.tasks["prep"].definition()
    again = type(s.tasks["run"]).model_validate_json(json.dumps(definition))
    assert again == s.tasks["run"]


@pytest.mark.parametrize("foreach,extra,message", [
    ("{values: []}", "", "w.yaml:10: task 'run': field 'foreach.values': must not be empty"),
    ("{range: {stop: 0}}", "", "task 'run': field 'foreach': the sweep has no items"),
    ("{range: {stop: 5, step: 0}}", "", "field 'foreach.range.step': must not be 0"),
    ("{values: [1], range: {stop: 3}}", "", "give exactly one of values, range, product, from (got values, range)"),
    ("{from: other/x.json}", "", "field 'foreach.from': foreach reads 'other/x.json', but 'other' is not in depends_on"),
    ("{from: prep}", "", "is not <upstream task>/<path of a JSON list in its outputs>"),
    ("{from: prep/../x}", "", "is not <upstream task>/<path"),
    ("{valus: [1]}", "", "unknown key 'valus' (did you mean 'values'?); allowed: from, product, range, values"),
    ("{product: {a: []}}", "", "'a' has no values"),
    ("{range: {stop: 100000000}}", "", "at most 10000000 are allowed"),
    ("{values: [1]}", "    max_parallel: 0\n", "field 'max_parallel': must be greater than or equal to 1"),
])
def test_bad_foreach_is_located(foreach, extra, message):
    with pytest.raises(SpecError) as err:
        load_spec_text(spec(foreach, extra=extra), file="w.yaml")
    assert message in str(err.value)
    assert err.value.line is not None


def test_item_outside_a_sweep_is_an_error():
    text = 'name: sw\ntasks:\n  a:\n    image: x\n    command: [echo, "{{ item }}"]\n'
    with pytest.raises(SpecError, match=r"5: task 'a': field 'command\[1\]': '\{\{ item \}\}' is only defined"):
        load_spec_text(text, file="w.yaml")


def test_max_parallel_needs_foreach():
    text = "name: sw\ntasks:\n  a:\n    image: x\n    command: [echo]\n    max_parallel: 3\n"
    with pytest.raises(SpecError, match="max_parallel needs foreach"):
        load_spec_text(text)


@pytest.mark.parametrize("foreach,ok", [
    ("{product: {angle: [1], mach: [2]}}", True),
    ("{product: {mach: [2]}}", False),
    ("{values: [{angle: 1}, {angle: 2, x: 3}]}", True),
    ("{values: [{angle: 1}, {x: 3}]}", False),
    ("{values: [1, 2]}", False),
    ("{range: {stop: 3}}", False),
    ("{from: prep/items.json}", True),  # only the run knows its items' keys
])
def test_item_keys_are_checked_where_known(foreach, ok):
    text = spec(foreach, command='[echo, "{{ item.angle }}"]')
    if ok:
        load_spec_text(text)
    else:
        with pytest.raises(SpecError, match="not every item has key 'angle'"):
            load_spec_text(text)


def test_ecs_sweeps_are_bounded():
    text = spec("{range: {stop: 1001}}", extra="    compute: ecs\n")
    with pytest.raises(SpecError, match="limited to 1000 items"):
        load_spec_text(text)
    load_spec_text(spec("{range: {stop: 1000}}", extra="    compute: ecs\n"))


def test_params_render_leaves_item_expressions_for_the_item():
    text = render("{{ params.n }} {{ item }} {{ item.angle }} {{.Id}}", {"n": 3})
    assert text == "3 {{ item }} {{ item.angle }} {{.Id}}"
    with pytest.raises(SpecError, match="not a parameter reference"):
        render("{{ item.a.b }}", {})


def test_render_item():
    assert render_item("a={{ item.angle }} m={{item.mach}} {{ params.x }}", {"angle": 5, "mach": 0.3}) == \
        "a=5 m=0.3 {{ params.x }}"
    assert render_item("{{ item }}", True) == "true"
    assert render_item("{{ item }}", {"b": 1, "a": "x"}) == '{"a":"x","b":1}'
    with pytest.raises(ItemError, match="has no key 'mach'"):
        render_item("{{ item.mach }}", {"angle": 5})
    assert item_env({"a": 1}, 7) == {"DAGTRAIL_ITEM": '{"a":1}', "DAGTRAIL_ITEM_INDEX": "7"}
