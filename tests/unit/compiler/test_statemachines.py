"""statemachines/ holds exactly the compiled examples, up to date; regenerate keeps it so."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagtrail.compiler.regenerate import main, plan, regenerate, repo_root

REPO = Path(__file__).resolve().parents[3]
DIAMOND = REPO / "tests" / "fixtures" / "specs" / "diamond.yaml"


def test_statemachines_are_up_to_date_with_the_examples():
    assert repo_root() == REPO
    result = plan(REPO)
    assert result.expected, "no examples/*/workflow.yaml found"
    assert result.out_of_date() == [], "statemachines/ is stale: run `make statemachines`"


def make_repo(tmp_path: Path) -> Path:
    (tmp_path / "examples" / "diamond").mkdir(parents=True)
    shutil.copy(DIAMOND, tmp_path / "examples" / "diamond" / "workflow.yaml")
    return tmp_path


def test_regenerate_writes_then_is_a_no_op(tmp_path):
    root = make_repo(tmp_path)
    assert main(["--root", str(root), "--check"]) == 1
    assert regenerate(root) == [root / "statemachines" / "diamond.asl.json"]
    assert (root / "statemachines" / "diamond.asl.json").read_text().startswith('{\n  "Comment": "dagtrail workflow diamond')
    assert regenerate(root) == []
    assert main(["--root", str(root), "--check"]) == 0


def test_regenerate_removes_machines_without_an_example_and_fixes_edits(tmp_path):
    root = make_repo(tmp_path)
    regenerate(root)
    orphan = root / "statemachines" / "gone.asl.json"
    orphan.write_text("{}\n")
    compiled = root / "statemachines" / "diamond.asl.json"
    compiled.write_text(compiled.read_text().replace("5400", "5401"))
    assert main(["--root", str(root), "--check"]) == 1
    assert sorted(regenerate(root)) == [compiled, orphan]
    assert not orphan.exists()
    assert main(["--root", str(root), "--check"]) == 0


def test_regenerate_reports_an_invalid_example(tmp_path, capsys):
    root = make_repo(tmp_path)
    bad = root / "examples" / "broken" / "workflow.yaml"
    bad.parent.mkdir()
    bad.write_text("name: broken\ntasks:\n  a: {image: i}\n")
    assert main(["--root", str(root)]) == 2
    assert capsys.readouterr().err == f"error: {bad}:3: task 'a': field 'command': is required\n"
    assert not (root / "statemachines").exists()
