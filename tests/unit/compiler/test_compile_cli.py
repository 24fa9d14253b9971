"""`dagtrail compile SPEC [-o FILE]`."""

from __future__ import annotations

from pathlib import Path

from dagtrail.cli.main import main
from dagtrail.compiler import compile_workflow, to_json
from dagtrail.spec import load_spec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "specs"
DIAMOND = FIXTURES / "diamond.yaml"


def test_compile_to_stdout(capsys):
    assert main(["compile", str(DIAMOND)]) == 0
    out = capsys.readouterr()
    assert out.out == to_json(compile_workflow(load_spec(DIAMOND)))
    assert out.err == ""


def test_compile_to_a_file(tmp_path, capsys):
    target = tmp_path / "diamond.asl.json"
    assert main(["compile", str(DIAMOND), "-o", str(target)]) == 0
    assert target.read_text() == to_json(compile_workflow(load_spec(DIAMOND)))
    assert capsys.readouterr().out == ""
    assert [p.name for p in tmp_path.iterdir()] == ["diamond.asl.json"], "no temp files left behind"


def test_a_bad_spec_leaves_the_old_output_untouched(tmp_path, capsys):
    target = tmp_path / "machine.json"
    target.write_text("previous\n")
    assert main(["compile", str(FIXTURES / "invalid" / "cycle.yaml"), "--output", str(target)]) == 2
    assert target.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["machine.json"]


def test_an_unwritable_output_is_one_line_exit_2(tmp_path, capsys):
    target = tmp_path / "no-such-dir" / "machine.json"
    assert main(["compile", str(DIAMOND), "-o", str(target)]) == 2
    assert capsys.readouterr().err == f"dagtrail: error: cannot write {target}: No such file or directory\n"
