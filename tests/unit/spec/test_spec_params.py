"""`{{ params.x }}` rendering and `--param` overrides."""

from __future__ import annotations

import pytest

from dagtrail.errors import SpecError, UsageError
from dagtrail.spec import load_spec_text, parse_param_args, render, resolve_params

SPEC = load_spec_text(
    "name: p\nparameters: {nx: 64, dt: 0.5, fast: false, label: base}\n"
    "tasks:\n  a: {image: i, command: ['run', '{{ params.nx }}']}\n"
)


@pytest.mark.parametrize(
    "template", ["n={{ params.nx }}", "n={{params.nx}}", "n={{   params.nx\t}}", "n={{ params.nx }}"]
)
def test_render_tolerates_whitespace(template):
    assert render(template, {"nx": 64}) == "n=64"


def test_render_formats_values_like_the_cli_takes_them():
    assert render("{{ params.a }} {{ params.b }} {{ params.c }} {{ params.d }}", {"a": True, "b": 0.25, "c": 3, "d": "x y"}) == (
        "true 0.25 3 x y"
    )


def test_render_leaves_other_braces_alone():
    assert render("docker inspect --format '{{.Id}}' {{ params.nx }}", {"nx": 1}) == "docker inspect --format '{{.Id}}' 1"


def test_render_unknown_parameter_is_an_error():
    with pytest.raises(SpecError, match="undefined parameter 'ny'"):
        render("{{ params.ny }}", {"nx": 1})


@pytest.mark.parametrize("template", ["{{ nx }}", "{{ param.nx }}", "{{ params.nx.y }}"])
def test_render_malformed_reference_is_an_error(template):
    with pytest.raises(SpecError, match="not a parameter reference"):
        render(template, {"nx": 1})


def test_resolve_params_coerces_to_the_defaults_type():
    resolved = resolve_params(SPEC, {"nx": "128", "dt": "1e-3", "fast": "TRUE", "label": "42"})
    assert resolved == {"nx": 128, "dt": 0.001, "fast": True, "label": "42"}
    assert type(resolved["label"]) is str


def test_resolve_params_without_overrides_is_the_defaults():
    assert resolve_params(SPEC, {}) == {"nx": 64, "dt": 0.5, "fast": False, "label": "base"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ny": "1"}, "--param ny: unknown parameter (parameters of p: dt, fast, label, nx)"),
        ({"nx": "1.5"}, "--param nx=1.5: must be an integer like its default 64"),
        ({"dt": "fast"}, "--param dt=fast: must be a number like its default 0.5"),
        ({"dt": "nan"}, "--param dt=nan: must be a number like its default 0.5"),
        ({"fast": "maybe"}, "--param fast=maybe: must be a boolean (true/false) like its default false"),
    ],
)
def test_resolve_params_rejects(overrides, message):
    with pytest.raises(UsageError) as err:
        resolve_params(SPEC, overrides)
    assert str(err.value) == message


def test_parse_param_args():
    assert parse_param_args(["nx=64", "label=a=b", "empty="]) == {"nx": "64", "label": "a=b", "empty": ""}
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_param_args(["nx"])
    with pytest.raises(UsageError, match="given twice"):
        parse_param_args(["nx=1", "nx=2"])


def test_render_stays_the_function_after_the_render_module_is_imported():
    """dagtrail.spec.render is also a submodule; importing it must not shadow the function."""
    import subprocess
    import sys

    code = (
        "import types\n"
        "from dagtrail.spec.render import render_task\n"
        "import dagtrail.spec\n"
        "from dagtrail.spec import render\n"
        "assert not isinstance(render, types.ModuleType) and dagtrail.spec.render is render\n"
        "print(render('{{ params.a }}', {'a': 1}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n"
